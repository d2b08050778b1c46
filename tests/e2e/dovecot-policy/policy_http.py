"""Group http: the service's HTTP face spoken to directly, a token full of
IMAP and JSON specials, a passdb without the phase marker, a Dovecot reload,
and a service that only decides after auth (-a)."""

import hashlib
import hmac
import os
import signal
import urllib.error
import urllib.request
import uuid

from harness.policy_service import TEMPFAIL_BODY, TOKENS, last_decision, login_ok, \
    login_refused, new_token, raw_login, wait_log
from harness.runner import check, eq

SPECIAL = '(a)[b]{5}%*"\\x'


def http_post(ps, query, body, key=True, method="POST"):
    """(status, body) of one request to the service; body "" on an HTTP
    error status."""
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
    wait_log(ps, "logged in through a passdb without",
             "no error about the passdb without the marker")


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


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
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
]
