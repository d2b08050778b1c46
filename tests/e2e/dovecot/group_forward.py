"""Group forward: CLIENTID's type and token reach Dovecot's auth process as
forward fields, by every login mechanism over implicit TLS and STARTTLS.
The scratch passdb only finds "<user>+<type>+<token>", so bob logs in only
when both fields arrived intact."""

from harness.dovecot import BOB_TOKEN, RUN_ID, SPECIAL_TOKENS
from harness.imap import OK_REPLY, authenticate_cram_md5, authenticate_login, \
    authenticate_plain, imaplib_clientid, imaplib_session, login_raw, tls_client
from harness.runner import check, eq

MECHANISMS = (login_raw, authenticate_plain, authenticate_login, authenticate_cram_md5)


def fwd_control(dc):
    # without CLIENTID, bob does not exist: the passdb keys on the fields
    for how in ("ssl", "starttls"):
        with tls_client(dc, how) as c:
            ln = login_raw(c, "f1", "bob", "bobpw")
            check(ln.startswith("f1 NO "), "bob without CLIENTID: %r" % ln)
    with tls_client(dc, "ssl") as c:
        eq(c.cmd("f2", "CLIENTID UUID wrong-" + RUN_ID), ["f2 " + OK_REPLY], "CLIENTID")
        ln = login_raw(c, "f3", "bob", "bobpw")
        check(ln.startswith("f3 NO "), "bob with the wrong token: %r" % ln)


def fwd_mech(dc, how, mech):
    with tls_client(dc, how) as c:
        eq(c.cmd("f1", "CLIENTID UUID " + BOB_TOKEN), ["f1 " + OK_REPLY], "CLIENTID")
        ln = mech(c, "f2", "bob", "bobpw")
        check(ln.startswith("f2 OK "), "%s over %s: %r" % (mech.__name__, how, ln))


def fwd_special_tokens(dc):
    for user, (typ, tok) in SPECIAL_TOKENS.items():
        with tls_client(dc, "ssl") as c:
            eq(c.cmd("g1", "CLIENTID %s %s" % (typ, tok)), ["g1 " + OK_REPLY], user)
            ln = login_raw(c, "g2", user, user + "pw")
            check(ln.startswith("g2 OK "), "%s with token %r: %r" % (user, tok, ln))


def fwd_imaplib(dc):
    with imaplib_session(dc, "starttls") as m:
        eq(imaplib_clientid(m, "UUID", BOB_TOKEN)[0], "OK", "CLIENTID")
        eq(m.login("bob", "bobpw")[0], "OK", "imaplib LOGIN")
        m.logout()


def fwd_no_forgery(dc):
    # ID x-forward-* from an untrusted client must not set the fields
    with tls_client(dc, "ssl") as c:
        c.cmd("h1", 'ID ("x-forward-clientid_type" "UUID" "x-forward-clientid_token" "%s")'
              % BOB_TOKEN)
        ln = login_raw(c, "h2", "bob", "bobpw")
        check(ln.startswith("h2 NO "), "forged forward fields accepted: %r" % ln)


def run(r, dc, a):
    """The group's cases on dc; no other server."""
    r.case("forward: control (no or wrong CLIENTID: bob unknown)", fwd_control, dc)
    for how in ("ssl", "starttls"):
        for mech in MECHANISMS:
            r.case("forward: %s over %s reaches auth" % (mech.__name__, how), fwd_mech, dc,
                   how, mech)
    r.case("forward: tokens with atom-specials arrive intact", fwd_special_tokens, dc)
    r.case("forward: imaplib STARTTLS + CLIENTID + LOGIN", fwd_imaplib, dc)
    r.case("forward: ID x-forward-* cannot forge the fields", fwd_no_forgery, dc)
    return []
