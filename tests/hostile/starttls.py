"""The starttls phase: CLIENTID before, after, injected behind and pipelined
with STARTTLS in one packet, inside TLS, and split across the handshake,
on IMAP and on SMTP."""

import random
import ssl

from harness.imap import AGAIN_REPLY, OK_REPLY, UNKNOWN_REPLY
from imap_clients import imap_tls_wrap
from smtp_clients import SmtpConn

PH = "starttls"
CASES = ("before", "injected after", "same packet before", "inside TLS", "split verb")


def run_cases(tally, proto, errors, fns):
    """Runs fns, one a name of CASES; an exception of errors is a failed
    check named by proto and the case."""
    for name, fn in zip(CASES, fns):
        try:
            fn()
        except errors as e:
            tally.add(PH, False, "%s %s: %s" % (proto, name, e))


def imap_pipelined(imap, tally, tok, tls, t, first, second, what, third, then):
    """CLIENTID and STARTTLS in one packet (tags t1 and t2; TLS from the
    start when tls): their replies are first and start with second (what,
    with both lines); then CLIENTID (t3) gets third over TLS (then)."""
    c = imap.connect(tls=tls)
    c.send("%s1 CLIENTID UUID %s\r\n%s2 STARTTLS\r\n" % (t, tok, t))
    a, b = c.line(), c.line()
    tally.expect(PH, a == t + "1 " + first and b.startswith(t + "2 " + second), what % (a, b))
    if not tls:
        imap_tls_wrap(c)
    tally.expect(PH, c.cmd(t + "3", "CLIENTID UUID " + tok) == [t + "3 " + third], then)
    c.close()


def imap_handshake_behind(imap, tally, data, tag, what, note):
    """Sends data in clear (STARTTLS as tag, then more in the same packet),
    checks the OK (what, with the line) and wraps TLS: the connection, or
    None when the handshake failed (noted, and a pass: the bytes behind
    STARTTLS broke it)."""
    c = imap.connect(tls=False)
    c.send(data)
    ln = c.line()
    tally.expect(PH, ln.startswith(tag + " OK"), what % ln)
    try:
        imap_tls_wrap(c)
    except (ssl.SSLError, OSError) as e:
        tally.note("%s: handshake failed (%s)" % (note, e))
        tally.add(PH, True)
        c.close()
        return None
    return c


def phase_starttls_imap(imap, tally):
    tok = "st-%d" % random.getrandbits(40)

    def before():
        c = imap.connect(tls=False)
        tally.expect(PH, c.cmd("a1", "CLIENTID UUID " + tok) == ["a1 " + UNKNOWN_REPLY],
                     "IMAP CLIENTID before STARTTLS is unknown")
        c.starttls("a2")
        tally.expect(PH, c.cmd("a3", "CLIENTID UUID " + tok) == ["a3 " + OK_REPLY],
                     "IMAP CLIENTID after STARTTLS is OK")
        c.close()

    def injected_after():
        # STARTTLS with CLIENTID behind it in one packet: the plaintext
        # CLIENTID must never count as sent over TLS
        c = imap_handshake_behind(imap, tally, "b1 STARTTLS\r\nb2 CLIENTID UUID %s\r\n" % tok,
                                  "b1", "IMAP STARTTLS+CLIENTID: %r",
                                  "IMAP STARTTLS+CLIENTID in one packet")
        if c is None:
            return
        lines = c.cmd("b3", "NOOP")
        tally.expect(PH, not any(x.startswith("b2 OK") for x in lines),
                     "IMAP injected CLIENTID accepted: %r" % lines)
        tally.expect(PH, c.cmd("b4", "CLIENTID UUID " + tok) == ["b4 " + OK_REPLY],
                     "IMAP CLIENTID after the injection")
        c.close()

    def same_packet_before():
        imap_pipelined(imap, tally, tok, False, "c", UNKNOWN_REPLY, "OK",
                       "IMAP CLIENTID+STARTTLS in one packet: %r %r", OK_REPLY,
                       "IMAP CLIENTID over the TLS that followed")

    def inside_tls():
        imap_pipelined(imap, tally, tok, True, "d", OK_REPLY, "BAD",
                       "IMAP CLIENTID+STARTTLS inside TLS: %r %r", AGAIN_REPLY,
                       "IMAP CLIENTID kept after a refused STARTTLS")

    def split_verb():
        # CLIENTID split across the STARTTLS boundary: its first half in clear
        c = imap_handshake_behind(imap, tally, "e1 STARTTLS\r\ne2 CLIENT", "e1",
                                  "IMAP STARTTLS: %r", "IMAP STARTTLS+half a CLIENTID")
        if c is None:
            return
        c.send("ID UUID %s\r\n" % tok)
        lines = c.cmd("e3", "NOOP")
        tally.expect(PH, not any(" OK CLIENTID" in x for x in lines),
                     "IMAP CLIENTID completed across STARTTLS: %r" % lines)
        c.close()

    run_cases(tally, "IMAP", (OSError, EOFError, AssertionError, ssl.SSLError),
              (before, injected_after, same_packet_before, inside_tls, split_verb))


