#!/usr/bin/env python3
"""End-to-end tests of the CLIENTID patch against a real patched Exim.

usage: exim_e2e.py [--exim PATH] [--build-exim SCRIPT] [--corpus DIR]
                   [--etpan-client PATH] [--skip REASON] GROUP

Every group starts its own scratch Exim (root, -C <scratch config> -bdf) on
free loopback ports with a self-signed certificate made at run time, drives it
with smtplib (raw commands through docmd/send) or the libetpan client, stops
everything it started, and checks at the end that no CLIENTID token it sent
appears in clear in any log and that the panic log is empty.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import argparse
import glob
import os
import pwd
import shutil
import smtplib
import subprocess
import sys
import time
import traceback

from harness.exim import CIDONLY_TOKEN, EXIM_USER, REPO, UUID, Exim, b64, find_exim
from harness.results import record
from harness.runner import SKIP, Failure, expect, verify


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------

def unknown_reply(s):
    """The reply this server gives to a command it does not know."""
    return s.docmd("XYZZYCMD", "foo bar")


def group_draft(opts):
    """Each example transcript of draft-storey-smtp-client-id-2025 section 7."""
    ex = Exim(opts.exim).start()
    try:
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
        expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
        expect(s.docmd("RCPT", "TO:<receiver@example.com>"), 250, "RCPT TO")
        expect(s.docmd("DATA"), 354, "DATA")
        s.send(b"Subject: 7.1\r\n\r\nbody\r\n.\r\n")
        expect(s.getreply(), 250, "end of data")
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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    print("7.3 client identity leading to rejection")
    ex = Exim(opts.exim, policy_reject=True).start()
    try:
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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def replay_case(ex, path):
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
    try:
        s.docmd("QUIT")
        s.close()
    except (smtplib.SMTPException, OSError):
        pass
    print(f"  ok: {name} -> {[r[0] for r in replies]}")


def group_corpus(opts):
    """Replay tests/corpus/smtp verbatim over TLS, one connection per case."""
    cases = sorted(glob.glob(os.path.join(opts.corpus, "[yn]_*")))
    if not cases:
        raise Failure(f"no corpus cases in {opts.corpus}")
    # smtp_enforce_sync off: a case with a bare LF is two command lines in one
    # packet, and each piece must get its own reply rather than a sync drop.
    ex = Exim(opts.exim, enforce_sync=False).start()
    failures = []
    try:
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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_ehlo(opts):
    """EHLO matrix: where CLIENTID is offered, and PIPELINING beside it."""
    ex = Exim(opts.exim).start()
    try:
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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    print("clientid_keep_pipelining = true")
    ex = Exim(opts.exim, keep_pipelining=True).start()
    try:
        s = ex.starttls()
        verify(s.has_extn("clientid") and s.has_extn("pipelining"),
              "CLIENTID and PIPELINING both offered")
        expect(ex.clientid(s, "UUID", "keep-pipelining-6"), 250, "CLIENTID")
        s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    for label, adv in (("empty clientid_advertise_hosts", ""),
                       ("clientid_advertise_hosts unset (default)", None),
                       ("host not in clientid_advertise_hosts", "192.0.2.1")):
        print(label)
        ex = Exim(opts.exim, advertise=adv).start()
        try:
            for mk in (ex.starttls, ex.implicit):
                s = mk()
                verify(not s.has_extn("clientid"), f"{mk.__name__}: CLIENTID not offered")
                verify(s.has_extn("pipelining"), f"{mk.__name__}: PIPELINING offered")
                r = ex.clientid(s, "UUID", "disabled-token-7")
                expect(r, 500, f"{mk.__name__}: CLIENTID")
                verify(r == unknown_reply(s), "same reply as an unknown command")
                s.quit()
        finally:
            ex.stop()
        ex.check_logs()
        ex.cleanup(opts.keep)


def send_message(s, subject):
    expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
    expect(s.docmd("RCPT", "TO:<receiver@example.com>"), 250, "RCPT TO")
    expect(s.docmd("DATA"), 354, "DATA")
    s.send(f"Subject: {subject}\r\n\r\nbody\r\n.\r\n".encode())
    expect(s.getreply(), 250, "end of data")


def group_reset(opts):
    """EHLO and STARTTLS discard the client id; RSET and a message do not."""
    ex = Exim(opts.exim).start()
    try:
        print("EHLO resets")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-a1"), 250, "CLIENTID")
        expect(s.ehlo("client.example.net"), 250, "EHLO again")
        expect(ex.clientid(s, "UUID", "reset-token-a2"), 250, "new CLIENTID accepted after EHLO")
        send_message(s, "after-ehlo")
        s.quit()
        verify(f"X-Client-Id-Sha: " in ex.spool_headers()[-1], "client id present in message")

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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_auth(opts):
    """503 rules, and the client id inside an authenticator's server_condition."""
    ex = Exim(opts.exim).start()
    try:
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
            s = ex.starttls()
            expect(ex.clientid(s, "uuid", CIDONLY_TOKEN), 250, "CLIENTID with the right token")
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 235, f"AUTH {mech} accepted with the right token")
            s.quit()

            s = ex.starttls()
            expect(ex.clientid(s, "UUID", "wrong-device-token"), 250, "CLIENTID with another token")
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 535, f"AUTH {mech} refused with another token")
            s.quit()

            s = ex.starttls()
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 535, f"AUTH {mech} refused without CLIENTID")
            s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_acl(opts):
    """acl_smtp_clientid: deny, accept with logwrite of the type only."""
    ex = Exim(opts.exim).start()
    try:
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
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_logs(opts):
    """Every error path that logs command text, with tokens that must not leak."""
    ex = Exim(opts.exim).start()
    try:
        toks = {
            "clear": "cleartext-secret-91",
            "malformed": "malformed-secret-92",
            "dup": "duplicate-secret-93",
            "after-auth": "afterauth-secret-94",
            "nul": "nulbyte-secret-95",
        }
        s = ex.plain()
        s.ehlo("x")
        expect(ex.clientid(s, "UUID", toks["clear"]), 500, "CLIENTID in clear")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["malformed"]))
        expect(s.docmd("CLIENTID", f"UUID {toks['malformed']} extra"), 501, "extra argument")
        expect(ex.clientid(s, "UUID", "first-secret-90"), 250, "CLIENTID")
        expect(ex.clientid(s, "UUID", toks["dup"]), 503, "duplicate")
        s.quit()
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wonderland")), 235, "AUTH")
        expect(ex.clientid(s, "UUID", toks["after-auth"]), 503, "after AUTH")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["nul"]))
        s.send(f"CLIENTID UUID {toks['nul']}\0\r\n".encode())
        expect(s.getreply(), 501, "NUL byte")
        s.quit()
        # Too many errors: the drop line repeats the last command.
        s = ex.starttls()
        for i in range(4):
            ex.tokens.add(("UUID", f"toomany-secret-{i}x"))
            r = s.docmd("CLIENTID", f"UUID toomany-secret-{i}x y")
        verify(r[0] == 501, "synprot errors counted, connection dropped with 501")
        s.close()
        # Pipelined CLIENTID without PIPELINING: a sync error logs next input.
        s = ex.starttls()
        ex.tokens.add(("UUID", "pipelined-secret-96"))
        s.send(b"NOOP\r\nCLIENTID UUID pipelined-secret-96\r\n")
        r = s.getreply()
        verify(r[0] in (250, 554), f"pipelined input handled ({r[0]})")
        s.close()
        time.sleep(0.5)
        log = ex.mainlog()
        verify("CLIENTID UUID ***" in log, "redacted form 'CLIENTID UUID ***' is logged")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_etpan(opts):
    """libetpan's mailesmtp_clientid() against the patched Exim."""
    if not opts.etpan_client:
        print("SKIP: the libetpan client was not built (libetpan-dev missing)")
        sys.exit(SKIP)
    ex = Exim(opts.exim).start()
    try:
        for mode, port in (("starttls", ex.port_plain), ("ssl", ex.port_tls)):
            ex.tokens.add(("UUID", UUID))
            out = subprocess.run([opts.etpan_client, mode, str(port), "UUID", UUID,
                                  "cidonly", "s3cret"],
                                 capture_output=True, text=True, timeout=60).stdout
            print("  " + out.replace("\n", " "))
            kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
            verify(kv.get("has_clientid") == "1", f"{mode}: libetpan sees CLIENTID in EHLO")
            verify(kv.get("clientid") == "0", f"{mode}: mailesmtp_clientid() succeeds")
            verify(kv.get("clientid2", "0") != "0", f"{mode}: a second CLIENTID fails (503)")
            verify(kv.get("auth") not in (None, "0"),
                  f"{mode}: AUTH as cidonly refused with another token")
        out = subprocess.run([opts.etpan_client, "starttls", str(ex.port_plain), "UUID",
                              CIDONLY_TOKEN, "cidonly", "s3cret"],
                             capture_output=True, text=True, timeout=60).stdout
        ex.tokens.add(("UUID", CIDONLY_TOKEN))
        print("  " + out.replace("\n", " "))
        kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
        verify(kv.get("clientid") == "0" and kv.get("auth") == "0",
              "AUTH as cidonly accepted with its token")
        out = subprocess.run([opts.etpan_client, "plain", str(ex.port_plain), "UUID",
                              "plain-etpan-token", "alice", "wonderland"],
                             capture_output=True, text=True, timeout=60).stdout
        ex.tokens.add(("UUID", "plain-etpan-token"))
        print("  " + out.replace("\n", " "))
        kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
        verify(kv.get("has_clientid") == "0", "plain: no CLIENTID in EHLO")
        verify(kv.get("clientid") not in (None, "0"), "plain: mailesmtp_clientid() fails")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


