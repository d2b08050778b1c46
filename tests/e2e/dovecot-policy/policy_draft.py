"""Group draft: the IMAP draft's section 7.4 (a client identity leading to
rejection) with the policy service, and libetpan as a real client library
through learn and enforce."""

from harness.imap import FAIL_REPLY, OK_REPLY, Raw, run_etpan
from harness.policy_service import fp_of, last_decision, login_ok, login_refused, new_token
from harness.runner import Skip, check, eq

DRAFT_TOKEN = "23bf83be-aad7-46aa-9e0f-39191ccf402f"


def case_draft_7_4(ps):
    """IMAP draft section 7.4 (Client Identity Leading to Rejection), step by
    step, with the draft's user, password and token. joe's device is not
    trusted (enforce mode), so LOGIN is refused. The draft shows
    "a005 BAD Failed to authenticate"; DESIGN.md section 1 makes the reply
    exactly the wrong-password one, "NO [AUTHENTICATIONFAILED] ...", which is
    just as generic and leaks nothing about CLIENTID, joe or the password."""
    tok = DRAFT_TOKEN
    ps.set_mode("enforce")
    with Raw(ps.dc, tls=False) as c:
        caps = c.capability("a001")
        check("STARTTLS" in caps and "CLIENTID" not in caps, "a001: %r" % caps)
        eq(c.starttls("a002")[-1].split(" ")[1], "OK", "a002 STARTTLS")
        caps = c.capability("a003")
        check("CLIENTID" in caps and "AUTH=PLAIN" in caps, "a003: %r" % caps)
        eq(c.cmd("a004", "CLIENTID UUID " + tok), ["a004 " + OK_REPLY], "a004")
        eq(c.cmd("a005", "LOGIN joe password"), ["a005 " + FAIL_REPLY], "a005 LOGIN")
        # the connection stays usable, as after any failed login
        eq(c.cmd("a006", "NOOP")[-1], "a006 OK NOOP completed.", "a006 NOOP")
    ln = last_decision(ps, "joe", "device_unknown")
    check("verdict=deny" in ln and "step=verified" in ln, ln)
    # the same words for a wrong password
    login_refused(ps, "joe", tok, password="not-the-password")
    # an approved device then passes the same dialogue
    ps.ctl("approve", "joe", fp_of(ps, "joe", "device_unknown"))
    login_ok(ps, "joe", tok)


def etpan_joe(ps, client, how, token):
    """The libetpan client's steps as joe with token, on implicit TLS
    (how 'ssl') or STARTTLS."""
    port = ps.dc.ssl_port if how == "ssl" else ps.dc.port
    return run_etpan(client, how, port, "UUID", token, "joe", "password")


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
        res = etpan_joe(ps, client, how, t1)
        eq((res.get("clientid"), res.get("login")), ("0", "0"), "%s learn (%r)" % (how, res))
    ps.set_mode("enforce")
    for how in ("ssl", "starttls"):
        res = etpan_joe(ps, client, how, t2)
        eq(res.get("clientid"), "0", "%s CLIENTID (%r)" % (how, res))
        check(res.get("login") not in (None, "0"), "%s: unknown device logged in (%r)"
              % (how, res))
        res = etpan_joe(ps, client, how, t1)
        eq(res.get("login"), "0", "%s trusted device (%r)" % (how, res))
    last_decision(ps, "joe", "trusted_device")


# [(PolicyServer keyword arguments, [(case name, fn, extra args)])]
GROUP = [
    (dict(mode="enforce"), [
        ("draft 7.4 policy rejection, step by step", case_draft_7_4, ()),
    ]),
    (dict(mode="learn"), [
        ("libetpan: learn, then enforce on implicit TLS and STARTTLS", case_etpan, ()),
    ]),
]
