"""Group down: the service or its store fails. A service that dies on a bad
configuration (auth_policy_reject_on_fail yes and no), is fixed or killed
and comes back without a Dovecot restart; a store that cannot be opened
([store] on_error tempfail and allow)."""

import os
import re
import signal
import time

from harness.imap import TEMPFAIL_REPLY
from harness.policy_service import last_decision, login_ok, login_refused, new_token, pw, \
    raw_login, wait_log
from harness.runner import check, eq


def case_store_error(ps):
    """The store cannot be opened: [store] on_error decides, and each
    refusal is logged with the reason."""
    tok = new_token()
    if ps.on_error == "tempfail":
        reply, _ = raw_login(ps, "dan", pw("dan"), tok)
        eq(reply, TEMPFAIL_REPLY, "dan with %s: the temporary failure" % tok)
    else:
        login_ok(ps, "dan", tok)
    ln = last_decision(ps, "dan", "store_error")
    check(("answer=-1" if ps.on_error == "tempfail" else "answer=0") in ln, ln)
    wait_log(ps, "policy store failed", "no store failure logged")


def wait_gone(ps, timeout=15):
    """Failure unless every service process is gone within timeout: the one
    that logged its fatal error may take a moment to exit on a loaded
    machine; it must not stay (or come back) running."""
    deadline = time.time() + timeout
    while ps.service_pids() and time.time() < deadline:
        time.sleep(0.2)
    check(not ps.service_pids(), "a service with a bad configuration is running")


def case_service_down(ps, reject_on_fail):
    """The service is down (it dies at start on a bad configuration): logins
    follow auth_policy_reject_on_fail, and the error names the file, line
    and key. Fixed, the master starts it again and logins recover without a
    Dovecot restart; killed with -9, likewise."""
    tok = new_token()
    login_ok(ps, "eve", tok)
    master = ps.dc.proc.pid
    ps.write_conf(broken=True)
    for p in ps.service_pids():
        os.kill(p, signal.SIGKILL)
    # the next login makes the master start it; it dies on the bad file
    if reject_on_fail == "yes":
        login_refused(ps, "eve", tok)
    else:
        login_ok(ps, "eve", tok)
    wait_log(ps, "no_such_key", "no fatal error for the bad configuration")
    ln = [x for x in ps.log().splitlines() if "no_such_key" in x][-1]
    check("Fatal:" in ln and ps.conf in ln and re.search(r":\d+: \[limits\] no_such_key", ln),
          ln)
    wait_log(ps, "Policy server", "Dovecot did not log the unreachable policy server")
    wait_gone(ps)
    # fixed: the master starts it again (after its throttling) on demand
    ps.write_conf()
    ps.wait_service(timeout=90)
    login_ok(ps, "eve", tok)
    last_decision(ps, "eve", "trusted_device")
    # and a plain kill -9 of a healthy service
    old = ps.service_pids()
    ps.restart_service(signal.SIGKILL)
    check(ps.dc.proc.pid == master and ps.dc.alive(), "dovecot was restarted")
    check(set(ps.service_pids()).isdisjoint(old), "same service process")
    login_ok(ps, "eve", tok)
    last_decision(ps, "eve", "trusted_device")


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
    (dict(mode="learn", reject_on_fail="yes"), [
        ("service down, auth_policy_reject_on_fail = yes; master restarts it",
         case_service_down, ("yes",)),
    ]),
    (dict(mode="learn", reject_on_fail="no"), [
        ("service down, auth_policy_reject_on_fail = no; master restarts it",
         case_service_down, ("no",)),
    ]),
    (dict(mode="learn", on_error="tempfail", store_path="/dev/null/store"), [
        ("store error with on_error = tempfail: NO [UNAVAILABLE], never the "
         "wrong-password reply", case_store_error, ()),
    ]),
    (dict(mode="learn", on_error="allow", store_path="/dev/null/store"), [
        ("store error with on_error = allow lets in", case_store_error, ()),
    ]),
]
