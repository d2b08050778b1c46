"""The reliability suite's traffic: one login attempt at a time, classified
by the reply; the load generator (legitimate and hostile clients in
threads); the tally of what was sent and answered; and the counter rules
the store must satisfy against that tally."""

import collections
import random
import re
import smtplib
import threading
import time
import traceback
import uuid

from harness.exim import b64
from harness.exim_policy import quit_quietly
from harness.imap import FAIL_REPLY, OK_REPLY, TEMPFAIL_REPLY, UNKNOWN_REPLY, Raw, rest_of, \
    tls_client
from harness.policy_service import pw
from harness.runner import check
from rel_servers import DEVICE_FAIL_LIMIT, DEVICE_MAX_ACCOUNTS, LEGIT, TARGETS


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
            quit_quietly(s)


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
        quit_quietly(s)


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
        fp = srv.full_fingerprint(tok)
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
        fp = srv.full_fingerprint(tok)
        want = sent - denied.get(fp[:12], 0)
        if not want <= counted <= want + unknown:
            problems.append("%s device %s: %d attempts answered (+%d unanswered), %d refused "
                            "before the password check, so %d counted expected; the store "
                            "counts %d" % (tally.classes.get(tok), fp[:12], sent, unknown,
                                           denied.get(fp[:12], 0), want, counted))
    return problems
