"""Issue 13 over SMTP (the IMAP side is tests/e2e/dovecot-policy's issue13
group): its items as separate policies, and item 2, account names that are
not canonical, through the snippets' own password check."""

import os
import re
import subprocess

from harness.exim_policy import USERS, WRONG_535, PolicyExim, edit, login_ok, \
    login_refused, new_token, quit_quietly, run_group
from harness.runner import expect, verify


def learn_limit_retry(ex):
    a, b = new_token(), new_token()
    ex.tokens.update({("UUID", a), ("UUID", b)})
    login_ok(ex, "carol", a, "item 1: first device learned")
    for i in range(3):
        login_refused(ex, "carol", USERS["carol"], b, f"item 1: past the limit, try {i + 1}")
        ex.last_decision("carol", "learn_limit")


def observe_pending(ex):
    a = new_token()
    ex.tokens.add(("UUID", a))
    login_ok(ex, "alice", a, "item 3: observe lets a new device in")
    ln = ex.last_decision("alice", "device_unknown")
    verify("observed would=deny reason=device_unknown" in ln, "logged as what enforce refuses")
    verify(ex.listed("alice", a, "pending"), "item 3: recorded pending, not trusted")


def stolen_token(ex):
    a = new_token()
    ex.register("alice", a)
    for i in range(12):
        login_refused(ex, ("bob", "carol", f"made-up-{i}")[i % 3], "guess", a,
                      f"item 5: the stolen token, wrong password {i + 1}")
    login_ok(ex, "alice", a, "item 5: the owner still logs in")
    ex.last_decision("alice", "trusted_device")
    verify("blocked" not in ex.ctl("bans"), "item 5: no site-wide ban")


def under_attack(ex):
    a = new_token()
    ex.register("alice", a)
    for i in range(3):
        login_refused(ex, "bob", f"guess-{i}", None, f"item 6: failure {i + 1} of 3")
    c = new_token()
    ex.tokens.add(("UUID", c))
    login_refused(ex, "carol", USERS["carol"], c,
                  "item 6: an unknown device is refused under attack")
    ex.last_decision("carol", "under_attack")
    login_ok(ex, "alice", a, "item 6: a trusted device logs in under attack")
    ex.last_decision("alice", "trusted_device")


def contradiction_warned(ex):
    tok = new_token()
    ex.tokens.add(("UUID", tok))
    s = ex.session(tok)
    quit_quietly(s)
    lines = [ln for ln in ex.mainlog().splitlines() if "clientid: warning: configuration"
             in ln and "require_clientid = yes" in ln and "default_handling lacks auth" in ln]
    verify(len(lines) == 1, "item 4: the daemon warns once of require_clientid with a "
           f"default_handling without auth ({len(lines)} lines)")


def group_issue13(opts):
    """Issue 13 over SMTP (the IMAP side is policy_e2e.py --group issue13)."""
    run_group(PolicyExim(opts, mode="learn", learn_max=1), learn_limit_retry)
    run_group(PolicyExim(opts, mode="observe"), observe_pending)
    run_group(PolicyExim(opts, device_fail_limit=3), stolen_token)
    run_group(PolicyExim(opts, policy_sections="[attack]\nfail_threshold = 3\n"),
              under_attack)
    run_group(PolicyExim(opts, policy_options="require_clientid = yes",
                         policy_sections="[types]\ndefault_handling = syslog\n"),
              contradiction_warned)


def use_shipped_password_check(ex, users):
    """Drops the harness's own password macros, so that the snippets' own
    (crypteq against CLIENTID_PASSWD, an lsearch file of crypt hashes, and
    CLIENTID_ACCOUNT_* handing over the name lsearch matched) are tested."""
    path = os.path.join(ex.dir, "passwd-crypt")
    with open(path, "w") as f:
        for u, p in users.items():
            h = subprocess.run(["openssl", "passwd", "-6", p], capture_output=True,
                               text=True, check=True).stdout.strip()
            f.write(f"{u}:{h}\n")
    os.chmod(path, 0o644)

    def change(conf):
        conf = re.sub(r"^CLIENTID_PASSWORD_OK_(PLAIN|LOGIN) = .*\n", "", conf, flags=re.M)
        return conf.replace("PWFILE = ", f"CLIENTID_PASSWD = {path}\nPWFILE = ", 1)
    edit(ex.conf, change)


def account_case_body(ex, keep):
    """anna's device and require_clientid hold for every spelling the
    password check accepts; with fold, also when the administrator typed
    "Anna" and "ANNA" to clientidctl."""
    tok = new_token()
    ex.register("anna" if keep else "Anna", tok)
    ex.ctl("policy", "anna" if keep else "ANNA", "require_clientid=yes")
    for user in ("anna", "ANNA", "Anna"):
        for mech in ("PLAIN", "LOGIN"):
            s, r, _ = ex.login(user, USERS["alice"], None, mech)
            verify(r == WRONG_535, f"{user} ({mech}) without CLIENTID, require_clientid on: "
                   f"{r[0]} {r[1].decode()} (the wrong-password reply)")
            quit_quietly(s)
    ln = ex.last_decision("anna", "clientid_required")
    verify("verdict=deny" in ln, "refused as clientid_required")
    verify(not ex.decisions("ANNA") and not ex.decisions("Anna"),
           "every decision names the account the password file matched, anna")
    s, r, _ = ex.login("ANNA", USERS["alice"], tok)
    expect(r, 235, "ANNA with anna's trusted device")
    quit_quietly(s)
    ex.last_decision("anna", "trusted_device")
    verify(ex.listed("anna", tok, "trusted"), "clientidctl list anna shows the trusted device")


def group_account_case(opts):
    """Issue 13 item 2, account names are not canonical: with lsearch (which
    matches keys whatever their case) "ANNA" and "Anna" are anna, for the
    store too, with account_case = fold and, through the snippets' hand-over
    of the matched name, with account_case = keep."""
    users = {"anna": USERS["alice"]}
    for keep in (False, True):
        ex = PolicyExim(opts, policy_options="account_case = keep" if keep else "")
        use_shipped_password_check(ex, users)
        print(f"  account_case = {'keep' if keep else 'fold'}")
        run_group(ex, lambda ex, keep=keep: account_case_body(ex, keep))
