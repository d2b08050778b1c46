"""One scratch patched Exim (the CLIENTID command): a daemon on two free
loopback ports (plaintext and implicit TLS) with a scratch spool, logs,
certificate and password file, run as Debian-exim from a root-owned -C
configuration (templates/exim.conf, whose main options shared with
templates/exim-policy.conf are templates/exim-main.conf), the smtplib clients
the tests use against it, and the entry-script preamble of the Exim suites."""

import argparse
import contextlib
import glob
import grp
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
import traceback

from harness.net import client_ssl_context, free_ports, make_cert, wait_listening
from harness.results import record
from harness.runner import Failure, Skip, first_missing, skip_exit, verify
from harness import smtp
from harness.templates import render

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXIM_USER = "Debian-exim"

UUID = "23bf83be-aad7-46aa-9e0f-39191ccf402f"
USERS = {"test": "1234", "alice": "wonderland", "cidonly": "s3cret"}
CIDONLY_TOKEN = "cidonly-device-7f3a9c"

b64 = smtp.b64  # (older callers import it from here)


def find_exim(opts):
    """The patched Exim: --exim, else $CLIENTID_EXIM, else what
    `exim-module/build-exim path` names (a cached build); None if none."""
    if opts.exim:
        return opts.exim
    if os.environ.get("CLIENTID_EXIM"):
        return os.environ["CLIENTID_EXIM"]
    script = getattr(opts, "build_exim", None) or os.path.join(REPO, "exim-module", "build-exim")
    if os.access(script, os.X_OK):
        r = subprocess.run([script, "path"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip().splitlines()[-1]
    return None


class Exim:
    """One scratch Exim daemon."""

    def __init__(self, binary, advertise="*", keep_pipelining=False,
                 policy_reject=False, enforce_sync=True):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="clientid-exim-e2e-")
        os.chmod(self.dir, 0o755)
        self.port_plain, self.port_tls = free_ports(2)
        self.tokens = set()
        self.proc = None
        opts = []
        if advertise is not None:
            opts.append(f"clientid_advertise_hosts = {advertise}")
        if keep_pipelining:
            opts.append("clientid_keep_pipelining = true")
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(render(
                "exim.conf", main=self.main_options(), clientid_options="\n".join(opts),
                policy_reject="true" if policy_reject else "false",
                enforce_sync="true" if enforce_sync else "false",
                dir=self.dir, cidonly_token=CIDONLY_TOKEN))
        self.write_passwd(USERS)
        make_cert(self.dir, "server.example.com")
        pw = pwd.getpwnam(EXIM_USER)
        for sub in ("spool", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        for root, dirs, files in os.walk(self.dir):
            for n in dirs + files:
                os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
            os.chmod(root, 0o755)
        for n in ("key.pem", "cert.pem", "passwd", "exim.conf"):
            os.chmod(os.path.join(self.dir, n), 0o644)
        os.chown(self.conf, 0, 0)  # Exim insists on a root-owned -C file

    def main_options(self):
        """The main options every scratch Exim has (templates/exim-main.conf):
        its ports, scratch spool, logs and certificate."""
        return render("exim-main.conf", dir=self.dir, port_plain=self.port_plain,
                      port_tls=self.port_tls)

    def write_passwd(self, users):
        """The password file (PWFILE) with users, a dict account: password."""
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in users.items():
                f.write(f"{u}: {p}\n")

    def start(self):
        self.stderr = open(os.path.join(self.dir, "daemon.stderr"), "w")
        # -oX: with it, the daemon writes no pid file, and so need not re-exec
        # /usr/sbin/exim4 at SIGTERM to remove one.
        self.proc = subprocess.Popen([self.binary, "-C", self.conf, "-bdf", "-oX",
                                      f"{self.port_plain}:{self.port_tls}"],
                                     stdout=self.stderr, stderr=self.stderr)
        if wait_listening((self.port_plain, self.port_tls), 15, self.alive):
            return self
        if not self.alive():
            raise Failure("exim exited at start-up: " + self.daemon_output())
        raise Failure("exim did not listen within 15 s: " + self.daemon_output())

    def daemon_output(self):
        self.stderr.flush()
        out = open(os.path.join(self.dir, "daemon.stderr")).read()
        for log in glob.glob(os.path.join(self.dir, "log", "*")):
            out += f"\n--- {log}\n" + open(log, errors="replace").read()[-3000:]
        return out

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Connection processes outlive the daemon and may still write its
        # log: wait for every process run with our configuration to end.
        deadline = time.time() + 5
        while self.processes() and time.time() < deadline:
            time.sleep(0.1)
        for pid in self.processes():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def processes(self):
        """PIDs of the processes whose command line names our scratch dir."""
        out = subprocess.run(["pgrep", "-f", self.dir], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    @contextlib.contextmanager
    def running(self, keep=False):
        """Starts the daemon for the with-block and stops it after it; when
        the block ran through, check_logs(), then the scratch directory goes
        (unless keep)."""
        self.start()
        try:
            yield self
        finally:
            self.stop()
        self.check_logs()
        self.cleanup(keep)

    def cleanup(self, keep):
        if keep:
            print(f"  (scratch directory kept: {self.dir})")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- clients ----------------------------------------------------------

    def ctx(self):
        return client_ssl_context()

    def plain(self):
        s = smtplib.SMTP("127.0.0.1", self.port_plain, timeout=15)
        return s

    def starttls(self, ehlo=True):
        s = self.plain()
        s.ehlo("client.example.net")
        s.starttls(context=self.ctx())
        if ehlo:
            s.ehlo("client.example.net")
        return s

    def implicit(self, ehlo=True):
        s = smtplib.SMTP_SSL("127.0.0.1", self.port_tls, timeout=15,
                             context=self.ctx())
        if ehlo:
            s.ehlo("client.example.net")
        return s

    def clientid(self, s, typ, token):
        self.tokens.add((typ, token))
        return s.docmd("CLIENTID", f"{typ} {token}")

    # --- checks -----------------------------------------------------------

    def logs(self):
        out = {}
        for log in glob.glob(os.path.join(self.dir, "log", "*")):
            out[os.path.basename(log)] = open(log, "rb").read()
        return out

    def mainlog(self):
        return self.logs().get("mainlog", b"").decode("latin-1")

    def spool_headers(self):
        out = []
        for h in sorted(glob.glob(os.path.join(self.dir, "spool", "input", "**", "*-H"),
                               recursive=True), key=os.path.getmtime):
            out.append(open(h, "rb").read().decode("latin-1"))
        return out

    def check_logs(self):
        logs = self.logs()
        for name, data in logs.items():
            for typ, tok in self.tokens:
                raw = tok.encode("latin-1") if isinstance(tok, str) else tok
                t = typ.encode("latin-1") if isinstance(typ, str) else typ
                if len(raw) >= 6 and raw in data:
                    raise Failure(f"token {raw!r} found in clear in {name}")
                # (the redacted form "<type> ***" itself is not a leak)
                if (t + b" " + raw) in data and not b"***".startswith(raw):
                    raise Failure(f"'type token' {t + b' ' + raw!r} found in {name}")
        verify(not logs.get("paniclog"), "paniclog is empty")
        verify(len(self.tokens) == 0 or "mainlog" in logs,
              f"no raw token of {len(self.tokens)} in {sorted(logs)}")



# ---------------------------------------------------------------------------
# The entry scripts (tests/e2e/exim, tests/e2e/exim-policy)
# ---------------------------------------------------------------------------

def arguments(groups):
    """The parser of an Exim suite's options: GROUP (a key of groups),
    --exim, --build-exim, --skip and --keep; the script adds its own."""
    ap = argparse.ArgumentParser()
    ap.add_argument("group", choices=sorted(groups))
    ap.add_argument("--exim")
    ap.add_argument("--build-exim")
    ap.add_argument("--skip")
    ap.add_argument("--keep", action="store_true", help="keep scratch directories")
    return ap


def missing(opts, more=()):
    """Why an Exim suite cannot run here, or None: --skip, no patched Exim
    (opts.exim is set to the one find_exim() names), then the suite's own
    (holds, reason) pairs more, then root, the Exim user and group, and
    openssl."""
    if opts.skip:
        return opts.skip
    opts.exim = find_exim(opts)
    if not opts.exim or not os.access(opts.exim, os.X_OK):
        return "patched Exim not built (run exim-module/build-exim fast or set CLIENTID_EXIM)"
    return first_missing(list(more) + [
        (os.geteuid() == 0, "the Exim end-to-end tests must run as root"),
        (_exim_user_exists(), f"user {EXIM_USER} missing (build-exim fast creates it)"),
        (shutil.which("openssl"), "openssl not installed"),
    ])


def _exim_user_exists():
    try:
        pwd.getpwnam(EXIM_USER)
        grp.getgrnam(EXIM_USER)
    except KeyError:
        return False
    return True


def run_group(groups, opts):
    """Runs groups[opts.group](opts): the script's exit status, 0 when it
    passed, 1 (reported and recorded as the group's failure) when a check
    failed or the conversation broke, SKIP when the group raised Skip."""
    try:
        groups[opts.group](opts)
    except Skip as e:
        return skip_exit(str(e))
    except (Failure, smtplib.SMTPException, OSError, AssertionError, ValueError) as e:
        traceback.print_exc()
        print(f"FAIL: {e}")
        record("FAIL", opts.group, e)
        return 1
    print("PASS")
    return 0
