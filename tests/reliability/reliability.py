#!/usr/bin/env python3
"""The reliability suite: a soak and faults during load, on a real Dovecot
(with the clientid imap-login plugin and the clientid-policy service) and
the patched Exim (with clientid.so), both on ONE policy store.

The servers come from the end-to-end harnesses, reused as they are
(tests/e2e/dovecot-policy/policy_e2e.py on tests/e2e/dovecot/dovecot_e2e.py,
tests/e2e/exim-policy/exim_policy_e2e.py on tests/e2e/exim/exim_e2e.py),
wired to one clientid.conf, secret and store the way tests/demo/demo.py does.
The store lives on a small tmpfs of its own, so that the disk-full and
read-only cases can act on it.

usage: reliability.py [--build-dir DIR] [--exim PATH] [--soak-seconds N]
                      [--only NAME[,NAME...]] [--keep] [--skip REASON]

Prints one "PASS name", "FAIL name: why" or "SKIP name (why)" line per
case and ends with "N passed, N failed, N skipped". Exit status: 0 when
nothing failed, 1 on a failure, 77 when the suite cannot run here (with
the reason). No check is a timing target: every wait is a generous
deadline for something to happen.
"""

import argparse
import collections
import grp
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "demo"))
import demo  # noqa: E402
from harness.results import record  # noqa: E402
from harness import exim_policy, policy_service
from harness.dovecot import DOVECOT
from harness.exim import EXIM_USER, b64
from harness.exim_policy import PolicyExim
from harness.imap import FAIL_REPLY, OK_REPLY, TEMPFAIL_REPLY, UNKNOWN_REPLY, Raw, rest_of, tls_client
from harness.policy_service import PolicyServer, pw

SKIP = 77
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

# Accounts: u* have one trusted device each and log in legitimately; v* are
# the attacker's targets (their password is leaked). Passwords follow the
# Dovecot harness's rule "<user>-pw".
LEGIT = ["u%02d" % i for i in range(1, 7)]
TARGETS = ["v%02d" % i for i in range(1, 5)]
SPARE = ["w%02d" % i for i in range(1, 5)]  # for decisions made by hand
ACCOUNTS = LEGIT + TARGETS + SPARE

DEVICE_FAIL_LIMIT = 4
DEVICE_MAX_ACCOUNTS = 3
STORE_FS_SIZE = "24m"
MAP_SIZE = "2M"

# What a log must never say while nothing was done to the servers.
BAD_LOG = re.compile(r"segfault|Panic|panic:|Fatal|killed with signal|core dumped|"
                     r"crash|MDB_|mdb_|LMDB|lmdb|store failed|store_error|error=",
                     re.IGNORECASE)


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


# --------------------------------------------------------------------------
# The two servers on one store


