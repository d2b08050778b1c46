"""A scratch Dovecot wired to the clientid policy service (as the package's
conf.d snippet wires it), with its own secret, store, API key and passdb, and
the IMAP logins the policy tests make through it. The service part of the
configuration is templates/dovecot-policy.conf."""

import imaplib
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from harness import ctl as ctl_
from harness.dovecot import Dovecot
from harness.imap import OK_REPLY, FAIL_REPLY, imaplib_client, imaplib_clientid, rest_of, \
    tls_client
from harness.net import free_port, stage
from harness.runner import Failure, check, eq
from harness.templates import render

TEMPFAIL_BODY = '{"status":-1,"msg":"Temporary authentication failure."}'
SERVICE_NAME = "clientid-policy"

# Accounts in this suite's own passdb; every password is "<user>-pw".
USERS = ["joe", "amy", "ben", "cat", "dan", "acc1", "acc2", "acc3", "acc4", "acc5", "eve", "fay"]

# Every token used in this run; none may appear in any log.
TOKENS = []


def new_token():
    tok = str(uuid.uuid4())
    TOKENS.append(tok)
    return tok


def pw(user):
    # joe/password as in the IMAP draft's transcripts
    return "password" if user == "joe" else user + "-pw"


class PolicyDovecot(Dovecot):
    """A Dovecot whose own passwd file leaves joe out, so that joe
    (of the draft's transcripts) comes from this suite's passdb, the one
    with the phase marker."""

    def _write(self, rel, text, mode=0o644):
        if rel == "passwd":
            text = "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith("joe:"))
        return super()._write(rel, text, mode)


# --------------------------------------------------------------------------
# One scratch Dovecot with the policy service