def smtp_tls_cmd(tally, s, data):
    """STARTTLS got its 220, maybe with more bytes sent behind it: wraps s
    in TLS and sends data as a command. Its (code, text); None, counted as
    a pass and s closed, when the handshake or the reply failed."""
    try:
        s.sock = s.exim.ctx().wrap_socket(s.sock)
        s.buf = b""
        return s.cmd(data)
    except (ssl.SSLError, OSError):
        tally.add(PH, True)
        s.close()
        return None


def phase_starttls_smtp(smtp, tally):
    tok = b"st-%d" % random.getrandbits(40)
    exim = smtp.exim

    def before():
        s = SmtpConn(exim, tls=False)
        tally.expect(PH, s.cmd(b"CLIENTID UUID " + tok)[0] == 500,
                     "SMTP CLIENTID before STARTTLS is 500")
        tally.expect(PH, s.cmd(b"STARTTLS")[0] == 220, "SMTP STARTTLS")
        s.sock = exim.ctx().wrap_socket(s.sock)
        tally.expect(PH, s.cmd(b"EHLO h")[0] == 250, "SMTP EHLO after TLS")
        tally.expect(PH, s.cmd(b"CLIENTID UUID " + tok)[0] == 250, "SMTP CLIENTID after TLS")
        s.close()

    def injected_after():
        s = SmtpConn(exim, tls=False)
        s.send(b"STARTTLS\r\nCLIENTID UUID " + tok + b"\r\n")
        code, text = s.reply()
        tally.note("SMTP STARTTLS+CLIENTID in one packet: %r %s" % (code, text.splitlines()[0]
                                                                  if text else ""))
        tally.expect(PH, code in (220, 554), "SMTP STARTTLS+CLIENTID: %r %r" % (code, text))
        if code != 220:
            s.close()
            return
        got = smtp_tls_cmd(tally, s, b"EHLO h")
        if got is None:
            return
        code, text = got
        tally.expect(PH, code in (250, None), "SMTP EHLO after the injection: %r %r" % (code,
                                                                                      text))
        if code == 250:
            code, text = s.cmd(b"CLIENTID UUID " + tok)
            tally.expect(PH, code == 250, "SMTP CLIENTID after the injection: %r %r" % (code,
                                                                                     text))
        s.close()

    def same_packet_before():
        s = SmtpConn(exim, tls=False)
        s.send(b"CLIENTID UUID " + tok + b"\r\nSTARTTLS\r\n")
        code, text = s.reply()
        # unknown in clear; with input pending Exim may call it a sync error
        tally.expect(PH, code in (500, 554), "SMTP CLIENTID+STARTTLS: %r %r" % (code, text))
        code2, text2 = s.reply()
        tally.note("SMTP CLIENTID+STARTTLS in one packet: %r, then %r" % (code, code2))
        if code == 500 and code2 == 220:
            s.sock = exim.ctx().wrap_socket(s.sock)
            tally.expect(PH, s.cmd(b"EHLO h")[0] == 250, "SMTP EHLO")
            tally.expect(PH, s.cmd(b"CLIENTID UUID " + tok)[0] == 250,
                         "SMTP CLIENTID over the TLS that followed")
        else:
            tally.expect(PH, code2 != 250, "SMTP after CLIENTID+STARTTLS: %r %r" % (code2, text2))
        s.close()

    def inside_tls():
        s = SmtpConn(exim, tls=True)
        tally.expect(PH, s.cmd(b"CLIENTID UUID " + tok)[0] == 250, "SMTP CLIENTID over TLS")
        code, text = s.cmd(b"STARTTLS")
        tally.expect(PH, 500 <= (code or 0) < 600, "SMTP STARTTLS inside TLS: %r %r" % (code,
                                                                                     text))
        tally.expect(PH, s.cmd(b"CLIENTID UUID " + tok)[0] == 503, "SMTP second CLIENTID 503")
        s.close()

    def split_verb():
        s = SmtpConn(exim, tls=False)
        s.send(b"STARTTLS\r\nCLIENT")
        code, text = s.reply()
        if code != 220:
            tally.expect(PH, code == 554, "SMTP STARTTLS+half: %r %r" % (code, text))
            s.close()
            return
        got = smtp_tls_cmd(tally, s, b"ID UUID " + tok)
        if got is None:
            return
        code, text = got
        tally.expect(PH, code != 250, "SMTP CLIENTID across STARTTLS: %r %r" % (code, text))
        s.close()

    run_cases(tally, "SMTP", (OSError, EOFError, ssl.SSLError),
              (before, injected_after, same_packet_before, inside_tls, split_verb))
