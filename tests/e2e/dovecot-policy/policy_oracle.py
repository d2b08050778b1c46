"""Group oracle: a policy refusal cannot be told from a wrong password, by
the reply or by its delay."""

import concurrent.futures
import statistics

from harness.imap import FAIL_REPLY
from harness.policy_service import login_ok, new_token, pw, raw_login
from harness.runner import check, eq


def case_no_oracle(ps):
    """Policy refusal and wrong password: same reply, median delays within
    10% over 20 tries each. The tries run interleaved, 8 at a time."""
    trusted, unknown = new_token(), new_token()
    ps.set_mode("learn")
    login_ok(ps, "cat", trusted)
    ps.set_mode("enforce")
    jobs = [("refusal", pw("cat"), unknown), ("wrong", "wrong-pw", trusted)] * 20
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        res = list(ex.map(lambda j: (j[0],) + raw_login(ps, "cat", j[1], j[2]), jobs))
    replies = {r for _, r, _ in res}
    eq(replies, {FAIL_REPLY}, "replies")
    med = {k: statistics.median([t for kk, _, t in res if kk == k])
           for k in ("refusal", "wrong")}
    diff = abs(med["refusal"] - med["wrong"]) / max(med.values())
    print("# median delay: policy refusal %.3f s, wrong password %.3f s, difference %.1f%%"
          % (med["refusal"], med["wrong"], diff * 100))
    check(med["wrong"] >= 1.0, "the failure delay did not apply: %r" % med)
    check(diff < 0.10, "median delays differ by %.1f%%" % (diff * 100))
    login_ok(ps, "cat", trusted)


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
    (dict(mode="learn", failure_delay="2s", limits={"device_fail_limit": "1000"}), [
        ("no oracle: same reply, median delays within 10%", case_no_oracle, ()),
    ]),
]
