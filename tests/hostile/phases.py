"""The phases of the hostile run but STARTTLS's (starttls.py): random lines
from threads, slow clients, 1 MB lines, NUL bytes, and Exim's default
limits. Each adds its checks to the Tally under its own name."""

import socket
import ssl
import threading
import time

from harness.imap import OK_REPLY, UNKNOWN_REPLY
from imap_clients import Imap, imap_random_worker
from oracle import smtp_expect
from smtp_clients import SmtpConn, smtp_random_worker

HUGE = 1 << 20


def run_threads(fns):
    ts = [threading.Thread(target=f) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def phase_random(imap, smtp, verdicts, gens, lines, tally):
    per = lines // len(gens)
    fns = []
    for k, gen in enumerate(gens):
        if k % 2 == 0:
            fns.append(lambda g=gen: imap_random_worker(imap, verdicts, g, per, tally, 0.1))
        else:
            fns.append(lambda g=gen: smtp_random_worker(smtp, verdicts, g, per, tally, 0.1))
    run_threads(fns)


def phase_slowloris(imap, smtp, verdicts, gen, tally, conns, seconds):
    """conns connections per server send a line a byte or two at a time, all
    at once, over about seconds; as many more send half a line and stall."""
    slow = []      # (kind, conn, line, tls)
    stalled = []
    for i in range(conns):
        tls = i % 3 != 0
        args = gen.type_() + b" " + gen.token() if i % 2 else gen.args()[0]
        try:
            c = imap.connect(tls=tls)
            slow.append(("imap", c, b"w%d CLIENTID " % i + args, tls))
            s = SmtpConn(smtp.exim, tls=tls)
            slow.append(("smtp", s, b"CLIENTID " + args, tls))
            h = imap.connect(tls=tls)
            h.send(b"z%d CLIENTID UUID half-a-li" % i)
            stalled.append(h)
            h = SmtpConn(smtp.exim, tls=tls)
            h.send(b"CLIENTID UUID half-a-li")
            stalled.append(h)
        except (OSError, EOFError, AssertionError) as e:
            tally.add("slowloris", False, "connect: %s" % e)
    longest = max((len(x[2]) for x in slow), default=1) + 2
    step = seconds / longest
    pos = 0
    checked_midway = False
    while pos < longest:
        for kind, c, line, _tls in slow:
            piece = (line + b"\r\n")[pos:pos + 1]
            if piece:
                try:
                    c.send(piece)
                except OSError:
                    pass
        pos += 1
        if not checked_midway and pos >= longest // 2:
            # the servers serve others while the slow clients hang on
            checked_midway = True
            imap.good_login(tally, "slowloris")
            smtp.good_login(tally, "slowloris")
        time.sleep(step)
    for kind, c, line, tls in slow:
        if kind == "imap":
            tag = line.split(b" ", 1)[0].decode()
            got = Imap.reply(c, tag)
            if not tls:
                want = imap.unknown_reply(tag, line + b"\r\n")
            else:
                # sent with CRLF: the server reads the line and its CR
                ok = verdicts.imap(line + b"\r")
                want = [tag + " " + (OK_REPLY if ok else UNKNOWN_REPLY)]
            tally.expect("slowloris", got == want, "IMAP %r: got %r want %r" % (line, got, want))
        else:
            code, text = c.reply()
            want = smtp_expect(verdicts, line + b"\r", tls, False)
            tally.expect("slowloris", code == want, "SMTP %r: got %r %r want %r" % (line, code,
                                                                                  text, want))
        c.close()
    # a half line gets no answer: the server waits for the rest (they have
    # had the whole phase, and one more second, to answer)
    time.sleep(1.0)
    for h in stalled:
        h.sock.settimeout(0.01)
        try:
            data = h.sock.recv(4096)
            tally.expect("slowloris", False, "reply to half a line: %r" % data)
        except (socket.timeout, ssl.SSLError, TimeoutError):
            tally.add("slowloris", True)
        except OSError as e:
            tally.add("slowloris", False, "half line: %s" % e)
        h.close()


def send_huge(sock, data):
    """Sends data, stopping quietly when the server hangs up."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def phase_huge(imap, smtp, tally):
    bodies = [
        (b"CLIENTID UUID ", b"x" * HUGE),
        (b"CLIENTID ", b"A" * HUGE + b" tok"),
        (b"CLIENTID UUID ", b"\0" * HUGE),
        (b"", b"y" * HUGE),
    ]
    for tls in (True, False):
        for prefix, body in bodies:
            # IMAP: BAD (early, without buffering the line) or a disconnect
            try:
                c = imap.connect(tls=tls)
                sent = send_huge(c.sock, b"m1 " + prefix + body + b"\r\n")
                lines = []
                while True:
                    try:
                        lines.append(c.line())
                    except (EOFError, OSError):
                        break
                    if len(lines) > 50:
                        break
                c.close()
                # every reply is a BAD or a BYE; none at all when the
                # server hung up first (the line is past its input buffer)
                tally.expect("huge", all(" BAD " in ln or ln.startswith("* BYE")
                                         for ln in lines),
                             "IMAP 1 MB %r tls=%s sent=%s: %r" % (prefix, tls, sent, lines[:5]))
            except (OSError, EOFError, AssertionError) as e:
                tally.add("huge", False, "IMAP 1 MB connect: %s" % e)
            # SMTP: 5xx for each piece of the line, or 421/554 and a close
            try:
                s = SmtpConn(smtp.exim, tls=tls)
                send_huge(s.sock, prefix + body + b"\r\n")
                # Exim reads a long line in 16 kB pieces, each an unknown
                # command; once it is quiet, the session must still work
                s.sock.settimeout(2)
                codes = []
                while len(codes) < 200:
                    code, _text = s.reply()
                    if code is None:
                        break
                    codes.append(code)
                s.sock.settimeout(15)
                try:
                    after = s.cmd(b"NOOP")[0]
                except OSError:
                    after = None
                s.close()
                tally.expect("huge", codes and all(c in (500, 501) for c in codes) and
                             after == 250,
                             "SMTP 1 MB %r tls=%s: codes %r, then NOOP %r" % (
                                 prefix, tls, codes[:10], after))
            except (OSError, EOFError) as e:
                tally.add("huge", False, "SMTP 1 MB connect: %s" % e)


NUL_ARGS = [b"\0", b"UUID\0", b"UU\0ID tok", b"UUID \0tok", b"UUID to\0k", b"UUID tok\0",
            b"\0UUID tok", b"UUID\0tok", b"UUID tok \0", b"\0\0\0\0", b"UUID tok\0\r"]


def phase_nul(imap, smtp, verdicts, tally):
    for tls in (True, False):
        for args in NUL_ARGS:
            line = b"n1 CLIENTID " + args
            try:
                got = imap.exchange(tls, line + b"\r\n", "n1")
                want = (["n1 " + UNKNOWN_REPLY] if tls
                        else imap.unknown_reply("n1", line + b"\r\n"))
                tally.expect("nul", not verdicts.imap(line + b"\r") and got == want and
                             not any(" OK CLIENTID" in g for g in got),
                             "IMAP %r tls=%s: got %r, want %r" % (line, tls, got, want))
            except (OSError, EOFError, AssertionError) as e:
                tally.add("nul", False, "IMAP %r: %s" % (line, e))
            line = b"CLIENTID " + args
            try:
                s = SmtpConn(smtp.exim, tls=tls)
                code, text = s.cmd(line)
                s.close()
                tally.expect("nul", code == 501, "SMTP %r tls=%s: %r %r" % (line, tls, code, text))
            except (OSError, EOFError) as e:
                tally.add("nul", False, "SMTP %r: %s" % (line, e))
    # NUL in the IMAP tag and verb: imap-login's own parser, never OK
    for line in (b"\0 CLIENTID UUID tok", b"n\x002 CLIENTID UUID tok", b"n3 CLIENT\0ID UUID tok",
                 b"n4 \0CLIENTID UUID tok"):
        try:
            got = imap.exchange(True, line + b"\r\nn9 NOOP\r\n", "n9")
            tally.expect("nul", not any(" OK CLIENTID" in g for g in got) and
                         any(" BAD " in g or g.startswith("* BYE") for g in got),
                         "IMAP %r: %r" % (line, got))
        except (OSError, EOFError, AssertionError) as e:
            tally.add("nul", False, "IMAP %r: %s" % (line, e))



def phase_limits(exim_default, tally):
    """Exim's default limits: the fourth bad line ends the session;
    Dovecot's third BAD ends it with BYE (checked in the random phase)."""
    try:
        s = SmtpConn(exim_default, tls=True)
        replies = [s.cmd(b"CLIENTID UUID") for _ in range(5)]
        s.close()
        codes = [r[0] for r in replies]
        # the fourth error: its 501, then "501 Too many syntax or protocol
        # errors" in the same reply, and the connection ends
        tally.expect("limits", codes == [501, 501, 501, 501, None] and
                     "Too many syntax or protocol errors" in replies[3][1],
                     "SMTP default smtp_max_synprot_errors: %r" % replies)
    except (OSError, EOFError) as e:
        tally.add("limits", False, "SMTP limits: %s" % e)
    tally.expect("limits", exim_default.alive(), "default exim died")
