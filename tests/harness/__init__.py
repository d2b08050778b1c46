"""The test-harness library: what every end-to-end, reliability, hostile,
package and interop test, the demo and bench/attack share.

Meson puts tests/ on PYTHONPATH for every test(); a script run by hand does
the same with `PYTHONPATH=tests`. The modules, from the bottom up:

- results:  one line per case for make test's summary (tests/summary)
- runner:   Runner (TAP-style case lines), check/eq/verify/expect, Skip,
            and the exit-77 skip preamble
- net:      free loopback ports, throwaway certificates, TLS client context,
            staging of what the servers load
- templates: server configurations under templates/, filled with @name@
- ctl:      clientidctl run against a scratch configuration
- imap:     a raw IMAP line client and imaplib with CLIENTID
- smtp:     SMTP client steps: SASL exchanges, a message, QUIT
- dovecot:  one scratch Dovecot (imap-login with the plugin)
- dovecot_suite: what the two Dovecot suites' entry scripts share (options,
            skip preamble, server start, token-in-log and valgrind checks)
- policy_service: a scratch Dovecot wired to the clientid policy service
- exim:     one scratch patched Exim (the CLIENTID command)
- exim_policy: a scratch patched Exim with clientid.so and a policy
- stack:    Dovecot with the policy service and Exim with clientid.so on one
            clientid.conf, secret and store (demo, reliability, Thunderbird,
            bench/attack)
"""
