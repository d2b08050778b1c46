"""CLIENTID beside AUTH and the ACLs: the 503 rules, the client id inside an
authenticator's server_condition, and acl_smtp_clientid."""

import time

from harness.exim import CIDONLY_TOKEN, Exim
from harness.runner import expect, verify
from harness.smtp import b64, send_message


# cidonly's logins: the CLIENTID sent first (type, token) or None, its
# check's name, and AUTH's reply and what it shows.
CIDONLY_CASES = (
    (("uuid", CIDONLY_TOKEN), "CLIENTID with the right token", 235,
     "accepted with the right token"),
    (("UUID", "wrong-device-token"), "CLIENTID with another token", 535,
     "refused with another token"),
    (None, None, 535, "refused without CLIENTID"),
)


def auth_cidonly(s, mech):
    """AUTH mech (PLAIN or LOGIN, with an initial response) as cidonly, whose
    server_condition wants CIDONLY_TOKEN: the final reply. LOGIN's 334
    prompt is checked on the way."""
    if mech == "PLAIN":
        return s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
    expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
    return s.docmd(b64("s3cret"))


def group_auth(opts):
    """503 rules, and the client id inside an authenticator's server_condition."""
    with Exim(opts.exim).running(opts.keep) as ex:
        print("second CLIENTID")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "auth-token-1"), 250, "CLIENTID")
        expect(ex.clientid(s, "UUID", "auth-token-2"), 503, "second CLIENTID")
        expect(s.docmd("CLIENTID", "UUID"), 503, "second CLIENTID, malformed")
        s.quit()

        print("after a successful AUTH")
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wonderland")), 235, "AUTH PLAIN")
        expect(ex.clientid(s, "UUID", "auth-token-3"), 503, "CLIENTID after AUTH")
        expect(s.ehlo("client.example.net"), 250, "EHLO")
        expect(ex.clientid(s, "UUID", "auth-token-4"), 503, "still 503 after EHLO (authenticated)")
        s.quit()

        print("after a failed AUTH")
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wrong")), 535, "AUTH PLAIN, wrong password")
        expect(ex.clientid(s, "UUID", "auth-token-5"), 503, "CLIENTID after a failed AUTH")
        s.quit()

        print("server_condition sees $client_id_type and $client_id_token")
        for mech in ("PLAIN", "LOGIN"):
            for clientid, clientid_what, code, what in CIDONLY_CASES:
                s = ex.starttls()
                if clientid is not None:
                    expect(ex.clientid(s, *clientid), 250, clientid_what)
                expect(auth_cidonly(s, mech), code, f"AUTH {mech} {what}")
                s.quit()


def group_acl(opts):
    """acl_smtp_clientid: deny, accept with logwrite of the type only."""
    with Exim(opts.exim).running(opts.keep) as ex:
        s = ex.starttls()
        r = ex.clientid(s, "UUID", "deny-me-please")
        text = expect(r, 550, "CLIENTID denied by acl_smtp_clientid")
        verify("CLIENTID refused by policy" in text, "ACL message in the reply")
        expect(ex.clientid(s, "UUID", "acl-accepted-token"), 250,
               "a denied client id is not kept: another CLIENTID is accepted")
        send_message(s, "acl")
        s.quit()
        time.sleep(0.3)
        log = ex.mainlog()
        verify("clientid-test: CLIENTID accepted type=UUID" in log,
               "ACL logwrite of $client_id_type in mainlog")
        verify("rejected CLIENTID UUID" in log, "ACL rejection logged with the type only")
