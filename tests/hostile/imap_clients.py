"""The hostile IMAP clients against Dovecot's imap-login: harness.imap.Raw
connections, the reply read up to the tag or a BYE, the unknown-verb
comparison for lines in clear, the good login after every phase and the
random phase's IMAP worker."""

import random
import re

from harness.imap import AGAIN_REPLY, OK_REPLY, UNKNOWN_REPLY, Raw
from harness.net import client_ssl_context

IMAP_BYE = "* BYE Too many invalid IMAP commands."
PLAIN_TIMEOUT = 3        # seconds a plaintext IMAP client waits for a reply


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
        return self.exchange(False, tag.encode() + b" XCLIENTI " + rest, tag,
                             timeout=PLAIN_TIMEOUT)

    def exchange(self, tls, data, tag, timeout=10):
        """Sends data on a new connection: the reply lines up to tag's (see
        reply()); the connection is closed."""
        c = self.connect(tls=tls, timeout=timeout)
        try:
            c.send(data)
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


def imap_tls_wrap(c):
    c.sock = client_ssl_context().wrap_socket(c.sock)
