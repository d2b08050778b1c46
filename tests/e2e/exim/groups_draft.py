"""The draft's own cases: each example transcript of
draft-storey-smtp-client-id-2025 section 7, and the grammar corpus of
tests/corpus/smtp replayed verbatim."""

import glob
import os
import smtplib

from harness.exim import UUID, Exim
from harness.runner import Failure, expect, verify
from harness.smtp import quit_quietly, send_message, unknown_reply


def group_draft(opts):
    """Each example transcript of draft-storey-smtp-client-id-2025 section 7."""
    with Exim(opts.exim).running(opts.keep) as ex:
        print("7.1 UUID address as client identity")
        s = ex.plain()
        verify(s.sock is not None, "connected, 220 greeting read by smtplib")
        expect(s.ehlo("client.example.net"), 250, "EHLO client.example.net")
        verify(s.has_extn("starttls"), "STARTTLS offered in clear")
        verify(not s.has_extn("clientid"), "CLIENTID not offered in clear")
        verify("LOGIN" in s.esmtp_features.get("auth", ""), "AUTH LOGIN offered")
        expect(s.starttls(context=ex.ctx()), 220, "STARTTLS")
        expect(s.ehlo("client.example.net"), 250, "EHLO after TLS")
        verify(s.has_extn("clientid"), "CLIENTID offered after TLS")
        verify("LOGIN" in s.esmtp_features.get("auth", ""), "AUTH LOGIN offered after TLS")
        ex.tokens.add(("UUID", UUID))
        verify(expect(s.docmd("CLIENTID", "UUID " + UUID), 250, "CLIENTID UUID") == "OK",
               "reply text is exactly 'OK'")
        expect(s.docmd("AUTH", "LOGIN dGVzdAB0ZXN0ADEyMzQ="), 235, "AUTH LOGIN (initial response)")
        send_message(s, "7.1")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()
        hdrs = ex.spool_headers()
        verify(hdrs and "X-Client-Id-Type: UUID" in hdrs[-1],
               "$client_id_type reached the data ACL (add_header)")

        print("7.2 client identity without a TLS session")
        s = ex.plain()
        expect(s.ehlo("client.example.net"), 250, "EHLO")
        verify(not s.has_extn("clientid"), "CLIENTID not offered")
        ex.tokens.add(("MAC", "08:9e:01:70:f6:46"))
        r = s.docmd("CLIENTID", "MAC 08:9e:01:70:f6:46")
        expect(r, 500, "CLIENTID in clear")
        verify(r == unknown_reply(s), "identical to the unknown-command reply")
        expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()

        print("7.4 malformed CLIENTID command")
        s = ex.starttls()
        verify(s.has_extn("clientid"), "CLIENTID offered after TLS")
        expect(s.docmd("CLIENTID", "UUID"), 501, "CLIENTID UUID (no token)")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()

    print("7.3 client identity leading to rejection")
    with Exim(opts.exim, policy_reject=True).running(opts.keep) as ex:
        s = ex.starttls()
        verify(s.has_extn("clientid"), "CLIENTID offered after TLS")
        ex.tokens.add(("UUID", UUID))
        expect(s.docmd("CLIENTID", "UUID " + UUID), 250, "CLIENTID UUID")
        expect(s.docmd("AUTH", "LOGIN dGVzdAB0ZXN0ADEyMzQ="), 235, "AUTH LOGIN")
        text = expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 550,
                      "MAIL refused by policy (the draft's unsolicited 550)")
        verify("Server policy does not permit" in text, "generic policy text")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()


def replay_case(ex, path):
    """Sends the corpus file path after STARTTLS as it is: a y_ case gets
    one 250, an n_ case a 501 and no later piece below 500."""
    data = open(path, "rb").read()
    name = os.path.basename(path)
    s = ex.starttls()
    if not s.has_extn("clientid"):
        raise Failure(f"{name}: CLIENTID not offered")
    # Remember the token bytes for the log check: everything after the type.
    line = data.split(b"\n")[0].rstrip(b"\r")
    parts = line.split(b" ", 2)
    if len(parts) == 3 and parts[2].strip():
        ex.tokens.add((parts[1].decode("latin-1"), parts[2].strip().decode("latin-1")))
    s.send(data)
    pieces = data.count(b"\n")
    replies = [s.getreply() for _ in range(max(pieces, 1))]
    first = replies[0][0]
    if name.startswith("y_"):
        if first != 250 or pieces != 1:
            raise Failure(f"{name}: expected 250, got {replies}")
    else:
        if first != 501:
            raise Failure(f"{name}: expected 501, got {replies}")
        for code, text in replies[1:]:
            if code < 500:
                raise Failure(f"{name}: a later piece was accepted: {replies}")
    quit_quietly(s)
    print(f"  ok: {name} -> {[r[0] for r in replies]}")


def group_corpus(opts):
    """Replay tests/corpus/smtp verbatim over TLS, one connection per case."""
    cases = sorted(glob.glob(os.path.join(opts.corpus, "[yn]_*")))
    if not cases:
        raise Failure(f"no corpus cases in {opts.corpus}")
    # smtp_enforce_sync off: a case with a bare LF is two command lines in one
    # packet, and each piece must get its own reply rather than a sync drop.
    failures = []
    with Exim(opts.exim, enforce_sync=False).running(opts.keep) as ex:
        for path in cases:
            try:
                replay_case(ex, path)
            except (Failure, smtplib.SMTPException, OSError) as e:
                failures.append(f"{os.path.basename(path)}: {e}")
                print(f"  FAIL: {failures[-1]}")
            if not ex.alive():
                raise Failure("exim daemon died during the replay")
        s = ex.starttls()
        verify(s.has_extn("clientid"), "exim still up and offering CLIENTID after the replay")
        s.quit()
        print(f"  {len(cases) - len(failures)}/{len(cases)} corpus cases as expected")
        if failures:
            raise Failure(f"{len(failures)} corpus case(s) failed")
