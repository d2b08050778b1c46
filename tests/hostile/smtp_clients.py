"""The hostile SMTP clients against the patched Exim: SmtpConn (exact bytes
out, whole replies in), the good login after every phase and the random
phase's SMTP worker."""

import random
import socket

from harness import exim as ex
from oracle import smtp_expect


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
