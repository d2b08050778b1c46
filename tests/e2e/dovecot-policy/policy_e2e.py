#!/usr/bin/env python3
"""End-to-end tests of the clientid policy service (clientid-policy) with the
real Debian Dovecot, the real imap-login plugin and real clients.

Every scenario starts its own scratch Dovecot (tests/e2e/dovecot/dovecot_e2e.py,
reused as it is) on free loopback ports, with a scratch clientid.conf, site
secret, policy store and API key, and with the service started by Dovecot's
master from `service clientid-policy { ... }`. It stops what it starts.

usage: policy_e2e.py --group NAME --plugin-dir DIR --service PATH
                     --clientidctl PATH [--skip REASON] [--keep]

Prints one "ok"/"not ok" line per case; exit 0 (all passed), 1 (a failure),
77 (cannot run here, with the reason).
"""

import argparse
import concurrent.futures
import hashlib
import hmac
import os
import re
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid

from harness.dovecot import DOVECOT, PLUGIN_FILE
from harness.imap import FAIL_REPLY, OK_REPLY, TEMPFAIL_REPLY, Raw, run_etpan
from harness.runner import SKIP, Runner, Skip, check, eq
from harness.policy_service import SERVICE_NAME, TEMPFAIL_BODY, TOKENS, PolicyServer, fp_of, \
    imaplib_login, last_decision, login_ok, login_refused, new_token, pw, raw_login, wait_log


# --------------------------------------------------------------------------
# Scenarios

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
    # the process that logged its fatal error may take a moment to exit on
    # a loaded machine; it must not stay (or come back) running
    deadline = time.time() + 15
    while ps.service_pids() and time.time() < deadline:
        time.sleep(0.2)
    check(not ps.service_pids(), "a service with a bad configuration is running")
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


def case_draft_7_4(ps):
    """IMAP draft section 7.4 (Client Identity Leading to Rejection), step by
    step, with the draft's user, password and token. joe's device is not
    trusted (enforce mode), so LOGIN is refused. The draft shows
    "a005 BAD Failed to authenticate"; DESIGN.md section 1 makes the reply
    exactly the wrong-password one, "NO [AUTHENTICATIONFAILED] ...", which is
    just as generic and leaks nothing about CLIENTID, joe or the password."""
    tok = "23bf83be-aad7-46aa-9e0f-39191ccf402f"
    ps.set_mode("enforce")
    c = Raw(ps.dc, tls=False)
    try:
        caps = c.capability("a001")
        check("STARTTLS" in caps and "CLIENTID" not in caps, "a001: %r" % caps)
        eq(c.starttls("a002")[-1].split(" ")[1], "OK", "a002 STARTTLS")
        caps = c.capability("a003")
        check("CLIENTID" in caps and "AUTH=PLAIN" in caps, "a003: %r" % caps)
        eq(c.cmd("a004", "CLIENTID UUID " + tok), ["a004 " + OK_REPLY], "a004")
        eq(c.cmd("a005", "LOGIN joe password"), ["a005 " + FAIL_REPLY], "a005 LOGIN")
        # the connection stays usable, as after any failed login
        eq(c.cmd("a006", "NOOP")[-1], "a006 OK NOOP completed.", "a006 NOOP")
    finally:
        c.close()
    ln = last_decision(ps, "joe", "device_unknown")
    check("verdict=deny" in ln and "step=verified" in ln, ln)
    # the same words for a wrong password
    login_refused(ps, "joe", tok, password="not-the-password")
    # an approved device then passes the same dialogue
    ps.ctl("approve", "joe", fp_of(ps, "joe", "device_unknown"))
    login_ok(ps, "joe", tok)