GROUPS = {
    "draft": group_draft,
    "corpus": group_corpus,
    "ehlo": group_ehlo,
    "reset": group_reset,
    "auth": group_auth,
    "acl": group_acl,
    "logs": group_logs,
    "etpan": group_etpan,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("group", choices=sorted(GROUPS))
    ap.add_argument("--exim")
    ap.add_argument("--build-exim")
    ap.add_argument("--corpus", default=os.path.join(REPO, "tests", "corpus", "smtp"))
    ap.add_argument("--etpan-client")
    ap.add_argument("--skip")
    ap.add_argument("--keep", action="store_true", help="keep scratch directories")
    opts = ap.parse_args()

    if opts.skip:
        print(f"SKIP: {opts.skip}")
        return SKIP
    opts.exim = find_exim(opts)
    if not opts.exim or not os.access(opts.exim, os.X_OK):
        print("SKIP: patched Exim not built (run exim-module/build-exim fast "
              "or set CLIENTID_EXIM)")
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: the Exim end-to-end tests must run as root")
        return SKIP
    try:
        pwd.getpwnam(EXIM_USER)
    except KeyError:
        print(f"SKIP: user {EXIM_USER} missing (build-exim fast creates it)")
        return SKIP
    if not shutil.which("openssl"):
        print("SKIP: openssl not installed")
        return SKIP
    print(f"exim: {opts.exim}; group: {opts.group}")
    try:
        GROUPS[opts.group](opts)
    except (Failure, smtplib.SMTPException, OSError, AssertionError) as e:
        traceback.print_exc()
        print(f"FAIL: {e}")
        record("FAIL", opts.group, e)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
