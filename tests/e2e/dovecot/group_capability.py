"""Group capability: where the CLIENTID capability word appears (greeting,
CAPABILITY, after STARTTLS, implicit TLS, after login), and a server with
the plugin disabled or not loaded, which must show no trace of it."""

from harness import dovecot_suite
from harness.dovecot import UUID_TOKEN, Dovecot
from harness.imap import OK_REPLY, UNKNOWN_REPLY, Raw, greeting_caps, imaplib_session
from harness.runner import check, eq


def cap_plaintext(dc):
    with Raw(dc, tls=False) as c:
        g = greeting_caps(c.greeting)
        check("STARTTLS" in g, "greeting lacks STARTTLS: %r" % g)
        check("CLIENTID" not in g, "plaintext greeting has CLIENTID: %r" % g)
        caps = c.capability()
        check("CLIENTID" not in caps, "plaintext CAPABILITY has CLIENTID: %r" % caps)
        # plaintext loopback is "secured" for Dovecot, yet no CLIENTID
        check("LOGINDISABLED" not in caps, "loopback should be secured: %r" % caps)


def cap_starttls(dc):
    with Raw(dc, tls=False) as c:
        c.starttls()
        caps = c.capability()
        eq(caps.count("CLIENTID"), 1, "CLIENTID after STARTTLS in %r" % caps)
        eq(caps[-1], "CLIENTID", "CLIENTID appended last")
        # still advertised after a successful CLIENTID (not authenticated yet)
        eq(c.cmd("t1", "CLIENTID UUID " + UUID_TOKEN), ["t1 " + OK_REPLY], "CLIENTID")
        check("CLIENTID" in c.capability("c2"), "CLIENTID gone after CLIENTID")


def cap_implicit_tls(dc):
    with Raw(dc, tls=True) as c:
        g = greeting_caps(c.greeting)
        eq(g.count("CLIENTID"), 1, "CLIENTID in the implicit TLS greeting %r" % g)
        check("STARTTLS" not in g, "STARTTLS on TLS: %r" % g)
        eq(c.capability().count("CLIENTID"), 1, "CLIENTID in CAPABILITY on implicit TLS")


def cap_imaplib_implicit(dc):
    with imaplib_session(dc, "ssl") as m:
        # imaplib trusts the greeting's list, as Thunderbird does on 993
        check("CLIENTID" in m.capabilities, "imaplib sees %r" % (m.capabilities,))


def cap_after_login(dc):
    with Raw(dc, tls=True) as c:
        eq(c.cmd("t1", "CLIENTID UUID " + UUID_TOKEN), ["t1 " + OK_REPLY], "CLIENTID")
        lines = c.cmd("l1", "LOGIN joe password")
        check(lines[-1].startswith("l1 OK "), "LOGIN: %r" % lines)
        check("CLIENTID" not in lines[-1], "CLIENTID in the LOGIN reply: %r" % lines)
        caps = c.capability("c9")
        check("IMAP4rev1" in caps and "CLIENTID" not in caps,
              "post-login CAPABILITY: %r" % caps)


def greeting_line(dc, tls):
    with Raw(dc, tls=tls) as c:
        return c.greeting


def greetings(dc):
    """{tls: greeting line or None} of dc on plaintext and implicit TLS."""
    out = {}
    for tls in (False, True):
        try:
            out[tls] = greeting_line(dc, tls)
        except Exception:  # noqa: BLE001 - compared in same_as_without
            out[tls] = None
    return out


def without_plugin(d, name):
    """d (plugin disabled or not loaded): no CLIENTID in the greeting or
    CAPABILITY, and CLIENTID is an unknown command, with and without TLS."""
    for tls in (False, True):
        with Raw(d, tls=tls) as c:
            g = greeting_caps(c.greeting)
            check("CLIENTID" not in g, "%s greeting: %r" % (name, g))
            check("CLIENTID" not in c.capability(), "%s CAPABILITY" % name)
            got = c.cmd("a1", "CLIENTID UUID " + UUID_TOKEN)
            eq(got, ["a1 " + UNKNOWN_REPLY], "%s CLIENTID" % name)


def same_as_without(d, name, enabled_greeting):
    """The only difference the plugin makes to the greeting is the word."""
    for tls in (False, True):
        g_other = greeting_line(d, tls)
        g_ours = enabled_greeting[tls]
        check(g_ours is not None, "no greeting from the enabled server")
        want = g_other if not tls else g_other.replace("]", " CLIENTID]", 1)
        eq(g_ours, want, "greeting (tls=%s) vs %s" % (tls, name))


# (case name, case): each run on the group's main server
CASES = [
    ("capability: plaintext greeting and CAPABILITY without CLIENTID", cap_plaintext),
    ("capability: after STARTTLS", cap_starttls),
    ("capability: implicit TLS greeting and CAPABILITY", cap_implicit_tls),
    ("capability: imaplib on implicit TLS sees it in the greeting", cap_imaplib_implicit),
    ("capability: absent after login", cap_after_login),
]


def run(r, dc, a):
    """The cases on dc, then two more servers (plugin disabled, not loaded),
    which it returns for the log check."""
    dovecot_suite.run_cases(r, dc, CASES)
    enabled_greeting = greetings(dc)
    others = []
    for name, kw in (("disabled", {"enable": "no"}), ("noplugin", {"load_plugin": False})):
        d = Dovecot(a.plugin_dir, name, keep=a.keep, **kw)
        others.append(d)
        if not dovecot_suite.start(r, "start dovecot (%s)" % name, d):
            continue
        r.case("capability: %s: no CLIENTID anywhere, CLIENTID is unknown" % name,
               without_plugin, d, name)
        r.case("capability: greeting equals the %s server's plus CLIENTID on TLS only" % name,
               same_as_without, d, name, enabled_greeting)
    return others
