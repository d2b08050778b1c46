"""A refusal by policy must not be an oracle: the same bytes, dialogue and
delay as a wrong password; and the per-device lock-out behind it."""

import re
import statistics

from harness.exim_policy import USERS, WRONG_535, PolicyExim, login_ok, login_refused, \
    new_token, quit_quietly, run_group
from harness.runner import verify
from harness.smtp import SASL_WAYS, sasl


def group_oracle(opts):
    """No oracle: a wrong password and a refusal by policy give the same bytes
    and the same delay (medians within 10 % over 20 tries each)."""
    tries = 20

    def body(ex):
        known = new_token()
        ex.register("alice", known)
        wrong, policy = [], []
        replies = set()
        for i in range(tries):
            for kind in ("wrong", "policy"):
                if kind == "wrong":
                    s, r, dt = ex.login("alice", "bad-%d" % i, known)
                    wrong.append(dt)
                else:
                    tok = new_token()
                    ex.tokens.add(("UUID", tok))
                    s, r, dt = ex.login("alice", USERS["alice"], tok)
                    policy.append(dt)
                replies.add(r)
                quit_quietly(s)
        verify(replies == {WRONG_535}, f"one reply for all {2 * tries} refusals: {replies}")
        mw, mp = statistics.median(wrong), statistics.median(policy)
        print(f"  median AUTH time: wrong password {mw * 1000:.1f} ms, "
              f"policy {mp * 1000:.1f} ms")
        verify(abs(mw - mp) <= 0.10 * min(mw, mp), "medians within 10 %")
    run_group(PolicyExim(opts, fail_delay="200ms"), body)


def group_lockout(opts):
    """The per-device failure limit locks one device out; another device
    behind the same address still logs in and sends."""
    def body(ex):
        a, b = new_token(), new_token()
        ex.register("alice", a)
        ex.register("bob", b)
        for i in range(3):
            login_refused(ex, "alice", "guess-%d" % i, a, f"device A, wrong password {i + 1}")
        login_refused(ex, "alice", USERS["alice"], a, "device A locked out, right password")
        # The precheck has no account, so it cannot tell a trusted pair's
        # window from the device's elsewhere: the decision refuses (issue 13
        # item 5; this asserted a precheck refusal before).
        lines = [ln for ln in ex.mainlog().splitlines()
                 if "clientid: " in ln and "reason=device_fail_limit" in ln]
        verify(lines, "device A refused (device_fail_limit)")
        verify(f"device={ex.short(a)}" in lines[-1], "for device A's fingerprint")
        login_ok(ex, "bob", b, "device B from the same address")
        s, r, _ = ex.login("bob", USERS["bob"], a)
        verify(r == WRONG_535, "device A is refused on an account that does not trust it")
        quit_quietly(s)
    run_group(PolicyExim(opts, device_fail_limit=3), body)


def sasl_dialogue(ex, token, user, password, how):
    """One AUTH over TLS after CLIENTID token: the list of replies (code,
    text) of the SASL exchange, and the seconds its last reply took."""
    s = ex.session(token)
    try:
        replies = sasl(s, user, password, how)
    finally:
        quit_quietly(s)
    return [(code, text) for code, text, _ in replies], replies[-1][2]


def group_oracle_dialogue(opts):
    """Issue 13 item 7, the SMTP precheck is an oracle: a locked-out device
    with the right password gets the very dialogue of a wrong password (the
    same 334 prompts, then 535 after the fail delay), for PLAIN with and
    without an initial response and for LOGIN with and without one."""
    def body(ex):
        locked = new_token()
        ex.register("alice", locked)
        for i in range(3):
            login_refused(ex, "alice", "guess-%d" % i, locked, f"wrong password {i + 1}")
        for how in SASL_WAYS:
            other = new_token()
            ex.register("alice", other)
            wrong, dt_wrong = sasl_dialogue(ex, other, "alice", "not-the-password", how)
            policy, dt_policy = sasl_dialogue(ex, locked, "alice", USERS["alice"], how)
            print(f"  {how}: wrong password {[c for c, _ in wrong]} {dt_wrong:.3f} s, "
                  f"locked out {[c for c, _ in policy]} {dt_policy:.3f} s")
            verify(wrong[-1] == WRONG_535, f"{how}: a wrong password ends in 535")
            verify(policy == wrong, f"{how}: the locked-out device gets the wrong-password "
                   f"dialogue: {policy} vs {wrong}")
            verify(dt_wrong >= 0.29 and dt_policy >= 0.29,
                   f"{how}: both final replies wait for the fail delay (300 ms)")
        # The precheck has no account, so it leaves a lock-out to the
        # decision after the password (issue 13 item 5): that refusal is
        # recorded like any login whose password was right.
        after = [ln for ln in ex.decisions("alice")
                 if "clientid: decide" in ln and f"device={ex.short(locked)}" in ln and
                 "verdict=deny" in ln and "reason=device_fail_limit" in ln]
        verify(len(after) == 4, "each locked-out login: refused after the password "
               f"(device_fail_limit), {len(after)} of 4")
        shown = ex.ctl("show", "alice", ex.short(locked))
        verify(re.search(r"^password ok:\s+4$", shown, re.M) is not None and
               re.search(r"^password bad:\s+3$", shown, re.M) is not None,
               "the store counts the 4 right passwords the policy refused and the 3 wrong ones")
    run_group(PolicyExim(opts, device_fail_limit=3), body)
