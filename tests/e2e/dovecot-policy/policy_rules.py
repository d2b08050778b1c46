"""Group policy: the policy's rules over IMAP, each on its own scratch
setup: learn then enforce and approval, the per-device failure limit, one
device across many accounts (also refused before auth), and canonical
account names (issue 13 item 2)."""

from harness.policy_service import fp_of, imaplib_login, last_decision, login_ok, \
    login_refused, new_token, pw, raw_login
from harness.runner import check


def case_learn_enforce_approve(ps):
    t1, t2 = new_token(), new_token()
    # learn: the first device is trusted on first use
    login_ok(ps, "amy", t1)
    ln = last_decision(ps, "amy", "device_learned")
    check("verdict=allow" in ln and "step=verified" in ln, ln)
    # enforce
    ps.set_mode("enforce")
    login_ok(ps, "amy", t1)
    last_decision(ps, "amy", "trusted_device")
    # an unknown device with the right password: the wrong-password reply
    login_refused(ps, "amy", t2)
    ln = last_decision(ps, "amy", "device_unknown")
    check("verdict=deny" in ln and "answer=-1" in ln, ln)
    # the same through imaplib: the same reply text
    typ = imaplib_login(ps, "amy", pw("amy"), t2)
    check("[AUTHENTICATIONFAILED] Authentication failed." in typ, typ)
    # recorded as pending; approve it with clientidctl
    short = fp_of(ps, "amy", "device_pending")
    listing = ps.ctl("list", "amy")
    check(short in listing and "pending" in listing,
          "clientidctl list does not show %s pending:\n%s" % (short, listing))
    ps.ctl("approve", "amy", short)
    login_ok(ps, "amy", t2)
    last_decision(ps, "amy", "trusted_device")


def case_device_lockout(ps):
    a, b = new_token(), new_token()
    login_ok(ps, "ben", a)
    login_ok(ps, "ben", b)
    for _ in range(3):
        login_refused(ps, "ben", a, password="wrong")
    # A is locked out, even with the right password
    login_refused(ps, "ben", a)
    ln = last_decision(ps, "ben", "device_fail_limit")
    check("verdict=deny" in ln, ln)
    # B, behind the same IP, still logs in
    login_ok(ps, "ben", b)
    last_decision(ps, "ben", "trusted_device")


def case_many_accounts(ps):
    x = new_token()
    for acc in ("acc1", "acc2", "acc3"):
        login_ok(ps, acc, x)
    # the fourth account for the same device: blocked
    login_refused(ps, "acc4", x)
    ln = last_decision(ps, "acc4", "device_many_accounts")
    check("verdict=deny" in ln, ln)
    # blocked everywhere, also where it was trusted; another device is not
    login_refused(ps, "acc1", x)
    last_decision(ps, "acc1", "device_blocked")
    login_ok(ps, "acc5", new_token())


def case_precheck_before_auth(ps):
    """A blocked device is refused by the before-auth allow: the password is
    never checked, and the wrong-password reply comes all the same."""
    x = new_token()
    for acc in ("acc1", "acc2", "acc3", "acc4"):
        raw_login(ps, acc, pw(acc), x)
    n = len(ps.decisions("acc5"))
    login_refused(ps, "acc5", x, password="anything")
    ln = last_decision(ps, "acc5", "device_blocked")
    check("step=precheck" in ln, "not refused before auth: " + ln)
    check(len(ps.decisions("acc5")) == n + 1, "more than one decision")


def case_account_names_canonical(ps):
    """Issue 13 item 2, account names are not canonical: the administrator
    types "Fay" and "FAY" to clientidctl, the client logs in as "FAY" or
    "fay"; all are one account, so require_clientid and the trusted device
    hold for every spelling."""
    tok = new_token()
    login_ok(ps, "fay", tok)
    last_decision(ps, "fay", "device_learned")
    ps.ctl("policy", "Fay", "require_clientid=yes")
    for user in ("FAY", "Fay", "fay"):
        login_refused(ps, user, password=pw("fay"))
        ln = last_decision(ps, "fay", "clientid_required")
        check("verdict=deny" in ln, ln)
    login_ok(ps, "FAY", tok, password=pw("fay"))
    last_decision(ps, "fay", "trusted_device")
    listing = ps.ctl("list", "FAY")
    check("trusted" in listing, "clientidctl list FAY does not show fay's device:\n" + listing)


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
    (dict(mode="learn"), [
        ("learn trusts the first device; enforce refuses an unknown one as pending; "
         "clientidctl approves it", case_learn_enforce_approve, ()),
    ]),
    (dict(mode="learn"), [
        ("per-device failure limit: A locked out, B behind the same IP logs in",
         case_device_lockout, ()),
    ]),
    (dict(mode="learn"), [
        ("one device across many accounts is blocked", case_many_accounts, ()),
        ("a blocked device is refused before auth (precheck)",
         case_precheck_before_auth, ()),
    ]),
    (dict(mode="learn"), [
        ("issue 13: account names are canonical (FAY, Fay, fay are one account)",
         case_account_names_canonical, ()),
    ]),
]
