"""Group issue13: the policy bypasses of issue 13, over IMAP (the SMTP side
is in tests/e2e/exim-policy/exim_policy_e2e.py)."""

import os
import signal

from harness.policy_service import last_decision, login_ok, login_refused, new_token, wait_log
from harness.runner import check


def case_issue13_learn_limit_retry(ps):
    """Item 1: at learn_max_devices, a new device with the right password is
    refused, and stays refused when the login is retried."""
    ps.ctl("policy", "cat", "learn_max_devices=1")
    login_ok(ps, "cat", new_token())
    t = new_token()
    for _ in range(3):
        login_refused(ps, "cat", t)
        last_decision(ps, "cat", "learn_limit")


def case_issue13_observe_pending(ps):
    """Item 3: observe lets a new device in but records it pending, logged as
    what enforce would refuse; after the switch to enforce it is refused."""
    t = new_token()
    login_ok(ps, "joe", t)
    ln = last_decision(ps, "joe", "device_unknown")
    check("verdict=allow" in ln and "observed would=deny reason=device_unknown" in ln, ln)
    check("pending" in ps.ctl("list", "joe"), "not pending")
    ps.set_mode("enforce")
    login_refused(ps, "joe", t)


def case_issue13_stolen_token(ps):
    """Item 5: twelve wrong passwords with the owner's token on other
    accounts leave the owner's trusted pair working, and ban nothing."""
    t = new_token()
    login_ok(ps, "eve", t)
    last_decision(ps, "eve", "device_learned")
    for acc in ("acc1", "acc2", "acc3", "acc4", "acc5", "fay") * 2:
        login_refused(ps, acc, t, password="wrong")
    login_ok(ps, "eve", t)
    last_decision(ps, "eve", "trusted_device")
    check("blocked" not in ps.ctl("bans"), "a site-wide ban was written")


def case_issue13_after_auth_misused(ps):
    """Lower item: -a while Dovecot also checks before auth. A failed
    login's report after an allow taken as verified shows it; the service
    learns no device from then on, and says so."""
    path = ps.dc.path("dovecot.conf")
    with open(path) as f:
        text = f.read()
    check("auth_policy_check_before_auth = no" in text, "not an -a setup")
    with open(path, "w") as f:
        f.write(text.replace("auth_policy_check_before_auth = no",
                             "auth_policy_check_before_auth = yes"))
    old = ps.service_pids()
    os.kill(ps.dc.proc.pid, signal.SIGHUP)
    ps.wait_service(exclude=old)
    login_refused(ps, "eve", new_token(), password="wrong")
    wait_log(ps, "-a misused", "no error about the -a misuse")
    login_refused(ps, "fay", new_token())
    last_decision(ps, "fay", "device_unknown")
    wait_log(ps, "account=fay: device not learned", "no error about the device not learned")


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
    (dict(mode="learn"), [
        ("learn limit bypassed by retrying (issue 13 item 1)",
         case_issue13_learn_limit_retry, ()),
        ("a stolen token locks out its owner (issue 13 item 5)",
         case_issue13_stolen_token, ()),
    ]),
    (dict(mode="observe"), [
        ("observe trusts new devices (issue 13 item 3)", case_issue13_observe_pending, ()),
    ]),
    (dict(mode="learn", before_auth=False), [
        ("service -a misuse refuses to learn (issue 13, lower)",
         case_issue13_after_auth_misused, ()),
    ]),
]
