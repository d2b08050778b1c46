"""Group draft: the IMAP draft's example transcripts of section 7, played
against the plugin (7.4's rejection at LOGIN needs the policy service:
tests/e2e/dovecot-policy/policy_draft.py plays it)."""

from harness.dovecot import UUID_TOKEN
from harness.dovecot_suite import run_cases
from harness.imap import OK_REPLY, UNKNOWN_REPLY, Raw, imaplib_clientid, imaplib_session, \
    rest_of
from harness.net import client_ssl_context
from harness.runner import check, eq

DRAFT_TOKEN = "23bf83be-aad7-46aa-9e0f-39191ccf402f"


def starttls_steps(c):
    """a001 to a003 of the transcripts: CLIENTID only after STARTTLS."""
    caps = c.capability("a001")
    check("STARTTLS" in caps, "plaintext CAPABILITY lacks STARTTLS: %r" % caps)
    check("CLIENTID" not in caps, "CLIENTID advertised before TLS: %r" % caps)
    lines = c.starttls("a002")
    eq(lines[-1].split(" ")[1], "OK", "a002 STARTTLS")
    caps = c.capability("a003")
    check("CLIENTID" in caps, "CLIENTID missing after STARTTLS: %r" % caps)
    return caps


def draft_7_1(dc):
    with Raw(dc, tls=False) as c:
        caps = starttls_steps(c)
        check("AUTH=PLAIN" in caps, "AUTH=PLAIN missing after STARTTLS: %r" % caps)
        eq(c.cmd("a004", "CLIENTID UUID " + DRAFT_TOKEN), ["a004 " + OK_REPLY], "a004 CLIENTID")
        lines = c.cmd("a005", "LOGIN joe password")
        check(lines[-1].startswith("a005 OK "), "a005 LOGIN: %r" % lines)


def draft_7_1_imaplib(dc):
    with imaplib_session(dc, "plain") as m:
        check("CLIENTID" not in m.capabilities, "CLIENTID before TLS: %r" % (m.capabilities,))
        m.starttls(ssl_context=client_ssl_context())
        check("CLIENTID" in m.capabilities, "CLIENTID after STARTTLS: %r" % (m.capabilities,))
        eq(imaplib_clientid(m, "UUID", DRAFT_TOKEN), ("OK", "CLIENTID completed"), "CLIENTID")
        eq(m.login("joe", "password")[0], "OK", "LOGIN")
        m.logout()


def draft_7_2(dc):
    with Raw(dc, tls=False) as c:
        starttls_steps(c)
        eq(c.cmd("a004", "CLIENTID UUID"), ["a004 " + UNKNOWN_REPLY], "a004 CLIENTID UUID")
        # the connection is still usable and CLIENTID still possible
        eq(c.cmd("a005", "CLIENTID UUID " + UUID_TOKEN), ["a005 " + OK_REPLY], "a005")


def draft_7_3(dc):
    with Raw(dc, tls=False) as c:
        check("CLIENTID" not in c.capability("a001"), "CLIENTID before TLS")
        got = c.cmd("a002", "CLIENTID UUID " + DRAFT_TOKEN)
        # exactly what an unknown command gets
        ref = c.cmd("a003", "XCLIENTIDX UUID " + DRAFT_TOKEN)
        eq(got, ["a002 " + UNKNOWN_REPLY], "a002 CLIENTID before TLS")
        eq([rest_of(x) for x in got], [rest_of(x) for x in ref], "same as unknown command")


def draft_7_4_until_clientid(dc):
    with Raw(dc, tls=False) as c:
        starttls_steps(c)
        eq(c.cmd("a004", "CLIENTID UUID " + DRAFT_TOKEN), ["a004 " + OK_REPLY], "a004")


# (case name, case): each run on the group's one server
CASES = [
    ("draft 7.1 UUID as client identity (raw)", draft_7_1),
    ("draft 7.1 UUID as client identity (imaplib)", draft_7_1_imaplib),
    ("draft 7.2 malformed CLIENTID", draft_7_2),
    ("draft 7.3 CLIENTID without TLS is an unknown command", draft_7_3),
    ("draft 7.4 steps up to CLIENTID OK", draft_7_4_until_clientid),
]


def run(r, dc, a):
    """The group's cases on dc; no other server."""
    return run_cases(r, dc, CASES)
