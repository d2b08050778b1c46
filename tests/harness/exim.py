"""One scratch patched Exim (the CLIENTID command): a daemon on two free
loopback ports (plaintext and implicit TLS) with a scratch spool, logs,
certificate and password file, run as Debian-exim from a root-owned -C
configuration (templates/exim.conf), and the smtplib clients the tests use
against it."""

import base64
import glob
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time

from harness.net import client_ssl_context, free_ports, make_cert, wait_listening
from harness.runner import Failure, verify
from harness.templates import render

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXIM_USER = "Debian-exim"

UUID = "23bf83be-aad7-46aa-9e0f-39191ccf402f"
USERS = {"test": "1234", "alice": "wonderland", "cidonly": "s3cret"}
CIDONLY_TOKEN = "cidonly-device-7f3a9c"


def b64(s):
    return base64.b64encode(s.encode("latin-1")).decode("ascii")


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
                "exim.conf", dir=self.dir, port_plain=self.port_plain, port_tls=self.port_tls,
                clientid_options="\n".join(opts),
                policy_reject="true" if policy_reject else "false",
                enforce_sync="true" if enforce_sync else "false",
                cidonly_token=CIDONLY_TOKEN))
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in USERS.items():
                f.write(f"{u}: {p}\n")
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
# Groups
# ---------------------------------------------------------------------------

