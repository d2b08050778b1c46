"""What the policy's modes do to an SMTP login: a known device (enforce),
an unknown one (enforce), learn, record only (clientid_record), and a store
that cannot be used (on_error)."""

import os
import subprocess

from harness.exim_policy import AUTH_RECORD, USERS, PolicyExim, login_ok, login_refused, \
    new_token, quit_quietly, run_group
from harness.runner import expect, verify


def group_known(opts):
    """A known device authenticates (PLAIN, LOGIN); its message is queued."""
    def body(ex):
        tok = new_token()
        ex.register("alice", tok)
        short = ex.short(tok)
        login_ok(ex, "alice", tok, "known device, PLAIN")
        ln = ex.last_decision("alice", "trusted_device")
        verify(f"device={short}" in ln and "verdict=allow" in ln and "mode=enforce" in ln,
               "the decision line names the short fingerprint, verdict and mode")
        login_ok(ex, "alice", tok, "known device, LOGIN", mech="LOGIN")
        r = subprocess.run([ex.binary, "-C", ex.conf, "-bpc"], capture_output=True, text=True)
        verify(r.stdout.strip() == "2", f"two messages in the queue (exim -bpc: {r.stdout.strip()})")
    run_group(PolicyExim(opts), body)


def group_enforce(opts):
    """Enforce: an unknown device with the right password gets the wrong-password
    535 after the same delay, is recorded pending, and once approved gets in."""
    def body(ex):
        known, unknown = new_token(), new_token()
        ex.register("alice", known)
        ex.tokens.add(("UUID", unknown))
        d_wrong = login_refused(ex, "alice", "not-the-password", known,
                                "known device, wrong password")
        d_policy = login_refused(ex, "alice", USERS["alice"], unknown,
                                 "unknown device, right password")
        verify(0.29 <= d_wrong < 1.0 and 0.29 <= d_policy < 1.0,
               f"both refusals take the fail delay (300 ms): {d_wrong:.3f} s, {d_policy:.3f} s")
        ln = ex.last_decision("alice", "device_unknown")
        verify("verdict=deny" in ln and "new_device" in ln, "denied as an unknown, new device")
        ex.last_decision("alice", "auth_failed")
        verify(ex.listed("alice", unknown, "pending"), "clientidctl list shows the device pending")
        # Without a client id at all: enforce governs devices only, and with
        # require_clientid = no (the default) the login is let in by the
        # address limits alone (clientid.conf(5), reason no_clientid).
        s, r, _ = ex.login("alice", USERS["alice"], None)
        expect(r, 235, "no CLIENTID in enforce mode, require_clientid = no")
        quit_quietly(s)
        ln = ex.last_decision("alice", "no_clientid")
        verify("verdict=allow" in ln, "allowed without a client id, reason no_clientid")
        ex.ctl("approve", "alice", ex.short(unknown))
        login_ok(ex, "alice", unknown, "approved device")
        ex.last_decision("alice", "trusted_device")
    run_group(PolicyExim(opts), body)


def group_learn(opts):
    """Learn mode: the first device is trusted on first use; past the limit a
    new device is refused and pending; clientidctl approve lets it in."""
    def body(ex):
        a, b = new_token(), new_token()
        ex.tokens.update({("UUID", a), ("UUID", b)})
        login_ok(ex, "carol", a, "first device in learn mode")
        ex.last_decision("carol", "device_learned")
        login_refused(ex, "carol", USERS["carol"], b, "second device past learn_max_devices")
        ex.last_decision("carol", "learn_limit")
        verify(ex.listed("carol", b, "pending"), "the second device is pending")
        ex.ctl("approve", "carol", ex.short(b))
        login_ok(ex, "carol", b, "approved second device")
        ex.last_decision("carol", "trusted_device")
    run_group(PolicyExim(opts, mode="learn", learn_max=1), body)


def group_record(opts):
    """clientid_record (Dovecot/Cyrus setups) records and never refuses."""
    def body(ex):
        tok = new_token()
        ex.tokens.add(("UUID", tok))
        login_ok(ex, "alice", tok, "record-only login of an unknown device")
        ln = ex.last_decision("alice", "device_unknown")
        verify("clientid: record" in ln and "verdict=allow" in ln and "observed" in ln,
               "recorded; the refusal it would have been is logged as observed")
        verify(ex.listed("alice", tok), "the device is in the store")
    run_group(PolicyExim(opts, authenticators=AUTH_RECORD), body)


def group_store_error(opts):
    """A store that cannot be used: tempfail, or fail open, as on_error says."""
    def tempfail(ex):
        tok = new_token()
        s, r, _ = ex.login("alice", USERS["alice"], tok)
        verify(r[0] == 454, f"on_error = tempfail: AUTH gets {r[0]} {r[1].decode()}")
        quit_quietly(s)
        verify(any("reason=store_error" in ln and "error=" in ln
                   for ln in ex.mainlog().splitlines()), "the store error is logged with a reason")
    run_group(PolicyExim(opts, secret=False), tempfail)

    def tempfail_decide(ex):
        # No acl_smtp_auth (a site's own, without the precheck): the store
        # fails in clientid_decide, whose DEFER the patched Exim answers
        # with RFC 4954's 454, as the precheck's ACL does (issue 19).
        tok = new_token()
        s, r, _ = ex.login("alice", USERS["alice"], tok)
        verify(r[0] == 454 and r[1].startswith(b"4.7.0 Temporary authentication failure"),
               f"on_error = tempfail in clientid_decide: AUTH gets {r[0]} {r[1].decode()}")
        quit_quietly(s)
        # Exim writes a server_condition's DEFER to its paniclog too
        # (exim.md); that line is expected here, and only that one.
        panic = os.path.join(ex.dir, "log", "paniclog")
        lines = open(panic).read().splitlines() if os.path.exists(panic) else []
        verify(lines and all("clientid_decide" in ln and "policy store unavailable" in ln
                             for ln in lines), "the paniclog has the DEFER, and only it")
        open(panic, "w").close()
    run_group(PolicyExim(opts, secret=False, macros="CLIENTID_OWN_ACL_SMTP_AUTH = yes"),
              tempfail_decide)

    def allow(ex):
        tok = new_token()
        login_ok(ex, "alice", tok, "on_error = allow: the right password gets in")
        ln = ex.last_decision("alice", "store_error")
        verify("fail_open" in ln, "logged as fail_open")
        login_refused(ex, "alice", "wrong", tok, "on_error = allow: a wrong password is still refused")
    run_group(PolicyExim(opts, secret=False, on_error="allow"), allow)
