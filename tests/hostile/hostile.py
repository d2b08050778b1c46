#!/usr/bin/env python3
"""Hostile clients against the live servers: a real Dovecot with the clientid
login plugin and the patched Exim, started by the end-to-end harnesses
(tests/e2e/dovecot/dovecot_e2e.py, tests/e2e/exim/exim_e2e.py).

usage: hostile.py --plugin-dir DIR --verdict PATH [--exim PATH] [--full]
                  [--lines N] [--seed N] [--skip REASON] [--keep]

Phases, each against both servers:
  random     random and mutated CLIENTID lines (over TLS, a tenth in clear);
  slowloris  lines sent a few bytes at a time over many connections at once,
             and half lines left hanging;
  huge       1 MB lines (with and without the verb, of NULs, in clear and TLS);
  nul        NUL bytes in every part of a line;
  starttls   CLIENTID before, after and pipelined with STARTTLS in one packet.
Every reply is checked against what an oracle says of that line: for IMAP
the ABNF written again in Python (abnf.py, checked first against the
hand-labelled corpus), and every IMAP line on which the core validator
(verdict-cli) disagrees with it is a failure; for SMTP the core validator
(the rules of tests/corpus/README.md, the replies of DESIGN.md section 1),
which shares no code with the Exim patch's own check. After each phase
both servers must still be running and serve a good login (CLIENTID, then
LOGIN / AUTH PLAIN). At the end no accepted token
may appear in any log, Exim's panic log must be empty and Dovecot's log must
hold no panic, fatal error or killed process.

The Exim runs with smtp_max_synprot_errors, smtp_max_unknown_commands and
smtp_accept_max_nonmail raised, so that one session takes many bad lines, and
smtp_accept_max (20 connections by default) raised for the slow clients; the
"limits" phase checks the default limits on a second Exim. With --full,
Dovecot's default_process_limit (100 login processes) is raised likewise.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import argparse
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import abnf  # noqa: E402
from harness import exim as ex  # noqa: E402
from harness.results import record  # noqa: E402
from harness.dovecot import DOVECOT, PLUGIN_FILE, Dovecot
from harness.imap import AGAIN_REPLY, OK_REPLY, UNKNOWN_REPLY, Raw
from harness.net import client_ssl_context

SKIP = 77
TYPE_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
VCHARS = bytes(range(0x21, 0x7F))
# bytes that sit on the grammar's edges
EDGE_BYTES = b"\x00 \t\r\x0b\x0c\x7f\x80\xff\x01\x1f!~{}\"()%*\\[]-_.+:;=,"
IMAP_BYE = "* BYE Too many invalid IMAP commands."
MAX_LINE = 400           # random lines stay below the plugin's 512-byte limit
HUGE = 1 << 20
MAX_TOKEN_SEARCH = 3000
PLAIN_TIMEOUT = 3        # seconds a plaintext IMAP client waits for a reply

EXIM_LIMITS = ("smtp_accept_max = 1000\n"
               "smtp_max_synprot_errors = 100000\n"
               "smtp_max_unknown_commands = 100000\n"
               "smtp_accept_max_nonmail = 1000000\n")


# --------------------------------------------------------------------------
# Expectations from the core validator

class Verdicts:
    """The verdict-cli helper, one process for the run, shared by threads."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()
        self.disagree = []  # IMAP lines on which the two oracles differ

    def _ask(self, proto, line):
        with self.lock:
            self.proc.stdin.write(proto + b" " + line.hex().encode() + b"\n")
            self.proc.stdin.flush()
            return int(self.proc.stdout.readline())

    def imap(self, line):
        """line without its LF: True when the plugin must answer OK, by the
        independent ABNF oracle (abnf.py); a line on which the C validator
        disagrees is kept in self.disagree."""
        want = abnf.imap_ok(line)
        if (self._ask(b"imap", line) == 1) != want:
            with self.lock:
                self.disagree.append(line)
        return want

    def smtp(self, line):
        """line without its LF: 250, 501 or 500 on a TLS session with
        CLIENTID offered and none given yet."""
        return self._ask(b"smtp", line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------
# Lines

class Gen:
    """Random and mutated CLIENTID arguments, from a seeded generator."""

    def __init__(self, rng, corpus_args):
        self.rng = rng
        self.corpus_args = corpus_args
        self.fresh_tokens = set()   # accepted random tokens: must never be logged

    def type_(self):
        r = self.rng
        if r.random() < 0.3:
            return r.choice([b"UUID", b"uuid", b"IMEI", b"X-Vendor-1", b"-"])
        n = r.choice([1, 16, 17]) if r.random() < 0.2 else r.randint(1, 12)
        return bytes(r.choice(TYPE_CHARS) for _ in range(n))

    def token(self):
        r = self.rng
        n = r.choice([1, 127, 128, 129]) if r.random() < 0.2 else r.randint(1, 48)
        return bytes(r.choice(VCHARS) for _ in range(n))

    def mutate(self, b):
        r = self.rng
        b = bytearray(b)
        for _ in range(r.randint(1, 3)):
            op = r.randrange(8)
            pos = r.randint(0, len(b))
            if op == 0 and b:
                b[min(pos, len(b) - 1)] = r.choice(EDGE_BYTES)
            elif op == 1:
                b[pos:pos] = bytes([r.choice(EDGE_BYTES)])
            elif op == 2 and b:
                del b[min(pos, len(b) - 1)]
            elif op == 3:
                b[pos:pos] = b" " * r.randint(1, 3)
            elif op == 4:
                b += r.choice([b" ", b"\t", b" \t ", b"\r", b"\x0b", b" x"])
            elif op == 5:
                b[pos:] = b[pos:pos + r.randint(0, 4)]
            elif op == 6:
                b += bytes(r.choice(VCHARS) for _ in range(r.randint(1, 140)))
            else:
                b = bytearray(b.swapcase())
        return bytes(b).replace(b"\n", b"")[:MAX_LINE]

    def args(self):
        """(args, fresh): fresh when built from new random type and token."""
        r = self.rng
        x = r.random()
        if x < 0.4:
            return self.type_() + b" " + self.token(), True
        if x < 0.85:
            return self.mutate(self.type_() + b" " + self.token()), False
        return self.mutate(r.choice(self.corpus_args)), False

    def verb(self):
        """The verb, rarely mutated (then not a CLIENTID command at all)."""
        r = self.rng
        v = r.choice([b"CLIENTID", b"clientid", b"ClientId"])
        if r.random() < 0.03:
            m = self.mutate(v).replace(b" ", b"") or b"X"
            return m, m.upper() != b"CLIENTID"
        return v, False

    def ending(self):
        return b"\n" if self.rng.random() < 0.1 else b"\r\n"


def load_corpus_args(corpus_dir):
    """The argument part of every line of the grammar corpus."""
    out = []
    for proto in ("imap", "smtp"):
        d = os.path.join(corpus_dir, proto)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read().split(b"\n", 1)[0].rstrip(b"\r")
            if proto == "imap":
                data = data.split(b" ", 1)[-1]
            out.append(data[9:] if data[:8].upper() == b"CLIENTID" else data)
    return [a for a in out if a]


# --------------------------------------------------------------------------
# Results

class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
        self.stats = {}     # what was sent and what it had to get
        self.notes = []

    def count(self, key):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def note(self, text):
        with self.lock:
            self.notes.append(text)

    def add(self, phase, ok, what=""):
        with self.lock:
            c = self.counts.setdefault(phase, [0, 0])
            c[0 if ok else 1] += 1
            if not ok and len(self.failures) < 40:
                self.failures.append("%s: %s" % (phase, what))

    def expect(self, phase, cond, what):
        self.add(phase, bool(cond), what)
        return bool(cond)

    def failed(self):
        return sum(c[1] for c in self.counts.values())


# --------------------------------------------------------------------------
# IMAP (Dovecot)

class Imap:
    def __init__(self, dc):
        self.dc = dc

    def connect(self, tls, starttls=False, timeout=10):
        if starttls:
            c = Raw(self.dc, tls=False, timeout=timeout)
            c.starttls("s0")
            return c
        return Raw(self.dc, tls=tls, timeout=timeout)

    @staticmethod
    def reply(c, tag):
        """Lines up to the tagged reply, an untagged BYE, or the close."""
        lines = []
        while True:
            try:
                ln = c.line()
            except (EOFError, OSError) as e:
                lines.append("<closed: %s>" % type(e).__name__)
                return lines
            lines.append(ln)
            if ln.startswith(tag + " ") or ln.startswith("* BYE"):
                return lines

    def unknown_reply(self, tag, wire):
        """What imap-login answers on a fresh plaintext connection to the
        line wire (with its line end) with its verb replaced by an unknown
        one of the same length: before TLS, CLIENTID must get exactly that
        (DESIGN.md section 1)."""
        _tag, _verb, rest = (wire.split(b" ", 2) + [b"", b""])[:3]
        c = self.connect(tls=False, timeout=PLAIN_TIMEOUT)
        try:
            c.send(tag.encode() + b" XCLIENTI " + rest)
            return Imap.reply(c, tag)
        finally:
            c.close()

    def good_login(self, tally, phase):
        try:
            c = self.connect(tls=True)
            try:
                tok = "good-%d" % random.getrandbits(48)
                a = c.cmd("g1", "CLIENTID UUID " + tok)
                b = c.cmd("g2", "LOGIN joe password")
                # after the login the imap process does not know CLIENTID
                d = c.cmd("g3", "CLIENTID UUID " + tok)
            finally:
                c.close()
            ok = (a == ["g1 " + OK_REPLY] and b[-1].startswith("g2 OK") and
                  d[-1].startswith("g3 BAD"))
            tally.expect(phase, ok, "IMAP good login after %s: %r %r %r" % (phase, a, b, d))
        except (OSError, EOFError, AssertionError) as e:
            tally.add(phase, False, "IMAP good login after %s: %s" % (phase, e))
        tally.expect(phase, self.dc.alive(), "dovecot died")


def imap_random_worker(imap, verdicts, gen, n, tally, plaintext_share):
    """n lines, each checked; a connection lasts until OK, BYE or a
    non-CLIENTID line."""
    rng = gen.rng
    c = None
    bad = 0
    done = False
    tls = True
    for i in range(n):
        try:
            if c is None:
                tls = rng.random() >= plaintext_share
                tally.count("imap connections")
                # in clear, imap-login may wait for a literal ("{5+}" at
                # the end): as for an unknown command, so wait less
                c = imap.connect(tls=tls, starttls=tls and rng.random() < 0.3,
                                 timeout=10 if tls else PLAIN_TIMEOUT)
                bad, done = 0, False
            verb, verb_mutated = gen.verb()
            args, fresh = gen.args()
            tag = "h%d" % i
            line = tag.encode() + b" " + verb + b" " + args
            wire = line + gen.ending()
            c.send(wire)
            got = Imap.reply(c, tag)
            line = wire[:-1]   # as the server reads it: up to the LF
            if not tls and not verb_mutated:
                # one line per plaintext connection, against an unknown verb
                want = imap.unknown_reply(tag, wire)
                tally.count("imap lines in clear (reply compared with an unknown verb's)")
                tally.expect("random", got == want and not any(" OK CLIENTID" in g for g in got),
                             "IMAP plaintext %r: got %r, unknown verb got %r" % (line, got,
                                                                                 want))
                c.close()
                c = None
                continue
        except (OSError, EOFError, AssertionError) as e:
            tally.add("random", False, "IMAP connect/send: %s" % e)
            c = None
            continue
        if verb_mutated:
            tally.count("imap lines with a mutated verb (some BAD)")
            # not a CLIENTID command: imap-login's own reply, some BAD; or
            # none, when the line ends in what IMAP reads as a literal
            # (after a "+" continuation for a synchronizing one)
            waits = (got[-1:] == ["<closed: TimeoutError>"] and
                     all(g.startswith("+ ") for g in got[:-1]) and
                     re.search(rb"\{[0-9]+\+?\}\r?$", line) is not None)
            tally.expect("random", waits or (got and (" BAD " in got[-1] or
                                                     got[-1].startswith("* BYE"))),
                         "IMAP %r: %r" % (line, got))
            c.close()
            c = None
            continue
        if done:
            want = [tag + " " + AGAIN_REPLY]
        elif verdicts.imap(line):
            want = [tag + " " + OK_REPLY]
            if fresh and len(args.split(b" ", 1)[1]) >= 8:
                gen.fresh_tokens.add(args.split(b" ", 1)[1])
        else:
            bad += 1
            want = [IMAP_BYE] if bad >= 3 else [tag + " " + UNKNOWN_REPLY]
        tally.count("imap lines over TLS, expected " + (
            "OK" if want[0].endswith(OK_REPLY) else "BYE (3rd BAD)" if want[0] == IMAP_BYE
            else "BAD (already issued)" if done else "BAD"))
        tally.expect("random", got == want, "IMAP %r: got %r, want %r" % (line, got, want))
        if got != want or want[0] == IMAP_BYE or done:
            c.close()
            c = None
        elif want[0].endswith(OK_REPLY):
            done = True
            if rng.random() >= 0.3:
                c.close()
                c = None
    if c is not None:
        c.close()


# --------------------------------------------------------------------------
# SMTP (Exim)

class SmtpConn:
    """Raw SMTP: exact bytes out, whole replies in."""

    def __init__(self, exim, tls, starttls=False, ehlo=True, timeout=15):
        port = exim.port_tls if tls and not starttls else exim.port_plain
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls and not starttls:
            self.sock = exim.ctx().wrap_socket(self.sock)
        self.buf = b""
        self.exim = exim
        code, _ = self.reply()
        if code != 220:
            raise OSError("no greeting: %r" % code)
        if starttls:
            self.cmd(b"EHLO hostile.example.net")
            code, text = self.cmd(b"STARTTLS")
            if code != 220:
                raise OSError("STARTTLS: %r %r" % (code, text))
            self.sock = exim.ctx().wrap_socket(self.sock)
        self.ehlo_text = ""
        if ehlo:
            code, self.ehlo_text = self.cmd(b"EHLO hostile.example.net")
            if code != 250:
                raise OSError("EHLO: %r %r" % (code, self.ehlo_text))

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.rstrip(b"\r").decode("latin-1")

    def reply(self):
        """(code, text) of one reply, (None, reason) when the connection ends."""
        lines = []
        try:
            while True:
                ln = self.line()
                lines.append(ln)
                if len(ln) < 4 or ln[3] != "-":
                    break
        except (EOFError, OSError) as e:
            return None, "<closed: %s> %r" % (type(e).__name__, lines)
        try:
            return int(lines[-1][:3]), "\n".join(lines)
        except ValueError:
            return None, "<garbage> %r" % lines

    def cmd(self, data):
        self.send(data + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Smtp:
    def __init__(self, exim):
        self.exim = exim

    def good_login(self, tally, phase):
        try:
            s = SmtpConn(self.exim, tls=True)
            try:
                a = s.cmd(b"CLIENTID UUID good-%d" % random.getrandbits(48))
                b = s.cmd(b"AUTH PLAIN " + ex.b64("\0test\0" + ex.USERS["test"]).encode())
                d = s.cmd(b"CLIENTID UUID again")   # after AUTH: 503
            finally:
                s.close()
            tally.expect(phase, a[0] == 250 and b[0] == 235 and d[0] == 503,
                         "SMTP good login after %s: %r %r %r" % (phase, a, b, d))
        except (OSError, EOFError) as e:
            tally.add(phase, False, "SMTP good login after %s: %s" % (phase, e))
        tally.expect(phase, self.exim.alive(), "exim died")


def smtp_expect(verdicts, line, tls, given):
    """The reply code line must get: see DESIGN.md section 1."""
    if b"\0" in line:
        return 501            # Exim refuses NUL before it looks at the verb
    v = verdicts.smtp(line)
    if v == 500 or not tls:
        return 500            # not CLIENTID, or CLIENTID not offered: unknown
    return 503 if given else v


def smtp_random_worker(smtp, verdicts, gen, n, tally, plaintext_share):
    rng = gen.rng
    s = None
    given = False
    tls = True
    left = 0
    for _ in range(n):
        try:
            if s is not None and left <= 0:
                s.close()
                s = None
            if s is None:
                left = rng.randint(1, 40)   # lines on this connection
                tls = rng.random() >= plaintext_share
                s = SmtpConn(smtp.exim, tls=tls, starttls=tls and rng.random() < 0.3)
                tally.count("smtp connections")
                given = False
                offered = "CLIENTID" in s.ehlo_text
                tally.expect("random", offered == tls,
                             "SMTP: CLIENTID %s on %s" % ("offered" if offered else "not offered",
                                                          "TLS" if tls else "a clear session"))
            verb, _mutated = gen.verb()
            args, fresh = gen.args()
            wire = verb + b" " + args + gen.ending()
            line = wire[:-1]   # as the server reads it: up to the LF
            left -= 1
            s.send(wire)
            code, text = s.reply()
        except (OSError, EOFError) as e:
            tally.add("random", False, "SMTP connect/send: %s" % e)
            s = None
            continue
        want = smtp_expect(verdicts, line, tls, given)
        tally.count("smtp lines %s, expected %d" % ("over TLS" if tls else "in clear", want))
        tally.expect("random", code == want, "SMTP %r: got %r %r, want %r" % (line, code, text,
                                                                             want))
        if code != want or code is None:
            s.close()
            s = None
            continue
        if code == 250:
            given = True
            if fresh and len(args.split(b" ", 1)[1]) >= 8:
                gen.fresh_tokens.add(args.split(b" ", 1)[1])
        if given and (code == 503 or rng.random() >= 0.3):
            # a new EHLO discards the client id
            code, text = s.cmd(b"EHLO hostile.example.net")
            tally.expect("random", code == 250, "SMTP EHLO reset: %r %r" % (code, text))
            given = False
    if s is not None:
        s.close()


# --------------------------------------------------------------------------
# Phases

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
                c = imap.connect(tls=tls)
                c.send(line + b"\r\n")
                got = Imap.reply(c, "n1")
                c.close()
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
            c = imap.connect(tls=True)
            c.send(line + b"\r\nn9 NOOP\r\n")
            got = Imap.reply(c, "n9")
            c.close()
            tally.expect("nul", not any(" OK CLIENTID" in g for g in got) and
                         any(" BAD " in g or g.startswith("* BYE") for g in got),
                         "IMAP %r: %r" % (line, got))
        except (OSError, EOFError, AssertionError) as e:
            tally.add("nul", False, "IMAP %r: %s" % (line, e))


def imap_tls_wrap(c):
    c.sock = client_ssl_context().wrap_socket(c.sock)


def phase_starttls_imap(imap, tally):
    tok = "st-%d" % random.getrandbits(40)
    ph = "starttls"

    def case(name, fn):
        try:
            fn()
        except (OSError, EOFError, AssertionError, ssl.SSLError) as e:
            tally.add(ph, False, "IMAP %s: %s" % (name, e))

    def before():
        c = imap.connect(tls=False)
        tally.expect(ph, c.cmd("a1", "CLIENTID UUID " + tok) == ["a1 " + UNKNOWN_REPLY],
                     "IMAP CLIENTID before STARTTLS is unknown")
        c.starttls("a2")
        tally.expect(ph, c.cmd("a3", "CLIENTID UUID " + tok) == ["a3 " + OK_REPLY],
                     "IMAP CLIENTID after STARTTLS is OK")
        c.close()

    def injected_after():
        # STARTTLS with CLIENTID behind it in one packet: the plaintext
        # CLIENTID must never count as sent over TLS
        c = imap.connect(tls=False)
        c.send("b1 STARTTLS\r\nb2 CLIENTID UUID %s\r\n" % tok)
        ln = c.line()
        tally.expect(ph, ln.startswith("b1 OK"), "IMAP STARTTLS+CLIENTID: %r" % ln)
        try:
            imap_tls_wrap(c)
        except (ssl.SSLError, OSError) as e:
            tally.note("IMAP STARTTLS+CLIENTID in one packet: handshake failed (%s)" % e)
            tally.add(ph, True)   # the injected bytes broke the handshake
            c.close()
            return
        lines = c.cmd("b3", "NOOP")
        tally.expect(ph, not any(x.startswith("b2 OK") for x in lines),
                     "IMAP injected CLIENTID accepted: %r" % lines)
        tally.expect(ph, c.cmd("b4", "CLIENTID UUID " + tok) == ["b4 " + OK_REPLY],
                     "IMAP CLIENTID after the injection")
        c.close()

    def same_packet_before():
        c = imap.connect(tls=False)
        c.send("c1 CLIENTID UUID %s\r\nc2 STARTTLS\r\n" % tok)
        a, b = c.line(), c.line()
        tally.expect(ph, a == "c1 " + UNKNOWN_REPLY and b.startswith("c2 OK"),
                     "IMAP CLIENTID+STARTTLS in one packet: %r %r" % (a, b))
        imap_tls_wrap(c)
        tally.expect(ph, c.cmd("c3", "CLIENTID UUID " + tok) == ["c3 " + OK_REPLY],
                     "IMAP CLIENTID over the TLS that followed")
        c.close()

    def inside_tls():
        c = imap.connect(tls=True)
        c.send("d1 CLIENTID UUID %s\r\nd2 STARTTLS\r\n" % tok)
        a, b = c.line(), c.line()
        tally.expect(ph, a == "d1 " + OK_REPLY and b.startswith("d2 BAD"),
                     "IMAP CLIENTID+STARTTLS inside TLS: %r %r" % (a, b))
        tally.expect(ph, c.cmd("d3", "CLIENTID UUID " + tok) == ["d3 " + AGAIN_REPLY],
                     "IMAP CLIENTID kept after a refused STARTTLS")
        c.close()

    def split_verb():
        # CLIENTID split across the STARTTLS boundary: its first half in clear
        c = imap.connect(tls=False)
        c.send("e1 STARTTLS\r\ne2 CLIENT")
        ln = c.line()
        tally.expect(ph, ln.startswith("e1 OK"), "IMAP STARTTLS: %r" % ln)
        try:
            imap_tls_wrap(c)
        except (ssl.SSLError, OSError) as e:
            tally.note("IMAP STARTTLS+half a CLIENTID: handshake failed (%s)" % e)
            tally.add(ph, True)
            c.close()
            return
        c.send("ID UUID %s\r\n" % tok)
        lines = c.cmd("e3", "NOOP")
        tally.expect(ph, not any(" OK CLIENTID" in x for x in lines),
                     "IMAP CLIENTID completed across STARTTLS: %r" % lines)
        c.close()

    for name, fn in (("before", before), ("injected after", injected_after),
                     ("same packet before", same_packet_before), ("inside TLS", inside_tls),
                     ("split verb", split_verb)):
        case(name, fn)


def phase_starttls_smtp(smtp, tally):
    tok = b"st-%d" % random.getrandbits(40)
    ph = "starttls"
    exim = smtp.exim

    def case(name, fn):
        try:
            fn()
        except (OSError, EOFError, ssl.SSLError) as e:
            tally.add(ph, False, "SMTP %s: %s" % (name, e))

    def before():
        s = SmtpConn(exim, tls=False)
        tally.expect(ph, s.cmd(b"CLIENTID UUID " + tok)[0] == 500,
                     "SMTP CLIENTID before STARTTLS is 500")
        tally.expect(ph, s.cmd(b"STARTTLS")[0] == 220, "SMTP STARTTLS")
        s.sock = exim.ctx().wrap_socket(s.sock)
        tally.expect(ph, s.cmd(b"EHLO h")[0] == 250, "SMTP EHLO after TLS")
        tally.expect(ph, s.cmd(b"CLIENTID UUID " + tok)[0] == 250, "SMTP CLIENTID after TLS")
        s.close()

    def injected_after():
        s = SmtpConn(exim, tls=False)
        s.send(b"STARTTLS\r\nCLIENTID UUID " + tok + b"\r\n")
        code, text = s.reply()
        tally.note("SMTP STARTTLS+CLIENTID in one packet: %r %s" % (code, text.splitlines()[0]
                                                                  if text else ""))
        tally.expect(ph, code in (220, 554), "SMTP STARTTLS+CLIENTID: %r %r" % (code, text))
        if code != 220:
            s.close()
            return
        try:
            s.sock = exim.ctx().wrap_socket(s.sock)
            s.buf = b""
            code, text = s.cmd(b"EHLO h")
        except (ssl.SSLError, OSError):
            tally.add(ph, True)
            s.close()
            return
        tally.expect(ph, code in (250, None), "SMTP EHLO after the injection: %r %r" % (code,
                                                                                      text))
        if code == 250:
            code, text = s.cmd(b"CLIENTID UUID " + tok)
            tally.expect(ph, code == 250, "SMTP CLIENTID after the injection: %r %r" % (code,
                                                                                     text))
        s.close()

    def same_packet_before():
        s = SmtpConn(exim, tls=False)
        s.send(b"CLIENTID UUID " + tok + b"\r\nSTARTTLS\r\n")
        code, text = s.reply()
        # unknown in clear; with input pending Exim may call it a sync error
        tally.expect(ph, code in (500, 554), "SMTP CLIENTID+STARTTLS: %r %r" % (code, text))
        code2, text2 = s.reply()
        tally.note("SMTP CLIENTID+STARTTLS in one packet: %r, then %r" % (code, code2))
        if code == 500 and code2 == 220:
            s.sock = exim.ctx().wrap_socket(s.sock)
            tally.expect(ph, s.cmd(b"EHLO h")[0] == 250, "SMTP EHLO")
            tally.expect(ph, s.cmd(b"CLIENTID UUID " + tok)[0] == 250,
                         "SMTP CLIENTID over the TLS that followed")
        else:
            tally.expect(ph, code2 != 250, "SMTP after CLIENTID+STARTTLS: %r %r" % (code2, text2))
        s.close()

    def inside_tls():
        s = SmtpConn(exim, tls=True)
        tally.expect(ph, s.cmd(b"CLIENTID UUID " + tok)[0] == 250, "SMTP CLIENTID over TLS")
        code, text = s.cmd(b"STARTTLS")
        tally.expect(ph, 500 <= (code or 0) < 600, "SMTP STARTTLS inside TLS: %r %r" % (code,
                                                                                     text))
        tally.expect(ph, s.cmd(b"CLIENTID UUID " + tok)[0] == 503, "SMTP second CLIENTID 503")
        s.close()

    def split_verb():
        s = SmtpConn(exim, tls=False)
        s.send(b"STARTTLS\r\nCLIENT")
        code, text = s.reply()
        if code != 220:
            tally.expect(ph, code == 554, "SMTP STARTTLS+half: %r %r" % (code, text))
            s.close()
            return
        try:
            s.sock = exim.ctx().wrap_socket(s.sock)
            s.buf = b""
            s.send(b"ID UUID " + tok + b"\r\n")
            code, text = s.reply()
        except (ssl.SSLError, OSError):
            tally.add(ph, True)
            s.close()
            return
        tally.expect(ph, code != 250, "SMTP CLIENTID across STARTTLS: %r %r" % (code, text))
        s.close()

    for name, fn in (("before", before), ("injected after", injected_after),
                     ("same packet before", same_packet_before), ("inside TLS", inside_tls),
                     ("split verb", split_verb)):
        case(name, fn)


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


# --------------------------------------------------------------------------
# Servers and logs

def start_exim(binary, limits):
    e = ex.Exim(binary)
    if limits:
        with open(e.conf) as f:
            conf = f.read()
        # main options, before the first ACL setting of the harness's file
        conf = conf.replace("\nacl_smtp_clientid = ",
                            "\n" + EXIM_LIMITS + "acl_smtp_clientid = ", 1)
        if EXIM_LIMITS not in conf:
            raise RuntimeError("the Exim harness's configuration changed: no acl_smtp_clientid")
        with open(e.conf, "w") as f:
            f.write(conf)
    return e.start()


def check_logs(dc, exims, tokens, tally, rng):
    dlog = dc.logs_bytes()
    tally.expect("logs", b"imap-login:" in dlog, "no imap-login lines in Dovecot's log")
    for bad in (b"Panic:", b"Fatal:", b"killed with signal", b"dumped core"):
        tally.expect("logs", bad not in dlog, "Dovecot log holds %r" % bad)
    for e in exims:
        logs = e.logs()
        tally.expect("logs", not logs.get("paniclog"), "Exim paniclog: %r" %
                     logs.get("paniclog", b"")[:500])
    # the logs are really there and really read
    tally.expect("logs", b"CLIENTID" in exims[0].logs().get("mainlog", b""),
                 "Exim mainlog has no CLIENTID lines (log_selector = +all)")
    logs = [dlog] + [d for e in exims for d in e.logs().values()]
    # each search reads every log: a sample bounds the time of long runs
    sample = sorted(tokens)
    if len(sample) > MAX_TOKEN_SEARCH:
        sample = rng.sample(sample, MAX_TOKEN_SEARCH)
    leaked = [t for t in sample if any(t in d for d in logs)]
    tally.expect("logs", not leaked, "accepted tokens found in logs: %r" % leaked[:5])
    print("# log check: %d of %d accepted random tokens searched for in %d logs (%d kB)" % (
        len(sample), len(tokens), len(logs), sum(len(d) for d in logs) // 1024))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--verdict", default="")
    ap.add_argument("--exim", default="")
    ap.add_argument("--corpus", default=os.path.join(REPO, "tests", "corpus"))
    ap.add_argument("--full", action="store_true",
                    help="the long run: 100,000 lines, 150 slow clients over 60 s")
    ap.add_argument("--lines", type=int, default=0,
                    help="random lines, both servers together (default 10000; --full 100000)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--phases", default="random,slowloris,huge,nul,starttls,limits",
                    help="comma-separated phases to run")
    ap.add_argument("--skip", default="")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    if a.skip:
        print("SKIP: " + a.skip)
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: the hostile-client tests start Dovecot and Exim and need root")
        return SKIP
    if not os.path.isfile(os.path.join(a.plugin_dir, PLUGIN_FILE)):
        print("SKIP: %s not built in %r" % (PLUGIN_FILE, a.plugin_dir))
        return SKIP
    if not os.access(DOVECOT, os.X_OK):
        print("SKIP: %s not found" % DOVECOT)
        return SKIP
    exim_bin = a.exim or os.environ.get("CLIENTID_EXIM") or ex.find_exim(
        argparse.Namespace(exim=None, build_exim=None))
    if not exim_bin or not os.access(exim_bin, os.X_OK):
        print("SKIP: patched Exim not built (exim-module/build-exim fast, or CLIENTID_EXIM)")
        return SKIP
    if not os.access(a.verdict, os.X_OK):
        print("SKIP: verdict-cli not built (%r)" % a.verdict)
        return SKIP

    lines = a.lines or (100000 if a.full else 10000)
    slow_conns, slow_secs = (150, 60.0) if a.full else (24, 6.0)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    print("# hostile: seed %d (--seed to repeat), %d random lines, %d slow clients per server"
          % (seed, lines, slow_conns))
    corpus_args = load_corpus_args(a.corpus)
    gens = [Gen(random.Random(seed + k), corpus_args) for k in range(4)]

    tally = Tally()
    verdicts = Verdicts(a.verdict)
    dc = Dovecot(a.plugin_dir, "hostile", keep=a.keep,
                    extra_conf="default_process_limit = 1000\n" if a.full else "")
    exims = []
    t0 = time.time()
    try:
        wrong = abnf.check_corpus(os.path.join(a.corpus, "imap"))
        tally.expect("oracle", not wrong, "abnf.py disagrees with the IMAP corpus: %s" % wrong)
        dc.start()
        exims.append(start_exim(exim_bin, limits=True))
        exims.append(start_exim(exim_bin, limits=False))
        imap, smtp = Imap(dc), Smtp(exims[0])
        imap.good_login(tally, "start")
        smtp.good_login(tally, "start")
        phases = [
            ("random", lambda: phase_random(imap, smtp, verdicts, gens, lines, tally)),
            ("slowloris", lambda: phase_slowloris(imap, smtp, verdicts, gens[0], tally,
                                                  slow_conns, slow_secs)),
            ("huge", lambda: phase_huge(imap, smtp, tally)),
            ("nul", lambda: phase_nul(imap, smtp, verdicts, tally)),
            ("starttls", lambda: (phase_starttls_imap(imap, tally),
                                  phase_starttls_smtp(smtp, tally))),
            ("limits", lambda: phase_limits(exims[1], tally)),
        ]
        for name, fn in phases:
            if name not in a.phases.split(","):
                print("# phase %-9s not run (--phases)" % name)
                continue
            t = time.time()
            fn()
            imap.good_login(tally, name)
            smtp.good_login(tally, name)
            c = tally.counts.get(name, [0, 0])
            print("# phase %-9s %6d checks passed, %d failed (%.1f s)" % (name, c[0], c[1],
                                                                         time.time() - t))
            sys.stdout.flush()
        tokens = set()
        for g in gens:
            tokens |= g.fresh_tokens
        dc.stop()
        for e in exims:
            e.stop()
        check_logs(dc, exims, tokens, tally, random.Random(seed))
        tally.expect("oracle", not verdicts.disagree,
                     "the C validator and abnf.py disagree on %d IMAP lines, first %r"
                     % (len(verdicts.disagree), verdicts.disagree[:3]))
    except (Exception, KeyboardInterrupt):  # noqa: BLE001
        traceback.print_exc()
        tally.add("harness", False, "the run stopped early")
    finally:
        verdicts.close()
        dc.cleanup()
        for e in exims:
            e.stop()
            e.cleanup(a.keep)
    for k in sorted(tally.stats):
        print("# count %-62s %6d" % (k, tally.stats[k]))
    for n in tally.notes:
        print("# note: " + n)
    for f in tally.failures:
        print("FAIL " + f)
    total_ok = sum(c[0] for c in tally.counts.values())
    for name in sorted(tally.counts):
        c = tally.counts[name]
        print("hostile %-9s passed=%d failed=%d" % (name, c[0], c[1]))
        # one result per phase: its thousands of line checks are its detail
        record("FAIL" if c[1] else "PASS", "phase " + name,
               "%d of %d checks failed" % (c[1], c[0] + c[1]) if c[1] else "")
    print("BENCH hostile lines=%d checks=%d failed=%d seconds=%.0f seed=%d" % (
        lines, total_ok + tally.failed(), tally.failed(), time.time() - t0, seed))
    if tally.failed():
        print("FAIL: hostile clients: %d of %d checks failed" % (tally.failed(),
                                                                 total_ok + tally.failed()))
        return 1
    print("PASS: hostile clients: all %d checks passed; Dovecot and Exim stayed up" % total_ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
