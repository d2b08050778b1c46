"""Where CLIENTID is offered (the EHLO matrix, PIPELINING beside it,
clientid_advertise_hosts) and what keeps or discards a client id within a
session (EHLO, HELO, STARTTLS, RSET, a finished message)."""

from harness.exim import Exim
from harness.runner import expect, verify
from harness.smtp import send_message, unknown_reply


def group_ehlo(opts):
    """EHLO matrix: where CLIENTID is offered, and PIPELINING beside it."""
    with Exim(opts.exim).running(opts.keep) as ex:
        print("plaintext")
        s = ex.plain()
        s.ehlo("client.example.net")
        verify(not s.has_extn("clientid"), "no CLIENTID in clear")
        verify(s.has_extn("pipelining"), "PIPELINING offered in clear (no CLIENTID)")
        r = ex.clientid(s, "UUID", "plaintext-token-1")
        expect(r, 500, "CLIENTID in clear")
        verify(r == unknown_reply(s), "same reply as an unknown command")
        help_text = s.docmd("HELP")[1].decode()
        verify("CLIENTID" not in help_text, "HELP does not list CLIENTID in clear")
        s.quit()

        print("STARTTLS")
        s = ex.starttls(ehlo=False)
        r = ex.clientid(s, "UUID", "before-ehlo-token-2")
        expect(r, 500, "CLIENTID after STARTTLS but before EHLO")
        s.ehlo("client.example.net")
        verify(s.has_extn("clientid"), "CLIENTID offered after STARTTLS")
        verify(not s.has_extn("pipelining"), "PIPELINING withheld beside CLIENTID")
        verify("CLIENTID" in s.docmd("HELP")[1].decode(), "HELP lists CLIENTID on TLS")
        expect(ex.clientid(s, "UUID", "starttls-token-3"), 250, "CLIENTID")
        s.quit()

        print("implicit TLS")
        s = ex.implicit()
        verify(s.has_extn("clientid"), "CLIENTID offered on implicit TLS")
        verify(not s.has_extn("pipelining"), "PIPELINING withheld beside CLIENTID")
        expect(ex.clientid(s, "UUID", "implicit-token-4"), 250, "CLIENTID")
        s.quit()

        print("HELO over TLS")
        s = ex.implicit(ehlo=False)
        expect(s.helo("client.example.net"), 250, "HELO")
        expect(ex.clientid(s, "UUID", "helo-token-5"), 500, "CLIENTID after HELO (never offered)")
        s.quit()

    print("clientid_keep_pipelining = true")
    with Exim(opts.exim, keep_pipelining=True).running(opts.keep) as ex:
        s = ex.starttls()
        verify(s.has_extn("clientid") and s.has_extn("pipelining"),
               "CLIENTID and PIPELINING both offered")
        expect(ex.clientid(s, "UUID", "keep-pipelining-6"), 250, "CLIENTID")
        s.quit()

    for label, adv in (("empty clientid_advertise_hosts", ""),
                       ("clientid_advertise_hosts unset (default)", None),
                       ("host not in clientid_advertise_hosts", "192.0.2.1")):
        print(label)
        with Exim(opts.exim, advertise=adv).running(opts.keep) as ex:
            for mk in (ex.starttls, ex.implicit):
                s = mk()
                verify(not s.has_extn("clientid"), f"{mk.__name__}: CLIENTID not offered")
                verify(s.has_extn("pipelining"), f"{mk.__name__}: PIPELINING offered")
                r = ex.clientid(s, "UUID", "disabled-token-7")
                expect(r, 500, f"{mk.__name__}: CLIENTID")
                verify(r == unknown_reply(s), "same reply as an unknown command")
                s.quit()


def group_reset(opts):
    """EHLO and STARTTLS discard the client id; RSET and a message do not."""
    with Exim(opts.exim).running(opts.keep) as ex:
        print("EHLO resets")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-a1"), 250, "CLIENTID")
        expect(s.ehlo("client.example.net"), 250, "EHLO again")
        expect(ex.clientid(s, "UUID", "reset-token-a2"), 250, "new CLIENTID accepted after EHLO")
        send_message(s, "after-ehlo")
        s.quit()
        verify("X-Client-Id-Sha: " in ex.spool_headers()[-1], "client id present in message")

        print("HELO resets")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-h1"), 250, "CLIENTID")
        expect(s.helo("client.example.net"), 250, "HELO")
        send_message(s, "after-helo")
        verify("X-Client-Id-Type" not in ex.spool_headers()[-1],
               "client id discarded by HELO ($client_id_type empty)")
        s.quit()

        print("STARTTLS starts without a client id")
        s = ex.starttls(ehlo=True)
        send_message(s, "fresh-tls")
        verify("X-Client-Id-Type" not in ex.spool_headers()[-1],
               "no client id in a fresh STARTTLS session")
        expect(ex.clientid(s, "UUID", "reset-token-s1"), 250, "CLIENTID accepted")
        s.quit()

        print("RSET does not reset")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-r1"), 250, "CLIENTID")
        expect(s.rset(), 250, "RSET")
        expect(ex.clientid(s, "UUID", "reset-token-r2"), 503, "second CLIENTID after RSET")
        send_message(s, "after-rset")
        verify("X-Client-Id-Type: UUID" in ex.spool_headers()[-1],
               "client id kept across RSET")
        s.quit()

        print("a finished message does not reset")
        s = ex.implicit()
        expect(ex.clientid(s, "UUID", "reset-token-m1"), 250, "CLIENTID")
        send_message(s, "first")
        expect(ex.clientid(s, "UUID", "reset-token-m2"), 503, "CLIENTID after a message")
        send_message(s, "second")
        verify("X-Client-Id-Type: UUID" in ex.spool_headers()[-1],
               "client id kept for the second message")
        s.quit()
