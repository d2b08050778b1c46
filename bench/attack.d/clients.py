"""bench/attack: the clients. Legitimate devices (imaplib, smtplib), the
attackers written here (random CLIENTIDs, one stolen token), and hydra.

Every attempt becomes one Event: when it started (seconds since the attack
began), who made it, over which protocol, how it ended, how long the login
took. Tokens are never printed or stored by this module.
"""

import base64
import collections
import imaplib
import os
import re
import signal
import smtplib
import ssl
import subprocess
import threading
import time
import uuid

from harness.exim_policy import quit_quietly
from harness.net import client_ssl_context

imaplib.Commands.setdefault("CLIENTID", ("NONAUTH",))

TIMEOUT = 30.0  # seconds a client waits for any reply (Dovecot's penalty tops at 15 s)

Event = collections.namedtuple("Event", "t who proto outcome latency account")
# who: "legit", "hydra", "random", "stolen"
# outcome: "ok" (logged in), "refused" (NO / 535), "error" (anything else:
# timeout, connection refused or dropped, 4xx, ...)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        self.t0 = None  # monotonic time the attack starts

    def rel(self, t):
        return t - self.t0

    def add(self, t_start, who, proto, outcome, latency, account):
        with self.lock:
            self.events.append(Event(self.rel(t_start), who, proto, outcome, latency, account))


CTX = client_ssl_context()


def imap_attempt(port, user, password, token, always_send=False):
    """connect, STARTTLS, CAPABILITY, CLIENTID (when the server offers it, or
    always_send), LOGIN, LOGOUT. Returns (outcome, seconds to the LOGIN reply)."""
    t0 = time.monotonic()
    m = None
    try:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=TIMEOUT)
        m.starttls(ssl_context=CTX)  # imaplib asks CAPABILITY again after it
        if token is not None and (always_send or "CLIENTID" in m.capabilities):
            try:
                m._simple_command("CLIENTID", "UUID", token)
            except imaplib.IMAP4.error:
                pass  # BAD: a server without CLIENTID; go on with the password
        try:
            m.login(user, password)
        except imaplib.IMAP4.error:
            return "refused", time.monotonic() - t0
        took = time.monotonic() - t0
        try:
            m.logout()
        except (imaplib.IMAP4.abort, OSError):
            pass
        m = None
        return "ok", took
    except (OSError, imaplib.IMAP4.abort, ssl.SSLError, EOFError):
        return "error", time.monotonic() - t0
    finally:
        if m is not None:
            try:
                m.shutdown()
            except OSError:
                pass


def smtp_attempt(port, user, password, token, always_send=False, send=False):
    """connect, EHLO, STARTTLS, EHLO, CLIENTID (when offered, or always_send),
    AUTH PLAIN; with send and a success, one small message; QUIT. Returns
    (outcome, seconds to the AUTH reply); a message refused after a good
    AUTH makes the outcome "error"."""
    t0 = time.monotonic()
    s = None
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net",
                         timeout=TIMEOUT)
        s.ehlo()
        s.starttls(context=CTX)
        s.ehlo()
        if token is not None and (always_send or s.has_extn("clientid")):
            s.docmd("CLIENTID", "UUID " + token)
        auth = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        code, _ = s.docmd("AUTH", "PLAIN " + auth)
        took = time.monotonic() - t0
        if code != 235:
            return ("refused" if code == 535 else "error"), took
        if send:
            if s.docmd("MAIL", "FROM:<%s@example.com>" % user)[0] != 250 or \
                    s.docmd("RCPT", "TO:<someone@example.org>")[0] != 250 or \
                    s.docmd("DATA")[0] != 354:
                return "error", took
            s.send(b"Subject: bench/attack\r\n\r\nhello\r\n.\r\n")
            if s.getreply()[0] != 250:
                return "error", took
        return "ok", took
    except (OSError, smtplib.SMTPException, ssl.SSLError):
        return "error", time.monotonic() - t0
    finally:
        if s is not None:
            quit_quietly(s)
            try:
                s.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Legitimate devices