class Servers:
    """Dovecot with the policy service and Exim with clientid.so, sharing
    one clientid.conf, secret and store (on its own tmpfs when mount is
    permitted)."""

    def __init__(self, bins, scratch, faketime_file=None):
        self.bins = bins
        self.scratch = scratch
        self.fs = os.path.join(scratch, "fs")
        os.mkdir(self.fs)
        self.mounted = False
        self.mount_error = ""
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % STORE_FS_SIZE,
                            "clientid-rel", self.fs], capture_output=True, text=True)
        if r.returncode == 0:
            self.mounted = True
        else:
            self.mount_error = (r.stderr or r.stdout).strip() or "mount failed"
        self.store = os.path.join(self.fs, "store")
        os.mkdir(self.store)
        exim_gid = grp.getgrnam(EXIM_USER).gr_gid
        os.chown(self.store, 0, exim_gid)
        os.chmod(self.store, 0o2770)
        self.ro_bound = False
        self.faketime_file = faketime_file

        for u in ACCOUNTS:
            if u not in policy_service.USERS:
                policy_service.USERS.append(u)
        self.ps = RelPolicyServer(bins, "rel", store_path=self.store)
        os.chown(self.ps.secret, 0, exim_gid)  # Exim reads it as Debian-exim
        os.chmod(self.ps.secret, 0o640)
        with open(self.ps.secret, "rb") as f:
            self.secret = f.read()
        # generous timeouts: a loaded 2-core machine is slow, not broken
        dc = self.ps.dc
        dc.extra_conf = dc.extra_conf.replace("auth_policy_server_timeout_msecs = 2000",
                                              "auth_policy_server_timeout_msecs = 20000")
        if faketime_file:
            # only the service's clock is faked; the monotonic clock is not,
            # so timeouts and delays stay real
            plain = "executable = %s" % self.ps.service
            check(plain in dc.extra_conf, "unexpected Dovecot configuration from the harness")
            dc.extra_conf = dc.extra_conf.replace(
                plain,
                "executable = /usr/bin/env LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s "
                "FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1 %s"
                % (FAKETIME_LIB, faketime_file, self.ps.service))
        exim_policy.USERS.clear()
        for u in ACCOUNTS:
            exim_policy.USERS[u] = pw(u)
        self.ex = PolicyExim(bins, mode="enforce", fail_delay="200ms")
        with open(self.ex.conf) as f:
            conf = f.read()
        own = "CLIENTID_CONF = %s/clientid/clientid.conf" % self.ex.dir
        check(own in conf, "unexpected Exim configuration from the harness")
        with open(self.ex.conf, "w") as f:
            f.write(conf.replace(own, "CLIENTID_CONF = %s" % self.ps.conf))
        shutil.rmtree(os.path.join(self.ex.dir, "clientid"))
        self.ex.policy = self.ps.conf
        if faketime_file:
            self.ex.binary = self._faketime_exim(bins.exim)
        # a SIGHUP makes the daemon re-execute exim_path (default
        # /usr/sbin/exim4, which need not be this binary, or exist)
        with open(self.ex.conf) as f:
            conf = f.read()
        head = "exim_path = %s\n" % self.ex.binary
        if faketime_file:
            # Exim empties its environment at start, and libfaketime reads
            # these whenever it refreshes its clock
            head += ("keep_environment = LD_PRELOAD : FAKETIME_TIMESTAMP_FILE : "
                     "FAKETIME_CACHE_DURATION : FAKETIME_DONT_FAKE_MONOTONIC\n")
        with open(self.ex.conf, "w") as f:
            f.write(head + conf)

    def _faketime_exim(self, exim):
        """A wrapper that starts the Exim daemon with libfaketime preloaded:
        its connection processes are forked from it, so they share its clock."""
        path = os.path.join(self.scratch, "exim-faketime")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/env LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s "
                    "FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1 %s \"$@\"\n"
                    % (FAKETIME_LIB, self.faketime_file, exim))
        os.chmod(path, 0o755)
        return path

    def start(self):
        self.ps.start()
        self.ex.start()

    def stop(self):
        try:
            self.ex.stop()
        finally:
            try:
                self.ps.dc.stop()
            finally:
                self.unbind_ro()
                if self.mounted:
                    subprocess.run(["umount", "-l", self.fs], capture_output=True)
                    self.mounted = False

    # --- the store ---------------------------------------------------------

    def ctl(self, *args, ok=True, stdin=None):
        p = subprocess.run([self.bins.clientidctl, "-c", self.ps.conf] + list(args),
                           input=stdin, capture_output=True, text=True, timeout=120)
        if ok and p.returncode != 0:
            raise Failure("clientidctl %s failed (exit %d): %s"
                          % (" ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
        return p

    def fp(self, token, typ="UUID"):
        """The full fingerprint, as clientidctl shows it."""
        return hmac.new(self.secret, (typ + ":" + token).encode(), hashlib.sha256).hexdigest()

    def devices(self, account):
        out = self.ctl("--json", "list", account).stdout.strip()
        data = json.loads(out) if out else []
        if isinstance(data, dict):
            data = data.get("devices", [])
        return {d["fingerprint"]: d for d in data}

    def show(self, account, fp):
        """One device of an account, also one the account knows only from
        its routine data (a device that only ever failed a password there:
        `list` leaves those out)."""
        p = self.ctl("--json", "show", account, fp, ok=False)
        if p.returncode == 5:
            return None
        check(p.returncode == 0, "clientidctl show %s %s: exit %d %s"
              % (account, fp[:12], p.returncode, p.stderr.strip()))
        return json.loads(p.stdout)

    def all_devices(self):
        return {a: self.devices(a) for a in ACCOUNTS}

    def store_check(self):
        p = self.ctl("check", ok=False)
        check(p.returncode == 0, "clientidctl check failed (exit %d): %s"
              % (p.returncode, (p.stdout + p.stderr).strip()[-800:]))
        return p.stdout

    def bind_ro(self):
        """A read-only bind mount over the store directory: every open of
        the store from now on is on a read-only file system. (A plain
        `mount -o remount,ro` is refused while the servers hold the files
        open for writing.)"""
        r = subprocess.run(["mount", "--bind", self.store, self.store],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return (r.stderr or r.stdout).strip() or "mount failed"
        self.ro_bound = True
        # Under load a server may open a store file for writing through the
        # new bind mount before it is made read-only, and the remount then
        # fails with EBUSY ("mount point is busy") until it closes it.
        for _ in range(50):
            r = subprocess.run(["mount", "-o", "remount,bind,ro", self.store],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return ""
            time.sleep(0.1)
        self.unbind_ro()
        return (r.stderr or r.stdout).strip() or "mount failed"

    def unbind_ro(self):
        if self.ro_bound:
            subprocess.run(["umount", self.store], capture_output=True)
            self.ro_bound = False

    # --- logs --------------------------------------------------------------

    def dovecot_log(self):
        return self.ps.log()

    def exim_log(self):
        return self.ex.mainlog()

    def exim_panic(self):
        return self.ex.logs().get("paniclog", b"").decode("latin-1")

    def marks(self):
        return (len(self.dovecot_log()), len(self.exim_log()), len(self.exim_panic()))

    def since(self, marks):
        return (self.dovecot_log()[marks[0]:], self.exim_log()[marks[1]:],
                self.exim_panic()[marks[2]:])


class RelPolicyServer(PolicyServer):
    """policy_e2e.PolicyServer with this suite's clientid.conf."""

    def write_conf(self, broken=False):
        # Every client of the suite shares 127.0.0.1, and failures of
        # untrusted devices count toward their address: a reachable address
        # limit would refuse every new device (stolen, walker, the fault
        # cases' probes) within seconds of the guessers starting. The
        # address limit has its own unit and end-to-end tests.
        text = ("[general]\nsecret_file = %s\n\n[store]\npath = %s\non_error = %s\n"
                "map_size = %s\n\n[policy]\nmode = %s\npending_max_devices = 1000\n\n"
                "[limits]\ndevice_fail_limit = %d\ndevice_fail_window = 15m\n"
                "ip_fail_limit = 1000000\nip_fail_window = 15m\ndevice_max_accounts = %d\n"
                "device_accounts_window = 1d\n"
                % (self.secret, self.store, self.on_error, MAP_SIZE, self.mode,
                   DEVICE_FAIL_LIMIT, DEVICE_MAX_ACCOUNTS))
        if broken:
            text += "no_such_key = 1\n"
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def __init__(self, bins, name, store_path):
        super().__init__(bins, name, mode="enforce", store_path=store_path)


# --------------------------------------------------------------------------
# Clients: one attempt each, classified by the reply


def imap_attempt(srv, user, password, token):
    """'ok', 'refused' (the generic failure), 'tempfail' (NO [UNAVAILABLE]),
    'other:<reply>', or 'error:<what>' when no reply to LOGIN came (sent is
    then unknown)."""
    c = None
    try:
        c = tls_client(srv.ps.dc, "starttls")
        if token is not None:
            r = c.cmd("a1", "CLIENTID UUID %s" % token)
            if r[-1] != "a1 " + OK_REPLY:
                return "pre:" + r[-1]
        c.send('a2 LOGIN "%s" "%s"\r\n' % (user, password))
        try:
            reply = rest_of(c.until_tagged("a2")[-1])
        except (OSError, EOFError) as e:
            return "error:%s" % type(e).__name__
        if reply.startswith("OK "):
            return "ok"
        if reply == FAIL_REPLY:
            return "refused"
        if reply == TEMPFAIL_REPLY:
            return "tempfail"
        return "other:" + reply
    except (OSError, EOFError, AssertionError) as e:
        return "pre:%s" % type(e).__name__
    finally:
        if c is not None:
            c.close()


def smtp_attempt(srv, user, password, token, send=False):
    """'ok', 'refused' (535), 'tempfail' (454/435), 'other:<code>', 'pre:...'
    when AUTH was never sent, 'error:...' when AUTH got no reply."""
    ex = srv.ex
    s = None
    try:
        s = ex.starttls()
        if token is not None:
            r = s.docmd("CLIENTID", "UUID %s" % token)
            if r[0] != 250:
                return "pre:clientid %d" % r[0]
        try:
            r = s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (user, password)))
        except (OSError, smtplib.SMTPException) as e:
            return "error:%s" % type(e).__name__
        if r[0] == 235:
            if send:
                ok = (s.docmd("MAIL", "FROM:<%s@example.com>" % user)[0] == 250 and
                      s.docmd("RCPT", "TO:<someone@example.org>")[0] == 250 and
                      s.docmd("DATA")[0] == 354)
                if ok:
                    s.send(b"Subject: soak\r\n\r\nhello\r\n.\r\n")
                    ok = s.getreply()[0] == 250
                if not ok:
                    return "other:message not accepted"
            return "ok"
        if r[0] == 535:
            return "refused"
        if r[0] in (454, 435):
            return "tempfail:%d" % r[0]
        return "other:%d %s" % (r[0], r[1].decode("latin-1", "replace"))
    except (OSError, smtplib.SMTPException, ValueError) as e:
        return "pre:%s" % type(e).__name__
    finally:
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass


def attempt(srv, proto, user, password, token, send=False):
    if proto == "imap":
        return imap_attempt(srv, user, password, token)
    return smtp_attempt(srv, user, password, token, send)


def garbage_imap(srv, rng):
    """A malformed or misplaced CLIENTID: BAD, never a crash or a hang."""
    c = Raw(srv.ps.dc, tls=False)
    try:
        bad = rng.choice(["CLIENTID", "CLIENTID UUID", "CLIENTID UUID a b",
                          "CLIENTID U_U tok", "CLIENTID UUID " + "x" * 129])
        if rng.random() < 0.3:  # before TLS: the unknown-command reply
            r = c.cmd("g1", "CLIENTID UUID " + uuid.uuid4().hex)
            return "ok" if r[-1] == "g1 " + UNKNOWN_REPLY else "other:" + r[-1]
        c.starttls("s1")
        r = c.cmd("g1", bad)
        return "ok" if r[-1].startswith("g1 BAD") else "other:" + r[-1]
    finally:
        c.close()


def garbage_smtp(srv, rng):
    s = srv.ex.plain()
    try:
        s.ehlo("garbage.example.net")
        if rng.random() < 0.3:
            r = s.docmd("CLIENTID", "UUID " + uuid.uuid4().hex)
            return "ok" if r[0] == 500 else "other:%d" % r[0]
        s.starttls(context=srv.ex.ctx())
        s.ehlo("garbage.example.net")
        r = s.docmd("CLIENTID", rng.choice(["UUID", "U_U tok", "UUID " + "x" * 129]))
        return "ok" if r[0] == 501 else "other:%d" % r[0]
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass


# --------------------------------------------------------------------------
# Traffic and its ledger


class Tally:
    """What the clients sent and what they got, per device and account."""

    def __init__(self):
        self.lock = threading.Lock()
        # (account, token) -> Counter of (password_right, outcome)
        self.sent = collections.defaultdict(collections.Counter)
        # (class, proto, phase) -> Counter of outcome
        self.replies = collections.defaultdict(collections.Counter)
        self.classes = {}  # token -> class
        self.case = "soak"  # every phase belongs to one case
        self.phase = "soak"

    def note(self, cls, proto, account, token, right, outcome, phase=None):
        """phase: the one the attempt began in (default: the current one)."""
        with self.lock:
            key = (cls, proto, self.case + ":" + (phase or self.phase))
            self.replies[key][outcome.split(":")[0]] += 1
            if ":" in outcome:
                self.replies[key]["detail:" + outcome[:80]] += 1
            if token is not None:
                self.classes[token] = cls
                self.sent[(account, token)][(right, outcome.split(":")[0])] += 1

    def outcomes(self, cls=None, proto=None, phase=None):
        out = collections.Counter()
        with self.lock:
            for (c, p, ph), cnt in self.replies.items():
                if (cls is None or c == cls) and (proto is None or p == proto) and \
                        (phase is None or ph == self.case + ":" + phase):
                    out.update(cnt)
        return out


class Load:
    """Mixed legitimate and hostile traffic on both protocols, in threads,
    until stop(). Every class uses devices of its own, so that what the
    store counts can be told apart:

    legit     each u* account's trusted device, right password; must get in
    stolen    one attacker device per v* account, right (leaked) password:
              refused, recorded pending, counted as PW OK every time
    guesser   wrong passwords, a fresh device every DEVICE_FAIL_LIMIT-1
              tries, so never locked out: every try counted as PW BAD
    lockout   wrong passwords past the limit, then the right one: locked
              out, the later tries refused before the password is checked
    walker    one device through DEVICE_MAX_ACCOUNTS+2 accounts: blocked
    noclient  no CLIENTID at all, right or wrong password
    garbage   malformed CLIENTID lines, before and after TLS
    """

    def __init__(self, srv, tally, classes, seed=1):
        self.srv = srv
        self.tally = tally
        self.classes = classes
        self.stop_ev = threading.Event()
        self.threads = []
        self.rng = random.Random(seed)
        self.legit_tokens = {u: srv.legit_tokens[u] for u in LEGIT}
        self.stolen_tokens = {v: "stolen-" + uuid.uuid4().hex for v in TARGETS}
        self.crashes = []
        self.iterations = collections.Counter()

    def start(self, workers):
        for i, (name, protos) in enumerate(workers):
            t = threading.Thread(target=self._run, args=(name, protos, i), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=120)
        check(not any(t.is_alive() for t in self.threads), "a client thread hung")

    def _run(self, name, protos, i):
        rng = random.Random(1000 + i)
        state = {}
        while not self.stop_ev.is_set():
            proto = rng.choice(protos)
            try:
                getattr(self, "w_" + name)(rng, proto, state)
                self.iterations[name] += 1
            except Exception:  # noqa: BLE001 - a client bug must be seen
                self.crashes.append(traceback.format_exc())
                time.sleep(0.5)

    def _go(self, cls, proto, account, password, token, send=False):
        phase = self.tally.phase
        out = attempt(self.srv, proto, account, password, token, send)
        self.tally.note(cls, proto, account, token, password == pw(account), out, phase)
        return out

    def w_legit(self, rng, proto, state):
        u = rng.choice(LEGIT)
        self._go("legit", proto, u, pw(u), self.legit_tokens[u], send=rng.random() < 0.3)

    def w_stolen(self, rng, proto, state):
        v = rng.choice(TARGETS)
        self._go("stolen", proto, v, pw(v), self.stolen_tokens[v])

    def w_guesser(self, rng, proto, state):
        if state.get("left", 0) == 0:
            state["tok"] = "guess-" + uuid.uuid4().hex
            state["acct"] = rng.choice(TARGETS + LEGIT)
            state["left"] = DEVICE_FAIL_LIMIT - 1
        state["left"] -= 1
        self._go("guesser", proto, state["acct"], "guess-%d" % rng.randrange(10**6),
                 state["tok"])

    def w_lockout(self, rng, proto, state):
        if state.get("n", 0) == 0:
            state["tok"] = "lock-" + uuid.uuid4().hex
            state["acct"] = rng.choice(TARGETS)
            state["n"] = DEVICE_FAIL_LIMIT + 3
        state["n"] -= 1
        right = state["n"] < 2  # the last two tries with the leaked password
        password = pw(state["acct"]) if right else "guess-%d" % rng.randrange(10**6)
        self._go("lockout", proto, state["acct"], password, state["tok"])

    def w_walker(self, rng, proto, state):
        if not state.get("accts"):
            state["tok"] = "walk-" + uuid.uuid4().hex
            state["accts"] = rng.sample(TARGETS + LEGIT, DEVICE_MAX_ACCOUNTS + 2)
        acct = state["accts"].pop()
        # the attacker's list: the targets' leaked passwords, guesses elsewhere
        password = pw(acct) if acct in TARGETS else "guess-%d" % rng.randrange(10**6)
        self._go("walker", proto, acct, password, state["tok"])

    def w_noclient(self, rng, proto, state):
        v = rng.choice(TARGETS)
        password = pw(v) if rng.random() < 0.2 else "guess-%d" % rng.randrange(10**6)
        self._go("noclient", proto, v, password, None)

    def w_garbage(self, rng, proto, state):
        try:
            out = garbage_imap(self.srv, rng) if proto == "imap" else garbage_smtp(self.srv, rng)
        except (OSError, EOFError, AssertionError, smtplib.SMTPException) as e:
            out = "pre:%s" % type(e).__name__
        self.tally.note("garbage", proto, None, None, False, out)


SOAK_WORKERS = [("legit", ["imap"]), ("legit", ["smtp"]), ("legit", ["imap", "smtp"]),
                ("stolen", ["imap", "smtp"]), ("guesser", ["imap", "smtp"]),
                ("lockout", ["imap", "smtp"]), ("walker", ["imap", "smtp"]),
                ("noclient", ["imap", "smtp"]), ("garbage", ["imap", "smtp"])]

FAULT_WORKERS = [("legit", ["imap"]), ("legit", ["smtp"]), ("stolen", ["imap", "smtp"]),
                 ("guesser", ["imap", "smtp"])]


# --------------------------------------------------------------------------
# What the store must say about what was sent


def precheck_denials(srv):
    """Short fingerprint -> refusals before the password check, from both
    logs: those attempts are never counted (nothing is written)."""
    out = collections.Counter()
    for ln in srv.dovecot_log().splitlines():
        if "step=precheck" in ln and "verdict=deny" in ln:
            m = re.search(r" fp=([0-9a-f]{12}) ", ln)
            if m:
                out[m.group(1)] += 1
    for ln in srv.exim_log().splitlines():
        if "clientid: precheck " in ln and "verdict=deny" in ln:
            m = re.search(r" device=([0-9a-f]{12}) ", ln)
            if m:
                out[m.group(1)] += 1
    return out


def counter_problems(srv, tally):
    """The counter rules (see docs/results.md, "Reliability"):

    R1 every attempt that reached the decision is counted once on its
       (account, device): PW OK (successes) when the password was right,
       whatever the policy then said; PW BAD (failures) when it was wrong;
    R2 an attempt refused before the password check (a locked-out,
       blocked or revoked device; logged as a precheck denial) is not
       counted at all;
    so, per device: successes + failures summed over its accounts ==
    attempts sent - precheck denials; and per (account, device) for every
    device that was never refused by the precheck: successes == attempts
    with the right password, failures == attempts with a wrong one.
    An attempt whose reply never came may or may not have been counted."""
    stored = srv.all_devices()
    denied = precheck_denials(srv)
    problems = []
    per_dev = collections.defaultdict(lambda: [0, 0, 0, 0, 0])  # sent, unknown, stored, right, wrong
    exact = []
    for (acct, tok), cnt in list(tally.sent.items()):
        fp = srv.fp(tok)
        definite = {k: n for k, n in cnt.items() if k[1] in ("ok", "refused", "tempfail")}
        unknown = sum(n for k, n in cnt.items() if k[1] == "error")
        d = stored.get(acct, {}).get(fp)
        if d is None:
            d = srv.show(acct, fp)
        s_ok = d.get("successes", 0) if d else 0
        s_bad = d.get("failures", 0) if d else 0
        e = per_dev[tok]
        e[0] += sum(definite.values())
        e[1] += unknown
        e[2] += s_ok + s_bad
        right = sum(n for k, n in definite.items() if k[0])
        wrong = sum(n for k, n in definite.items() if not k[0])
        exact.append((acct, tok, fp, right, wrong, unknown, s_ok, s_bad))
    for acct, tok, fp, right, wrong, unknown, s_ok, s_bad in exact:
        if denied.get(fp[:12], 0) == 0 and unknown == 0 and (s_ok, s_bad) != (right, wrong):
            problems.append("%s %s device %s: sent %d right / %d wrong passwords, the store "
                            "counts %d PW OK / %d PW BAD" % (tally.classes.get(tok), acct,
                                                             fp[:12], right, wrong, s_ok, s_bad))
    for tok, (sent, unknown, counted, _r, _w) in per_dev.items():
        fp = srv.fp(tok)
        want = sent - denied.get(fp[:12], 0)
        if not want <= counted <= want + unknown:
            problems.append("%s device %s: %d attempts answered (+%d unanswered), %d refused "
                            "before the password check, so %d counted expected; the store "
                            "counts %d" % (tally.classes.get(tok), fp[:12], sent, unknown,
                                           denied.get(fp[:12], 0), want, counted))
    return problems


# --------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, opts):
        self.opts = opts
        self.results = []
        self.ledger = []  # (account, fingerprint, state, what) that must stay

    def report(self, name, status, why=""):
        self.results.append((name, status))
        record(status, name, why)
        line = "%s %s" % (status, name)
        if why:
            line += (": " if status == "FAIL" else " (") + why + (")" if status == "SKIP" else "")
        print(line, flush=True)

    def run_case(self, name, fn, *args):
        if self.opts.only and name.split()[0] not in self.opts.only:
            return
        print("== %s" % name, flush=True)
        for a in args:
            if isinstance(a, Tally):
                a.case, a.phase = name.split()[0], "soak"
        t0 = time.monotonic()
        try:
            fn(*args)
            self.report(name, "PASS", "")
        except Skip as e:
            self.report(name, "SKIP", str(e))
        except Failure as e:
            self.report(name, "FAIL", str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.report(name, "FAIL", "%s: %s" % (type(e).__name__, e))
        print("   (%s took %.0f s)" % (name.split()[0], time.monotonic() - t0), flush=True)

    # --- shared checks -----------------------------------------------------

    def alive(self, srv):
        check(srv.ps.dc.alive(), "the Dovecot master is gone")
        check(srv.ex.alive(), "the Exim daemon is gone")

    def ledger_present(self, srv):
        stored = srv.all_devices()
        missing = []
        for acct, fp, state, what in self.ledger:
            d = stored.get(acct, {}).get(fp)
            if d is None or d.get("state") != state:
                missing.append("%s (%s %s: want %s, store has %s)"
                               % (what, acct, fp[:12], state, d.get("state") if d else "nothing"))
        check(not missing, "synced decisions lost: " + "; ".join(missing))
        bans = srv.ctl("--json", "bans").stdout
        for fp in self.bans:
            check(fp in bans, "the site-wide block of %s is gone" % fp[:12])
        return len(self.ledger)

    def make_decision(self, srv, what):
        """An approval and a block by hand (clientidctl), recorded in the
        ledger: both are synced decisions."""
        acct = random.choice(SPARE)
        a, b = "led-" + uuid.uuid4().hex, "led-" + uuid.uuid4().hex
        srv.ctl("register", acct, "UUID", "--state", "pending", stdin=a + "\n")
        srv.ctl("approve", acct, srv.fp(a))
        srv.ctl("register", acct, "UUID", stdin=b + "\n")
        srv.ctl("block", acct, srv.fp(b))
        self.ledger.append((acct, srv.fp(a), "trusted", "approval " + what))
        self.ledger.append((acct, srv.fp(b), "blocked", "block " + what))

    def after_fault(self, srv, tally, phase):
        """The common end of every fault case."""
        self.alive(srv)
        print("   clientidctl check: " + srv.store_check().strip().replace("\n", "; "))
        n = self.ledger_present(srv)
        print("   %d synced decisions present" % n)
        got = tally.outcomes("legit", phase=phase)
        check(got["ok"] > 0, "no legitimate login succeeded after the fault: %r" % dict(got))
        bad = {k: v for k, v in got.items() if k != "ok"}
        check(not bad, "legitimate logins failed after the fault: %r" % bad)

    def settle(self, srv, tally, load, seconds):
        tally.phase = "after"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and tally.outcomes("legit", phase="after")["ok"] < 6:
            time.sleep(0.5)

    # --- the soak ----------------------------------------------------------

    def soak(self, srv, tally):
        seconds = self.opts.soak_seconds
        marks = srv.marks()
        pids = srv.ps.service_pids()
        load = Load(srv, tally, None).start(SOAK_WORKERS)
        t_end = time.monotonic() + seconds
        last = time.monotonic()
        while time.monotonic() < t_end:
            time.sleep(min(5, max(0, t_end - time.monotonic())))
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                print("   soak: %d s left, %d attempts so far"
                      % (t_end - time.monotonic(), sum(load.iterations.values())), flush=True)
        load.stop()
        self.soak_stats = (seconds, dict(load.iterations), tally)
        check(not load.crashes, "client errors:\n" + "\n".join(load.crashes[:3]))
        self.alive(srv)
        check(set(srv.ps.service_pids()) == set(pids) or not pids,
              "the policy service was restarted during the soak (%r -> %r)"
              % (pids, srv.ps.service_pids()))
        dlog, xlog, panic = srv.since(marks)
        bad = [ln for ln in dlog.splitlines() if BAD_LOG.search(ln)]
        bad += [ln for ln in xlog.splitlines() if BAD_LOG.search(ln)]
        check(not panic, "Exim's paniclog: " + panic[-500:])
        check(not bad, "the logs say:\n  " + "\n  ".join(bad[:8]))
        srv.store_check()
        # the replies
        legit = tally.outcomes("legit", phase="soak")
        check(legit["ok"] > 0 and set(k for k in legit if not k.startswith("detail")) == {"ok"},
              "legitimate logins not all answered OK: %r" % dict(legit))
        for cls in ("stolen", "guesser", "lockout", "walker"):
            got = tally.outcomes(cls, phase="soak")
            check(got["refused"] > 0 and not (set(k for k in got if not k.startswith("detail"))
                                               - {"refused"}),
                  "%s attempts not all refused: %r" % (cls, dict(got)))
        got = tally.outcomes("noclient", phase="soak")
        check(not (set(k for k in got if not k.startswith("detail")) - {"ok", "refused"}),
              "logins without CLIENTID got other replies: %r" % dict(got))
        got = tally.outcomes("garbage", phase="soak")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "malformed CLIENTID lines not answered with the protocol's error: %r" % dict(got))
        # the counters; IMAP failures are recorded by Dovecot's report,
        # which may arrive a moment after the client's reply
        deadline = time.monotonic() + 60
        while True:
            problems = counter_problems(srv, tally)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(2)
        check(not problems, "%d counter mismatches:\n  %s"
              % (len(problems), "\n  ".join(problems[:10])))
        # the decisions the servers made are there
        stored = srv.all_devices()
        for v, tok in load.stolen_tokens.items():
            d = stored[v].get(srv.fp(tok))
            check(d is not None and d["state"] == "pending",
                  "the stolen-password device on %s is not pending: %r" % (v, d))
            self.ledger.append((v, srv.fp(tok), "pending", "pending device (soak)"))
        for u in LEGIT:
            self.ledger.append((u, srv.fp(srv.legit_tokens[u]), "trusted", "legit device"))
        bans = json.loads(srv.ctl("--json", "bans").stdout or "[]")
        if isinstance(bans, dict):
            bans = bans.get("bans", [])
        self.bans = [b.get("fingerprint", "") for b in bans if b.get("fingerprint")]
        walkers = [t for t, c in tally.classes.items() if c == "walker"]
        print("   soak: %d s, attempts by class %r; %d devices walked, %d site-wide blocks; "
              "replies %r" % (seconds, dict(load.iterations), len(walkers), len(self.bans),
                              {c: dict(tally.outcomes(c, phase="soak")) for c in
                               ("legit", "stolen", "guesser", "lockout", "walker",
                                "noclient", "garbage")}), flush=True)
        n_dev = sum(len(v) for v in stored.values())
        print("   soak: the store holds %d (account, device) records; counters match for all "
              "%d (account, device) pairs the clients used" % (n_dev, len(tally.sent)),
              flush=True)

    # --- faults ------------------------------------------------------------

    def with_load(self, srv, tally, body):
        tally.phase = "before"
        load = Load(srv, tally, None, seed=7).start(FAULT_WORKERS)
        try:
            deadline = time.monotonic() + 60
            while tally.outcomes("legit", phase="before")["ok"] < 4:
                check(time.monotonic() < deadline, "no legitimate login before the fault")
                time.sleep(0.3)
            tally.phase = "during"
            self.make_decision(srv, "before the fault")
            body(load)
            self.settle(srv, tally, load, 60)
        finally:
            load.stop()
        check(not load.crashes, "client errors:\n" + "\n".join(load.crashes[:3]))

    def fault_kill_service(self, srv, tally):
        master = srv.ps.dc.proc.pid
        marks = srv.marks()

        def body(load):
            for i in range(3):
                old = srv.ps.service_pids()
                check(old, "no policy service process to kill")
                for p in old:
                    os.kill(p, signal.SIGKILL)
                deadline = time.monotonic() + 90
                while True:
                    new = [p for p in srv.ps.service_pids() if p not in old]
                    if new and srv.ps.probe():
                        break
                    check(time.monotonic() < deadline,
                          "the master did not start a new policy service")
                    time.sleep(0.2)
                if i == 1:
                    self.make_decision(srv, "between two kills")
                time.sleep(2)
        self.with_load(srv, tally, body)
        check(srv.ps.dc.proc.pid == master, "Dovecot's master was replaced")
        dlog, xlog, _ = srv.since(marks)
        kills = re.findall(r"service\(clientid-policy\): child \d+ killed with signal 9", dlog)
        check(len(kills) >= 3, "Dovecot's log does not say the service was killed (%d of 3 "
              "lines)" % len(kills))
        got = tally.outcomes("legit", "smtp", "during")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "Exim did not keep serving while the service was down: %r" % dict(got))
        got = tally.outcomes("legit", "imap", "during")
        extra = set(k for k in got if not k.startswith("detail")) - {"ok", "refused"}
        check(not extra, "IMAP logins during the kills got %r (the documented outcomes: "
              "answered, or refused per auth_policy_reject_on_fail)" % dict(got))
        print("   legit IMAP during the kills: %r" % dict(got))
        self.after_fault(srv, tally, "after")

    def fault_kill_exim(self, srv, tally):
        marks = srv.marks()
        daemon = srv.ex.proc.pid
        held = []

        def children():
            r = subprocess.run(["pgrep", "-P", str(daemon)], capture_output=True, text=True)
            return [int(p) for p in r.stdout.split()]

        def body(load):
            killed = 0
            for rnd in range(6):
                # sessions parked inside AUTH: "AUTH PLAIN" got its 334
                for _ in range(3):
                    s = srv.ex.starttls()
                    s.docmd("CLIENTID", "UUID held-" + uuid.uuid4().hex)
                    code, _ = s.docmd("AUTH", "PLAIN")
                    check(code == 334, "AUTH PLAIN without data: %d" % code)
                    held.append(s)
                # and whatever the load is doing at this moment, decisions
                # in their transaction included
                for p in children():
                    try:
                        os.kill(p, signal.SIGKILL)
                        killed += 1
                    except ProcessLookupError:
                        pass
                for s in held:
                    s.sock.settimeout(30)
                    try:
                        line = s.sock.recv(100)
                    except socket.timeout:
                        raise Failure("a parked session was not killed: no end in 30 s")
                    except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                        line = b""  # the kernel ended it when its process died
                    check(line == b"", "a killed session still answered %r" % line)
                    s.close()
                held.clear()
                if rnd == 2:
                    self.make_decision(srv, "between Exim kills")
                time.sleep(1.5)
            print("   killed %d Exim connection processes" % killed)
            check(killed >= 18, "only %d connection processes were killed" % killed)
        self.with_load(srv, tally, body)
        check(srv.ex.proc.pid == daemon and srv.ex.alive(), "the Exim daemon died")
        _, xlog, panic = srv.since(marks)
        check(not panic, "paniclog: " + panic[-500:])
        got = tally.outcomes("legit", "imap", "during")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "Dovecot did not keep serving while Exim processes were killed: %r" % dict(got))
        self.after_fault(srv, tally, "after")

    def fault_disk_full(self, srv, tally):
        if not srv.mounted:
            raise Skip("cannot mount a tmpfs for the store here: " + srv.mount_error)
        filler = os.path.join(srv.fs, "filler")
        marks = srv.marks()
        seen = {}

        def fill():
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for chunk in (1 << 20, 1 << 16, 4096):
                    buf = b"\0" * chunk
                    try:
                        while True:
                            os.write(fd, buf)
                    except OSError:
                        pass
            finally:
                os.close(fd)

        def body(load):
            st = os.statvfs(srv.fs)
            print("   before: %d of %d bytes free; %s" % (
                st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize,
                ", ".join("%s %d KiB" % (n, os.stat(os.path.join(srv.store, n)).st_blocks // 2)
                          for n in sorted(os.listdir(srv.store)))))
            fill()
            st = os.statvfs(srv.fs)
            print("   %s full: %d bytes free" % (srv.fs, st.f_bavail * st.f_frsize))
            # new devices need a synced write: one per attempt, both protocols,
            # until each protocol has seen the store fail
            outs = collections.Counter()
            codes = collections.Counter()
            for i in range(300):
                proto = ("imap", "smtp")[i % 2]
                acct = random.choice(TARGETS)
                out = attempt(srv, proto, acct, pw(acct), "full-" + uuid.uuid4().hex)
                outs[(proto, out.split(":")[0])] += 1
                codes[(proto, out)] += 1
                dlog, _, _ = srv.since(marks)
                if outs[("smtp", "tempfail")] > 0 and "policy store failed" in dlog:
                    break
            seen["outs"] = outs
            print("   new devices on the full disk: %r" % dict(codes))
            os.unlink(filler)
        try:
            self.with_load(srv, tally, body)
        finally:
            if os.path.exists(filler):
                os.unlink(filler)
        dlog, xlog, panic = srv.since(marks)
        dl = [ln for ln in dlog.splitlines() if "policy store failed" in ln]
        xl = [ln for ln in xlog.splitlines() if "reason=store_error" in ln]
        print("   Dovecot: %s\n   Exim: %s" % (dl[:1], xl[:1]))
        check(dl, "Dovecot's log has no store failure while the disk was full")
        check(xl, "Exim's log has no store_error while the disk was full")
        check(any(re.search(r"full|space", ln, re.I) for ln in dl + xl),
              "the logs do not say the store is full: %r" % (dl[:1] + xl[:1]))
        outs = seen.get("outs", {})
        check(outs.get(("smtp", "tempfail"), 0) > 0,
              "no SMTP tempfail (on_error = tempfail) on the full disk: %r" % dict(outs))
        check(all(o in ("refused", "tempfail") for (_p, o) in outs),
              "on the full disk logins got %r" % dict(outs))
        # the trusted devices: their decisions write only the routine map,
        # preallocated, but that map may need to grow, and growing needs
        # the disk: then they too get what on_error says, and it is logged
        got = tally.outcomes("legit", phase="during")
        kinds = set(k for k in got if not k.startswith("detail"))
        check(got["ok"] > 0 and kinds <= {"ok", "refused", "tempfail"},
              "legitimate logins during the full disk: %r" % dict(got))
        imap = tally.outcomes("legit", "imap", "during")["tempfail"]
        smtp = tally.outcomes("legit", "smtp", "during")["tempfail"]
        check(imap <= len(dl) and smtp <= len(xl),
              "legitimate logins tempfailed (%d IMAP, %d SMTP) without a store failure logged "
              "(%d, %d lines)" % (imap, smtp, len(dl), len(xl)))
        print("   legitimate logins during the full disk: %r" % dict(got))
        self.after_fault(srv, tally, "after")
        # and new devices are recorded again
        acct = random.choice(TARGETS)
        tok = "after-full-" + uuid.uuid4().hex
        check(attempt(srv, "smtp", acct, pw(acct), tok) == "refused", "new device after the fix")
        d = srv.devices(acct).get(srv.fp(tok))
        check(d is not None and d["state"] == "pending", "a new device is not recorded "
              "pending once the disk has room: %r" % d)

    def fault_read_only(self, srv, tally):
        if not srv.mounted:
            raise Skip("cannot mount here (a read-only bind mount needs mount): "
                       + srv.mount_error)
        marks = srv.marks()
        seen = {}

        def body(load):
            err = srv.bind_ro()
            if err:
                raise Skip("cannot bind-mount the store read-only: " + err)
            try:
                # clientidctl refuses a read-only store with exit 4
                acct = random.choice(SPARE)
                p = srv.ctl("register", acct, "UUID", stdin="ro-" + uuid.uuid4().hex + "\n",
                            ok=False)
                seen["ctl"] = (p.returncode, (p.stderr or p.stdout).strip())
                # new Exim connection processes open the store read-only
                outs = collections.Counter()
                codes = collections.Counter()

                def legit(proto, key):
                    acct = random.choice(LEGIT)
                    out = attempt(srv, proto, acct, pw(acct), srv.legit_tokens[acct])
                    outs[(key, out.split(":")[0])] += 1
                    codes[out] += 1
                for i in range(6):
                    legit("smtp", "smtp")
                # the running service keeps the store it has open (through
                # the read-write mount below); a restarted one opens it
                # read-only
                for i in range(3):
                    legit("imap", "imap-open")
                old = srv.ps.service_pids()
                for p in old:
                    os.kill(p, signal.SIGKILL)
                for i in range(6):
                    legit("imap", "imap")
                seen["codes"] = codes
                seen["outs"] = outs
                print("   trusted devices on the read-only store: %r" % dict(outs))
            finally:
                srv.unbind_ro()
            # the service that failed to open it must come back by itself
            tally.phase = "recover"
        self.with_load(srv, tally, body)
        rc, text = seen["ctl"]
        check(rc == 4, "clientidctl on the read-only store: exit %d (documented: 4): %s"
              % (rc, text))
        check(re.search(r"read-only", text, re.I), "clientidctl does not say read-only: " + text)
        outs = seen["outs"]
        check(outs.get(("smtp", "tempfail"), 0) == 6,
              "SMTP logins on the read-only store (on_error = tempfail): %r" % dict(outs))
        dlog, xlog, _ = srv.since(marks)
        xl = [ln for ln in xlog.splitlines() if "reason=store_error" in ln]
        check(xl and all(re.search(r"read-only", ln, re.I) for ln in xl),
              "Exim's log does not say the store is read-only: %r" % xl[:2])
        dl = [ln for ln in dlog.splitlines() if "policy store failed" in ln]
        check(dl and re.search(r"read-only", dl[0], re.I),
              "Dovecot's log does not say the store is read-only: %r" % dl[:2])
        check(outs.get(("imap-open", "ok"), 0) == 3,
              "IMAP logins through the service that had the store open before it went "
              "read-only: %r" % dict(outs))
        check(outs.get(("imap", "tempfail"), 0) > 0 and
              set(o for p, o in outs if p == "imap") <= {"tempfail"},
              "IMAP logins after the service reopened the read-only store "
              "(on_error = tempfail: NO [UNAVAILABLE]): %r" % dict(outs))
        print("   Exim: %s\n   Dovecot: %s\n   replies: %r"
              % (xl[0][-160:], dl[0][-160:], dict(seen["codes"])))
        self.after_fault(srv, tally, "after")

    def fault_bad_config(self, srv, tally):
        marks = srv.marks()
        seen = {}
        with open(srv.ps.conf) as f:
            good = f.read()

        def body(load):
            # broken while both run: a typo a human could make
            with open(srv.ps.conf, "w") as f:
                f.write(good.replace("mode = enforce", "mode = enforcing"))
            time.sleep(3)
            seen["running"] = tally.outcomes("legit", phase="during")
            # reload both: Dovecot restarts the service, Exim re-executes
            tally.phase = "reload"
            os.kill(srv.ps.dc.proc.pid, signal.SIGHUP)
            t_hup = time.monotonic()
            os.kill(srv.ex.proc.pid, signal.SIGHUP)
            # back once the re-executed daemon says so and accepts again
            while True:
                if "daemon started" in srv.since(marks)[1]:
                    try:
                        socket.create_connection(("127.0.0.1", srv.ex.port_plain),
                                                 timeout=5).close()
                        break
                    except OSError:
                        pass
                check(time.monotonic() - t_hup < 60, "Exim did not listen again after "
                      "its SIGHUP")
                time.sleep(0.05)
            seen["exim_back"] = time.monotonic() - t_hup
            deadline = time.monotonic() + 120
            while True:
                dlog, xlog, _ = srv.since(marks)
                if "enforcing" in dlog and "enforcing" in xlog:
                    break
                if time.monotonic() > deadline:
                    raise Failure("no log names the bad value after the reload:\n%s\n%s"
                                  % ("\n".join(ln for ln in dlog.splitlines()
                                               if "imap-login" not in ln)[-1500:],
                                     xlog[-600:]))
                time.sleep(0.5)
            time.sleep(3)
            # fixed: both pick it up by themselves
            with open(srv.ps.conf, "w") as f:
                f.write(good)
            tally.phase = "fixed"
            srv.ps.wait_service(timeout=150)
            seen["reload"] = tally.outcomes("legit", phase="reload")
        try:
            self.with_load(srv, tally, body)
        finally:
            with open(srv.ps.conf, "w") as f:
                f.write(good)
        running = seen["running"]
        check(running["ok"] > 0 and set(k for k in running if not k.startswith("detail")) ==
              {"ok"}, "with the bad file in place but not reloaded, logins: %r" % dict(running))
        rel = seen["reload"]
        print("   legit logins between the reload and the fix (an SMTP connection refused "
              "while Exim re-executes counts as pre): %r"
              % {p: dict(tally.outcomes("legit", p, "reload")) for p in ("imap", "smtp")})
        imap = tally.outcomes("legit", "imap", "reload")
        smtp = tally.outcomes("legit", "smtp", "reload")
        # a login under way at the moment of the reload may still get the
        # old answer (or, on IMAP, lose its connection to Dovecot's reload)
        check(imap["refused"] > 0 and
              not (set(k for k in imap if not k.startswith("detail")) - {"refused", "ok", "error"}),
              "IMAP after the reload with a bad clientid.conf (service down, "
              "auth_policy_reject_on_fail = yes: refused): %r" % dict(imap))
        # Exim's re-exec closes and reopens its listening sockets: a
        # connection in that moment is refused
        gap = sum(n for k, n in smtp.items() if k.startswith("detail:pre:") and
                  re.search(r"ConnectionRefused|ServerDisconnected|ConnectionReset", k))
        check(smtp["pre"] == gap, "SMTP sessions lost at the reload: %r" % dict(smtp))
        print("   Exim listened again %.1f s after its SIGHUP; %d connections were refused "
              "meanwhile" % (seen["exim_back"], gap))
        check(smtp["tempfail"] > 0 and
              not (set(k for k in smtp if not k.startswith("detail")) -
                   {"tempfail", "ok", "pre"}),
              "SMTP after the reload with a bad clientid.conf (the module cannot load it: "
              "tempfail): %r" % dict(smtp))
        check(smtp["ok"] <= 2 and imap["ok"] <= 2,
              "more than a login under way at the reload got in: %r %r" % (dict(imap), dict(smtp)))
        check(rel, "no legitimate login was tried between the reload and the fix")
        dlog, xlog, _ = srv.since(marks)
        dl = [ln for ln in dlog.splitlines() if "enforcing" in ln]
        xl = [ln for ln in xlog.splitlines() if "enforcing" in ln]
        want = re.compile(re.escape(srv.ps.conf) + r":\d+: \[policy\] mode")
        check(any(want.search(ln) and "Fatal" in ln for ln in dl),
              "Dovecot's log does not name file, line and key: %r" % dl[:2])
        check(any(want.search(ln) for ln in xl),
              "Exim's log does not name file, line and key: %r" % xl[:2])
        check(any("reason=store_error" in ln and want.search(ln) for ln in xl),
              "Exim's refusals do not say why (reason=store_error and the file's error): %r"
              % xl[:3])
        print("   Dovecot: %s\n   Exim: %s" % (dl[0][-170:], xl[0][-170:]))
        self.after_fault(srv, tally, "after")

    def fault_clock_back(self, srv, tally):
        if not srv.faketime_file:
            raise Skip("libfaketime is not installed (Debian package libfaketime)")
        marks = srv.marks()
        seen = {}

        def body(load):
            # a device locked out before the step
            acct = random.choice(TARGETS)
            tok = "clock-lock-" + uuid.uuid4().hex
            for i in range(DEVICE_FAIL_LIMIT):
                attempt(srv, "smtp", acct, "guess-%d" % i, tok)
            check(attempt(srv, "smtp", acct, pw(acct), tok) == "refused", "locked out")
            seen["lock"] = (acct, tok)
            with open(srv.faketime_file, "w") as f:
                f.write("-1h\n")
            time.sleep(3)  # the cache of libfaketime: 1 s
            # new devices, approvals and blocks with the clock an hour back
            self.make_decision(srv, "with the clock stepped back")
            acct2 = random.choice(TARGETS)
            t2 = "clock-new-" + uuid.uuid4().hex
            for proto in ("imap", "smtp"):
                check(attempt(srv, proto, acct2, pw(acct2), t2) == "refused",
                      "an unknown device with the clock back (%s)" % proto)
            seen["new"] = (acct2, t2)
            seen["locked"] = [attempt(srv, p, acct, pw(acct), tok) for p in ("imap", "smtp")]
            # Exim's clock went back too: its log lines are dated an hour ago
            stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+ ",
                                srv.exim_log()[-3000:], re.M)
            check(stamps, "no Exim log line after the step")
            lag = time.time() - time.mktime(time.strptime(stamps[-1], "%Y-%m-%d %H:%M:%S"))
            seen["exim_lag"] = lag
            check(lag > 3000, "Exim's clock did not step back (its last log line is %.0f s "
                  "old)" % lag)
            time.sleep(5)
        try:
            self.with_load(srv, tally, body)
        finally:
            with open(srv.faketime_file, "w") as f:
                f.write("+0\n")
        acct, tok = seen["lock"]
        check(seen["locked"] == ["refused", "refused"],
              "the device locked out before the clock stepped back is let in after it: %r"
              % seen["locked"])
        acct2, t2 = seen["new"]
        d = srv.devices(acct2).get(srv.fp(t2))
        check(d is not None and d["state"] == "pending" and d.get("successes") == 2,
              "the new device seen with the clock back: %r" % d)
        self.ledger.append((acct2, srv.fp(t2), "pending", "pending device, clock back"))
        dlog, xlog, panic = srv.since(marks)
        bad = [ln for ln in (dlog + xlog).splitlines() if BAD_LOG.search(ln)]
        check(not bad and not panic, "errors in the logs: %r" % (bad[:4] + [panic[-300:]]))
        moved = [ln for ln in dlog.splitlines() if re.search(r"time moved backwards", ln, re.I)]
        print("   Dovecot's log on the step: %r" % (moved[:1] or "nothing"))
        d = srv.show(acct, srv.fp(tok)) or {}
        print("   Exim's log lines are dated %.0f s back; the device locked out before the "
              "step: %r" % (seen["exim_lag"], {k: d.get(k) for k in ("state", "failures",
                                                                     "successes")}))
        self.after_fault(srv, tally, "after")

    # --- the run -----------------------------------------------------------

    def run(self, bins):
        scratch = tempfile.mkdtemp(prefix="clientid-rel-")
        os.chmod(scratch, 0o755)
        tempfile.tempdir = scratch
        faketime = None
        if os.path.exists(FAKETIME_LIB):
            faketime = os.path.join(scratch, "faketime")
            with open(faketime, "w") as f:
                f.write("+0\n")
            os.chmod(faketime, 0o644)
        srv = None
        try:
            srv = Servers(bins, scratch, faketime)
            if not srv.mounted:
                print("note: the store is not on a tmpfs of its own (%s): the disk-full and "
                      "read-only cases will skip" % srv.mount_error, flush=True)
            srv.start()
            srv.legit_tokens = {}
            for u in LEGIT:
                tok = "legit-" + str(uuid.uuid4())
                srv.legit_tokens[u] = tok
                srv.ctl("register", u, "UUID", "--label", "soak device", stdin=tok + "\n")
            tally = Tally()
            self.bans = []
            self.run_case("soak (%d s, both protocols, mixed traffic)" % self.opts.soak_seconds,
                          self.soak, srv, tally)
            for name, fn in (("kill-service (SIGKILL clientid-policy under load)",
                              self.fault_kill_service),
                             ("kill-exim (SIGKILL Exim connection processes mid-AUTH)",
                              self.fault_kill_exim),
                             ("disk-full (the store's tmpfs full)", self.fault_disk_full),
                             ("read-only (the store on a read-only mount)",
                              self.fault_read_only),
                             ("bad-config (clientid.conf corrupted, then reloaded)",
                              self.fault_bad_config),
                             ("clock-back (the clock stepped back an hour)",
                              self.fault_clock_back)):
                self.run_case(name, fn, srv, tally)
            self.run_case("final (servers up, store checks, every synced decision present)",
                          self.final, srv)
        finally:
            if srv is not None:
                if self.opts.keep:
                    print("kept: %s" % scratch)
                srv.stop()
            if not self.opts.keep:
                if srv is not None:
                    srv.ps.cleanup()
                    srv.ex.cleanup(False)
                shutil.rmtree(scratch, ignore_errors=True)

    def final(self, srv):
        self.alive(srv)
        print("   " + srv.store_check().strip().replace("\n", "\n   "))
        n = self.ledger_present(srv)
        print("   %d synced decisions and %d site-wide blocks present" % (n, len(self.bans)))


