"""What every line sent must get, and the tally of what it got: the core
validator (verdict-cli) and the ABNF oracle (abnf.py) for the expectation,
Tally for the checks of every phase."""

import subprocess
import threading

import abnf


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



def smtp_expect(verdicts, line, tls, given):
    """The reply code line must get: see DESIGN.md section 1."""
    if b"\0" in line:
        return 501            # Exim refuses NUL before it looks at the verb
    v = verdicts.smtp(line)
    if v == 500 or not tls:
        return 500            # not CLIENTID, or CLIENTID not offered: unknown
    return 503 if given else v



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