class Device:
    def __init__(self, n, account, password):
        self.n = n
        self.account = account
        self.password = password
        self.token = str(uuid.uuid4())


def legit_loop(rec, dev, ports, period, offset, stop):
    """Every period seconds (from offset): one IMAP login, then one
    submission. A device behind schedule starts its next session at once."""
    imap_port, smtp_port = ports
    nxt = time.monotonic() + offset
    while not stop.is_set():
        delay = nxt - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        nxt += period
        t = time.monotonic()
        out, lat = imap_attempt(imap_port, dev.account, dev.password, dev.token)
        rec.add(t, "legit", "imap", out, lat, dev.account)
        if stop.is_set():
            break
        t = time.monotonic()
        out, lat = smtp_attempt(smtp_port, dev.account, dev.password, dev.token, send=True)
        rec.add(t, "legit", "smtp", out, lat, dev.account)


# --------------------------------------------------------------------------
# Attackers written here: hydra cannot send CLIENTID

def attacker_loop(rec, who, proto, port, combos, token_of, stop, min_interval):
    """Walks combos (login, password) in order; token_of(i) gives the
    CLIENTID to send (always sent, offered or not). At most one attempt per
    min_interval seconds."""
    for i, (user, password) in enumerate(combos):
        if stop.is_set():
            return
        t = time.monotonic()
        if proto == "imap":
            out, lat = imap_attempt(port, user, password, token_of(i), always_send=True)
        else:
            out, lat = smtp_attempt(port, user, password, token_of(i), always_send=True)
        rec.add(t, who, proto, out, lat, user)
        rest = min_interval - (time.monotonic() - t)
        if rest > 0 and stop.wait(rest):
            return


def random_token(_i):
    return str(uuid.uuid4())


# --------------------------------------------------------------------------
# hydra

ATTEMPT_RE = re.compile(r'^\[ATTEMPT\] target \S+ - login "(.*)" - pass ".*" - \d+ of \d+')
FOUND_RE = re.compile(r"^\[\d+\]\[(imap|smtp)\] host: \S+\s+login: (\S+)\s+password: ")


class Hydra:
    """hydra against one service, with the leaked list as login:password
    pairs. -V prints every attempt as it starts; stdbuf makes that line
    buffered, so each line is timestamped as it comes."""

    def __init__(self, rec, proto, port, combos_file, tasks, workdir):
        self.rec = rec
        self.proto = proto
        url = ("imap://127.0.0.1:%d/TLS" if proto == "imap"
               else "smtp://127.0.0.1:%d/TLS:PLAIN") % port
        self.cmd = ["stdbuf", "-oL", "hydra", "-I", "-V", "-t", str(tasks), "-w", "32",
                    "-C", combos_file, "-o", os.path.join(workdir, "hydra-%s.found" % proto),
                    url]
        self.workdir = workdir
        self.proc = None
        self.reader = None
        self.attempts = []  # (t, login)
        self.found = []  # (t, login)
        self.output = collections.deque(maxlen=40)
        self.ended_early = False  # hydra finished before it was stopped

    def start(self):
        # its own session, so that stop() can end hydra and its children by
        # their process group (hydra's id); cwd for hydra.restore
        self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, errors="replace", start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            t = self.rec.rel(time.monotonic())
            line = line.rstrip("\n")
            self.output.append(line)
            m = ATTEMPT_RE.match(line)
            if m:
                self.attempts.append((t, m.group(1)))
                continue
            m = FOUND_RE.match(line)
            if m:
                self.found.append((t, m.group(2)))

    def stop(self):
        if self.proc is None or self.reader is None:
            return
        if self.proc.poll() is not None:
            self.ended_early = True
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.reader.join(5)
        self.reader = None