def http_post(ps, query, body, key=True, method="POST"):
    req = urllib.request.Request("http://127.0.0.1:%d/%s" % (ps.port, query), data=body,
                                 method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-API-Key", ps.key)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def case_http(ps):
    """The service's HTTP face, spoken to directly."""
    tok = new_token()
    body = ('{"account":"amy","remote":"192.0.2.9","protocol":"imap",'
            '"clientid":{"type":"UUID","token":"%s","phase":"verified"},"tls":true}' % tok)
    eq(http_post(ps, "", None, method="GET")[0], 405, "GET")
    eq(http_post(ps, "?command=allow", body.encode(), key=False)[0], 403, "no X-API-Key")
    eq(http_post(ps, "?command=nope", body.encode())[0], 404, "unknown command")
    eq(http_post(ps, "?command=allow", b"not json")[0], 400, "malformed body")
    eq(http_post(ps, "?command=allow", b"{" + b" " * 20000 + b"}")[0], 413, "20 kB body")
    eq(http_post(ps, "?command=allow", body.encode()),
          (200, '{"status":0,"msg":""}'), "allow, learn mode")
    ln = last_decision(ps, "amy", "device_learned")
    check("ip=192.0.2.9 " in ln and "step=verified" in ln, ln)
    eq(http_post(ps, "?command=report",
                    body.replace('"tls":true', '"success":false,"policy_reject":false,'
                                 '"tls":true').encode()),
          (200, '{"status":0,"msg":""}'), "report of a failure")
    ln = last_decision(ps, "amy", "auth_failed")
    check("step=failed" in ln, ln)
    # no account after auth: refused (on_error = tempfail), logged
    eq(http_post(ps, "?command=allow", body.replace('"amy"', '""').encode()),
          (200, TEMPFAIL_BODY), "allow without account")
    wait_log(ps, "cannot decide: no account", "no error for the missing account")
    # no phase: a before-auth request cannot be told from an after-auth one
    eq(http_post(ps, "?command=allow", body.replace(',"phase":"verified"', "").encode()),
          (200, TEMPFAIL_BODY), "allow without phase")
    wait_log(ps, "cannot be told from one after it", "no error for the missing phase")


SPECIAL = '(a)[b]{5}%*"\\x'


def case_special_token(ps):
    """A token full of atom-specials, quotes and backslashes crosses IMAP,
    the forward fields and the JSON escaping intact: the logged short
    fingerprint is HMAC-SHA256(secret, "UUID:" + token), and a token one
    byte different is another device."""
    tok = SPECIAL + uuid.uuid4().hex[:8]
    TOKENS.append(tok)
    ps.set_mode("learn")
    login_ok(ps, "fay", tok)
    with open(ps.secret, "rb") as f:
        key = f.read()
    want = hmac.new(key, b"UUID:" + tok.encode(), hashlib.sha256).hexdigest()[:12]
    ln = last_decision(ps, "fay", "device_learned")
    check(" fp=%s " % want in ln, "fingerprint %s not in %r" % (want, ln))
    ps.set_mode("enforce")
    login_ok(ps, "fay", tok)
    login_refused(ps, "fay", tok[:-1] + ("y" if tok[-1] != "y" else "z"))
    last_decision(ps, "fay", "device_unknown")


def case_passdb_without_marker(ps):
    """A passdb without override_fields: its logins are only prechecked, and
    the service says so in the log."""
    reply, _ = raw_login(ps, "alice", "alicepw", new_token())
    check(reply.startswith("OK "), reply)
    deadline = time.time() + 5
    while "logged in through a passdb without" not in ps.log():
        check(time.time() < deadline, "no error about the passdb without the marker")
        time.sleep(0.1)


def case_after_auth_only(ps):
    """auth_policy_check_before_auth = no and the service started with -a:
    every allow is a decision after the password check."""
    with open(ps.dc.path("dovecot.conf")) as f:
        check(" -a -C " in f.read(), "service not started with -a")
    t1, t2 = new_token(), new_token()
    login_ok(ps, "dan", t1)
    last_decision(ps, "dan", "device_learned")
    ps.set_mode("enforce")
    login_refused(ps, "dan", t2)
    ln = last_decision(ps, "dan", "device_unknown")
    check("step=verified" in ln, ln)
    check(not [x for x in ps.decisions("dan") if "step=precheck" in x], "a precheck ran")
    login_ok(ps, "dan", t1)
    # a wrong password on the trusted device: the report counts it
    login_refused(ps, "dan", t1, password="wrong")
    last_decision(ps, "dan", "auth_failed")


def case_etpan(ps):
    """libetpan (mailimap_clientid()), as a real client library: a learned
    device logs in on implicit TLS and after STARTTLS; in enforce mode an
    unknown one gets a failed login, a trusted one still logs in."""
    client = ps.args.etpan_client
    if not client:
        raise Skip("the libetpan client was not built (libetpan-dev)")
    t1, t2 = new_token(), new_token()
    ps.set_mode("learn")
    for how in ("ssl", "starttls"):
        port = ps.dc.ssl_port if how == "ssl" else ps.dc.port
        res = run_etpan(client, how, port, "UUID", t1, "joe", "password")
        eq((res.get("clientid"), res.get("login")), ("0", "0"), "%s learn (%r)" % (how, res))
    ps.set_mode("enforce")
    for how in ("ssl", "starttls"):
        port = ps.dc.ssl_port if how == "ssl" else ps.dc.port
        res = run_etpan(client, how, port, "UUID", t2, "joe", "password")
        eq(res.get("clientid"), "0", "%s CLIENTID (%r)" % (how, res))
        check(res.get("login") not in (None, "0"), "%s: unknown device logged in (%r)"
                 % (how, res))
        res = run_etpan(client, how, port, "UUID", t1, "joe", "password")
        eq(res.get("login"), "0", "%s trusted device (%r)" % (how, res))
    last_decision(ps, "joe", "trusted_device")


def case_reload(ps):
    """A Dovecot reload (SIGHUP to the master, as systemctl reload dovecot)
    replaces the service process, which reads clientid.conf again."""
    ps.set_mode("learn")
    old = ps.service_pids()
    ps.mode = "enforce"
    ps.write_conf()
    os.kill(ps.dc.proc.pid, signal.SIGHUP)
    ps.wait_service(exclude=old)
    login_refused(ps, "amy", new_token())
    ln = last_decision(ps, "amy", "device_unknown")
    check("mode=enforce" in ln, ln)


def check_valgrind(servers):
    bad, n = [], 0
    for s in servers:
        for f in os.listdir(s.dir):
            if f.startswith("valgrind."):
                n += 1
                with open(os.path.join(s.dir, f), errors="replace") as fh:
                    text = fh.read()
                if text.strip():
                    bad.append("%s:\n%s" % (f, text[-3000:]))
    check(n > 0, "no valgrind logs: the service did not run under valgrind")
    check(not bad, "valgrind reported:\n" + "\n".join(bad))


def check_logs(servers):
    data = b""
    for s in servers:
        data += s.dc.logs_bytes()
    check(("%s: account=" % SERVICE_NAME).encode() in data, "no decision lines in the logs")
    for tok in TOKENS:
        check(tok.encode() not in data, "raw token %s found in the logs" % tok)
        check(tok.replace("-", "").encode() not in data, "token hex found in the logs")
        esc = tok.replace("\\", "\\\\").replace('"', '\\"')
        check(esc.encode() not in data, "JSON-escaped token %s found in the logs" % esc)


# --------------------------------------------------------------------------
# Issue 13: policy bypasses, over IMAP (the SMTP side is in
# tests/e2e/exim-policy/exim_policy_e2e.py)

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


# --------------------------------------------------------------------------

GROUPS = {
    # group: [(server kwargs, [(case name, fn, extra args)])]
    "policy": [
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
    ],
    "oracle": [
        (dict(mode="learn", failure_delay="2s", limits={"device_fail_limit": "1000"}), [
            ("no oracle: same reply, median delays within 10%", case_no_oracle, ()),
        ]),
    ],
    "down": [
        (dict(mode="learn", reject_on_fail="yes"), [
            ("service down, auth_policy_reject_on_fail = yes; master restarts it",
             case_service_down, ("yes",)),
        ]),
        (dict(mode="learn", reject_on_fail="no"), [
            ("service down, auth_policy_reject_on_fail = no; master restarts it",
             case_service_down, ("no",)),
        ]),
        (dict(mode="learn", on_error="tempfail", store_path="/dev/null/store"), [
            ("store error with on_error = tempfail: NO [UNAVAILABLE], never the wrong-password reply", case_store_error, ()),
        ]),
        (dict(mode="learn", on_error="allow", store_path="/dev/null/store"), [
            ("store error with on_error = allow lets in", case_store_error, ()),
        ]),
    ],
    "draft": [
        (dict(mode="enforce"), [
            ("draft 7.4 policy rejection, step by step", case_draft_7_4, ()),
        ]),
        (dict(mode="learn"), [
            ("libetpan: learn, then enforce on implicit TLS and STARTTLS", case_etpan, ()),
        ]),
    ],
    "http": [
        (dict(mode="learn"), [
            ("HTTP: 405, 403, 404, 400, 413; allow and report by hand", case_http, ()),
            ("a token with atom-specials, quotes and backslashes: exact fingerprint",
             case_special_token, ()),
            ("a passdb without the phase marker is logged as an error",
             case_passdb_without_marker, ()),
            ("a Dovecot reload restarts the service with the new clientid.conf",
             case_reload, ()),
        ]),
        (dict(mode="learn", before_auth=False), [
            ("after-auth only (-a, check_before_auth = no)", case_after_auth_only, ()),
        ]),
    ],
    # issue 13, over IMAP
    "issue13": [
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
    ],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True, choices=sorted(GROUPS))
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--service", default="")
    ap.add_argument("--clientidctl", default="")
    ap.add_argument("--etpan-client", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--valgrind", action="store_true",
                    help="run the service under valgrind; any error fails")
    a = ap.parse_args()

    if a.skip:
        print("SKIP: " + a.skip)
        return SKIP
    a.service = os.path.abspath(a.service) if a.service else ""
    a.clientidctl = os.path.abspath(a.clientidctl) if a.clientidctl else ""
    a.etpan_client = os.path.abspath(a.etpan_client) if a.etpan_client else ""
    if os.geteuid() != 0:
        print("SKIP: the Dovecot end-to-end tests start dovecot and need root")
        return SKIP
    if not os.access(DOVECOT, os.X_OK) or not os.path.exists("/usr/lib/dovecot/imap-login"):
        print("SKIP: Dovecot not installed (dovecot-core, dovecot-imapd)")
        return SKIP
    for what, path in (("the imap-login plugin", os.path.join(a.plugin_dir, PLUGIN_FILE)),
                       ("the policy service", a.service), ("clientidctl", a.clientidctl)):
        if not os.access(path, os.X_OK if what != "the imap-login plugin" else os.R_OK):
            print("SKIP: %s is not built (%r)" % (what, path))
            return SKIP

    if a.valgrind and not os.access("/usr/bin/valgrind", os.X_OK):
        print("SKIP: --valgrind needs /usr/bin/valgrind (Debian package valgrind)")
        return SKIP

    r = Runner()
    servers = []
    try:
        for kwargs, cases in GROUPS[a.group]:
            ps = PolicyServer(a, "%s%d" % (a.group, len(servers)), **kwargs)
            servers.append(ps)
            try:
                ps.start()
            except Exception as e:  # noqa: BLE001
                r.case("start dovecot with the policy service", lambda: (_ for _ in ()).throw(e))
                continue
            for name, fn, extra in cases:
                r.case(name, fn, ps, *extra)
            r.case("dovecot still running (%s)" % ps.name,
                   lambda: check(ps.dc.alive(), "dovecot died"))
            ps.dc.stop()
        r.case("no raw token in any log", check_logs, servers)
        if a.valgrind:
            r.case("valgrind: no errors in clientid-policy", check_valgrind, servers)
        if a.keep:
            print("# scratch kept: " + " ".join("%s %s" % (s.dir, s.dc.scratch) for s in servers))
    finally:
        for s in servers:
            s.cleanup()
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