class PolicyServer:
    """A scratch clientid setup (conf, secret, store, API key, users) and a
    Dovecot whose extra configuration wires in the service."""

    def __init__(self, args, name, mode="learn", on_error="tempfail", reject_on_fail="yes",
                 failure_delay="0", limits=None, store_path=None, before_auth=True):
        self.args = args
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="clientid-e2e-policy-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "clientid.conf")
        self.secret = os.path.join(self.dir, "secret")
        self.store = store_path or os.path.join(self.dir, "store")
        self.api_key = os.path.join(self.dir, "api-key")
        self.service = stage(args.service, self.dir, 0o755)
        self.key = secrets.token_hex(16)
        self.mode = mode
        self.on_error = on_error
        self.limits = dict(limits or {})
        with open(self.secret, "wb") as f:
            f.write(secrets.token_bytes(32))
        os.chmod(self.secret, 0o600)
        with open(self.api_key, "w") as f:
            f.write(self.key + "\n")
        os.chmod(self.api_key, 0o600)
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("".join("%s:{PLAIN}%s\n" % (u, pw(u)) for u in USERS))
        self.write_conf()
        extra = "\n" + render(
            "dovecot-policy.conf", port=self.port, conf=self.conf, api_key=self.api_key,
            key=self.key, users=os.path.join(self.dir, "users"),
            reject_on_fail=reject_on_fail, failure_delay=failure_delay,
            executable=self._executable(getattr(args, "valgrind", False)),
            vsz_limit="\n  vsz_limit = 0" if getattr(args, "valgrind", False) else "",
            # after auth only: Dovecot asks only after auth, the service is
            # told so with -a, and no phase attribute is needed
            before_auth="yes" if before_auth else "no",
            after_auth_flag="" if before_auth else " -a",
            phase_attribute=" clientid/phase=%{passdb:clientid_phase}" if before_auth else "",
            phase_override="\n  override_fields = clientid_phase=verified" if before_auth
            else "")
        self.dc = PolicyDovecot(args.plugin_dir, "policy-" + name, enable="yes", keep=args.keep,
                             extra_conf=extra)

    def _executable(self, valgrind):
        """The service's command, under valgrind when asked: then any error
        (and a definite leak) is a test failure."""
        if not valgrind:
            return self.service
        return ("/usr/bin/valgrind -q --error-exitcode=99 --leak-check=full "
                "--errors-for-leak-kinds=definite --show-leak-kinds=definite "
                "--log-file=%s/valgrind.%%p.log %s" % (self.dir, self.service))

    def write_conf(self, broken=False):
        limits = {"device_fail_limit": "3", "device_fail_window": "15m",
                  "ip_fail_limit": "1000", "device_max_accounts": "3",
                  "device_accounts_window": "1d"}
        limits.update(self.limits)
        text = ("[general]\nsecret_file = %s\n\n[store]\npath = %s\non_error = %s\n\n"
                "[policy]\nmode = %s\n\n[limits]\n" % (self.secret, self.store, self.on_error,
                                                       self.mode))
        text += "".join("%s = %s\n" % kv for kv in sorted(limits.items()))
        if broken:
            text += "no_such_key = 1\n"
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        self.dc.start()
        self.wait_service()
        return self

    def service_pids(self):
        """Pids of clientid-policy processes whose parent is our master."""
        out = []
        master = self.dc.proc.pid if self.dc.proc else None
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
                exe = os.readlink("/proc/%s/exe" % p)
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master and (exe == self.service or self.service.encode() in cmd):
                out.append(int(p))
        return out

    def probe(self):
        """True when a clientid-policy process answers HTTP on the port (a GET
        gets 405 from it; the master itself never answers)."""
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/" % self.port, timeout=2)
        except urllib.error.HTTPError as e:
            return e.code == 405
        except OSError:
            return False
        return False

    def _answering(self, timeout, exclude, step):
        """Waits until a service process not in exclude runs and the service
        answers HTTP: those pids, or [] when timeout passes first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            # the probe also makes the master start the service on demand
            answered = self.probe()
            pids = [p for p in self.service_pids() if p not in exclude]
            if answered and pids:
                return pids
            time.sleep(step)
        return []

    def wait_service(self, timeout=20, exclude=()):
        """The pids of the running service (none of exclude); Failure when it
        does not answer within timeout."""
        pids = self._answering(timeout, exclude, 0.2)
        check(pids, "the policy service did not start:\n" + self.log()[-3000:])
        return pids

    def restart_service(self, sig=signal.SIGTERM):
        """Kill the service processes we started (by pid); the master starts
        a new one when the next request (here the probe) comes."""
        old = self.service_pids()
        for p in old:
            os.kill(p, sig)
        new = self._answering(20, old, 0.1)
        check(new, "the master did not restart the policy service:\n" + self.log()[-3000:])
        return new

    def set_mode(self, mode):
        self.mode = mode
        self.write_conf()
        self.restart_service()

    def log(self):
        return self.dc.logs_bytes().decode("utf-8", "replace")

    def decisions(self, account):
        return [ln for ln in self.log().splitlines()
                if "%s: account=%s " % (SERVICE_NAME, account) in ln]

    def ctl(self, *args):
        """clientidctl on this setup's configuration: its output (with
        stderr); Failure when it exits non-zero."""
        return ctl_.run(self.args.clientidctl, self.conf, *args, merge=True).stdout

    def cleanup(self):
        self.dc.cleanup()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Clients

def raw_login(ps, user, password, token=None, typ="UUID", how="starttls"):
    """STARTTLS (or implicit TLS), CLIENTID if token, LOGIN: the tagged reply
    without its tag, and the seconds LOGIN took."""
    c = tls_client(ps.dc, how)
    try:
        if token is not None:
            eq(c.cmd("a1", "CLIENTID %s %s" % (typ, token)), ["a1 " + OK_REPLY],
                  "CLIENTID")
        t0 = time.monotonic()
        lines = c.cmd("a2", 'LOGIN "%s" "%s"' % (user, password))
        took = time.monotonic() - t0
        return rest_of(lines[-1]), took
    finally:
        c.close()


def login_ok(ps, user, token=None, password=None):
    reply, _ = raw_login(ps, user, password or pw(user), token)
    check(reply.startswith("OK "), "%s with %s: expected OK, got %r" % (user, token, reply))


def login_refused(ps, user, token=None, password=None):
    reply, _ = raw_login(ps, user, password or pw(user), token)
    eq(reply, FAIL_REPLY, "%s with %s" % (user, token))


def imaplib_login(ps, user, password, token):
    m = imaplib_client(ps.dc, "starttls")
    try:
        eq(imaplib_clientid(m, "UUID", token), ("OK", "CLIENTID completed"), "CLIENTID")
        try:
            typ, _ = m.login(user, password)
            m.logout()
            return typ
        except imaplib.IMAP4.error as e:
            return str(e)
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def last_decision(ps, account, want_reason=None, timeout=5):
    deadline = time.time() + timeout
    while True:
        lines = ps.decisions(account)
        if lines and (want_reason is None or "reason=%s " % want_reason in lines[-1]):
            return lines[-1]
        if time.time() > deadline:
            raise Failure("no decision%s logged for %s; got %r" % (
                " with reason " + want_reason if want_reason else "", account, lines[-3:]))
        time.sleep(0.1)


def wait_log(ps, text, what, timeout=5):
    """The log process writes a moment after the service answered."""
    deadline = time.time() + timeout
    while text not in ps.log():
        check(time.time() < deadline, what)
        time.sleep(0.1)


def fp_of(ps, account, reason):
    """The short fingerprint of the latest decision for account with reason."""
    lines = [ln for ln in ps.decisions(account) if "reason=%s " % reason in ln]
    check(lines, "no decision with reason %s for %s" % (reason, account))
    m = re.search(r" fp=([0-9a-f]{12}) ", lines[-1])
    check(m is not None, "no short fingerprint in the decision line")
    return m.group(1)