def find_binaries(opts):
    bins, missing = demo.built_binaries(opts, os.path.join(REPO, "exim-module", "build-exim"))
    if missing:
        return None, "not built: " + ", ".join(missing)
    return bins, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--exim")
    ap.add_argument("--soak-seconds", type=int, default=60)
    ap.add_argument("--only", default="", help="comma-separated case names (soak, kill-service, "
                    "kill-exim, disk-full, read-only, bad-config, clock-back, final)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip", default="")
    opts = ap.parse_args()
    opts.only = [x for x in opts.only.split(",") if x]
    if opts.skip:
        print("SKIP: " + opts.skip)
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: the reliability suite starts Dovecot and Exim and mounts a tmpfs: "
              "it needs root")
        return SKIP
    if not os.access(DOVECOT, os.X_OK):
        print("SKIP: Dovecot not installed (dovecot-core, dovecot-imapd)")
        return SKIP
    bins, why = find_binaries(opts)
    if bins is None:
        print("SKIP: " + why)
        return SKIP
    t0 = time.monotonic()
    suite = Suite(opts)

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        suite.run(bins)
    except KeyboardInterrupt as e:
        suite.report("interrupted", "FAIL", str(e) or "Ctrl-C")
    except Exception as e:  # noqa: BLE001 - servers that did not start
        traceback.print_exc()
        suite.report("setup", "FAIL", "%s: %s" % (type(e).__name__, e))
    n = collections.Counter(s for _, s in suite.results)
    print("reliability: %d passed, %d failed, %d skipped (%.0f s)"
          % (n["PASS"], n["FAIL"], n["SKIP"], time.monotonic() - t0), flush=True)
    return 1 if n["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
