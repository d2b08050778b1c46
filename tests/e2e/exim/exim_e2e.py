#!/usr/bin/env python3
"""End-to-end tests of the CLIENTID patch against a real patched Exim.

usage: exim_e2e.py [--exim PATH] [--build-exim SCRIPT] [--corpus DIR]
                   [--etpan-client PATH] [--skip REASON] GROUP

Every group starts its own scratch Exim (root, -C <scratch config> -bdf) on
free loopback ports with a self-signed certificate made at run time, drives it
with smtplib (raw commands through docmd/send) or the libetpan client, stops
everything it started, and checks at the end that no CLIENTID token it sent
appears in clear in any log and that the panic log is empty.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import argparse
import base64
import glob
import os
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
from e2e_common import free_port, make_cert, stage  # noqa: E402,F401
from results import record  # noqa: E402

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EXIM_USER = "Debian-exim"

UUID = "23bf83be-aad7-46aa-9e0f-39191ccf402f"
USERS = {"test": "1234", "alice": "wonderland", "cidonly": "s3cret"}
CIDONLY_TOKEN = "cidonly-device-7f3a9c"


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)
    print(f"  ok: {what}")
    record("PASS", what)


def expect(reply, code, what):
    got = reply[0]
    text = reply[1].decode("latin-1") if isinstance(reply[1], bytes) else reply[1]
    if got != code:
        raise TestFailure(f"{what}: expected {code}, got {got} {text!r}")
    print(f"  ok: {what} -> {got} {text.splitlines()[0] if text else ''}")
    record("PASS", what)
    return text


def b64(s):
    return base64.b64encode(s.encode("latin-1")).decode("ascii")


CONFIG = r"""
# Scratch configuration for the CLIENTID end-to-end tests.
primary_hostname = server.example.com
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
pid_file_path = {dir}/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = {port_plain} : {port_tls}
tls_on_connect_ports = {port_tls}
tls_certificate = {dir}/cert.pem
tls_privatekey = {dir}/key.pem
tls_advertise_hosts = *
auth_advertise_hosts = *
host_lookup =
rfc1413_hosts =
queue_only = true
log_selector = +all
smtp_enforce_sync = {enforce_sync}
{clientid_options}

acl_smtp_clientid = acl_clientid
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

PWFILE = {dir}/passwd
LUSER = ${{if eq{{$auth3}}{{}}{{$auth1}}{{$auth2}}}}
LPASS = ${{if eq{{$auth3}}{{}}{{$auth2}}{{$auth3}}}}

begin acl

acl_clientid:
  deny    condition = ${{if eq{{$client_id_token}}{{deny-me-please}}}}
          message = CLIENTID refused by policy
  accept  logwrite = clientid-test: CLIENTID accepted type=$client_id_type

acl_mail:
  deny    condition = {policy_reject}
          condition = ${{if def:authenticated_id}}
          message = Server policy does not permit your use of this mail system
  accept

acl_rcpt:
  accept

acl_data:
  warn    condition = ${{if def:client_id_type}}
          add_header = X-Client-Id-Type: $client_id_type
          add_header = X-Client-Id-Sha: ${{sha256:$client_id_token}}
  accept

begin authenticators

PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if and{{ {{!eq{{$auth3}}{{}}}} \
      {{eq{{${{lookup{{$auth2}}lsearch{{PWFILE}}}}}}{{$auth3}}}} \
      {{or{{ {{!eq{{$auth2}}{{cidonly}}}} \
          {{and{{ {{eqi{{$client_id_type}}{{UUID}}}} {{eq{{$client_id_token}}{{{cidonly_token}}}}} }}}} }}}} }}}}
  server_set_id = $auth2

LOGIN:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${{if and{{ {{!eq{{LPASS}}{{}}}} \
      {{eq{{${{lookup{{LUSER}}lsearch{{PWFILE}}}}}}{{LPASS}}}} \
      {{or{{ {{!eq{{LUSER}}{{cidonly}}}} \
          {{and{{ {{eqi{{$client_id_type}}{{UUID}}}} {{eq{{$client_id_token}}{{{cidonly_token}}}}} }}}} }}}} }}}}
  server_set_id = LUSER
"""


class Exim:
    """One scratch Exim daemon."""

    def __init__(self, binary, advertise="*", keep_pipelining=False,
                 policy_reject=False, enforce_sync=True):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="clientid-exim-e2e-")
        os.chmod(self.dir, 0o755)
        self.port_plain = free_port()
        self.port_tls = free_port()
        while self.port_tls == self.port_plain:
            self.port_tls = free_port()
        self.tokens = set()
        self.proc = None
        opts = []
        if advertise is not None:
            opts.append(f"clientid_advertise_hosts = {advertise}")
        if keep_pipelining:
            opts.append("clientid_keep_pipelining = true")
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(CONFIG.format(
                dir=self.dir, port_plain=self.port_plain, port_tls=self.port_tls,
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
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("exim exited at start-up: " + self.daemon_output())
            try:
                for port in (self.port_plain, self.port_tls):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise TestFailure("exim did not listen within 15 s: " + self.daemon_output())

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
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        return c

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
                    raise TestFailure(f"token {raw!r} found in clear in {name}")
                # (the redacted form "<type> ***" itself is not a leak)
                if (t + b" " + raw) in data and not b"***".startswith(raw):
                    raise TestFailure(f"'type token' {t + b' ' + raw!r} found in {name}")
        check(not logs.get("paniclog"), "paniclog is empty")
        check(len(self.tokens) == 0 or "mainlog" in logs,
              f"no raw token of {len(self.tokens)} in {sorted(logs)}")


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------

def unknown_reply(s):
    """The reply this server gives to a command it does not know."""
    return s.docmd("XYZZYCMD", "foo bar")


def group_draft(opts):
    """Each example transcript of draft-storey-smtp-client-id-2025 section 7."""
    ex = Exim(opts.exim).start()
    try:
        print("7.1 UUID address as client identity")
        s = ex.plain()
        check(s.sock is not None, "connected, 220 greeting read by smtplib")
        expect(s.ehlo("client.example.net"), 250, "EHLO client.example.net")
        check(s.has_extn("starttls"), "STARTTLS offered in clear")
        check(not s.has_extn("clientid"), "CLIENTID not offered in clear")
        check("LOGIN" in s.esmtp_features.get("auth", ""), "AUTH LOGIN offered")
        expect(s.starttls(context=ex.ctx()), 220, "STARTTLS")
        expect(s.ehlo("client.example.net"), 250, "EHLO after TLS")
        check(s.has_extn("clientid"), "CLIENTID offered after TLS")
        check("LOGIN" in s.esmtp_features.get("auth", ""), "AUTH LOGIN offered after TLS")
        ex.tokens.add(("UUID", UUID))
        check(expect(s.docmd("CLIENTID", "UUID " + UUID), 250, "CLIENTID UUID") == "OK",
              "reply text is exactly 'OK'")
        expect(s.docmd("AUTH", "LOGIN dGVzdAB0ZXN0ADEyMzQ="), 235, "AUTH LOGIN (initial response)")
        expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
        expect(s.docmd("RCPT", "TO:<receiver@example.com>"), 250, "RCPT TO")
        expect(s.docmd("DATA"), 354, "DATA")
        s.send(b"Subject: 7.1\r\n\r\nbody\r\n.\r\n")
        expect(s.getreply(), 250, "end of data")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()
        hdrs = ex.spool_headers()
        check(hdrs and "X-Client-Id-Type: UUID" in hdrs[-1],
              "$client_id_type reached the data ACL (add_header)")

        print("7.2 client identity without a TLS session")
        s = ex.plain()
        expect(s.ehlo("client.example.net"), 250, "EHLO")
        check(not s.has_extn("clientid"), "CLIENTID not offered")
        ex.tokens.add(("MAC", "08:9e:01:70:f6:46"))
        r = s.docmd("CLIENTID", "MAC 08:9e:01:70:f6:46")
        expect(r, 500, "CLIENTID in clear")
        check(r == unknown_reply(s), "identical to the unknown-command reply")
        expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()

        print("7.4 malformed CLIENTID command")
        s = ex.starttls()
        check(s.has_extn("clientid"), "CLIENTID offered after TLS")
        expect(s.docmd("CLIENTID", "UUID"), 501, "CLIENTID UUID (no token)")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    print("7.3 client identity leading to rejection")
    ex = Exim(opts.exim, policy_reject=True).start()
    try:
        s = ex.starttls()
        check(s.has_extn("clientid"), "CLIENTID offered after TLS")
        ex.tokens.add(("UUID", UUID))
        expect(s.docmd("CLIENTID", "UUID " + UUID), 250, "CLIENTID UUID")
        expect(s.docmd("AUTH", "LOGIN dGVzdAB0ZXN0ADEyMzQ="), 235, "AUTH LOGIN")
        text = expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 550,
                      "MAIL refused by policy (the draft's unsolicited 550)")
        check("Server policy does not permit" in text, "generic policy text")
        expect(s.docmd("QUIT"), 221, "QUIT")
        s.close()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def replay_case(ex, path):
    data = open(path, "rb").read()
    name = os.path.basename(path)
    s = ex.starttls()
    if not s.has_extn("clientid"):
        raise TestFailure(f"{name}: CLIENTID not offered")
    # Remember the token bytes for the log check: everything after the type.
    line = data.split(b"\n")[0].rstrip(b"\r")
    parts = line.split(b" ", 2)
    if len(parts) == 3 and parts[2].strip():
        ex.tokens.add((parts[1].decode("latin-1"), parts[2].strip().decode("latin-1")))
    s.send(data)
    pieces = data.count(b"\n")
    replies = [s.getreply() for _ in range(max(pieces, 1))]
    first = replies[0][0]
    if name.startswith("y_"):
        if first != 250 or pieces != 1:
            raise TestFailure(f"{name}: expected 250, got {replies}")
    else:
        if first != 501:
            raise TestFailure(f"{name}: expected 501, got {replies}")
        for code, text in replies[1:]:
            if code < 500:
                raise TestFailure(f"{name}: a later piece was accepted: {replies}")
    try:
        s.docmd("QUIT")
        s.close()
    except (smtplib.SMTPException, OSError):
        pass
    print(f"  ok: {name} -> {[r[0] for r in replies]}")


def group_corpus(opts):
    """Replay tests/corpus/smtp verbatim over TLS, one connection per case."""
    cases = sorted(glob.glob(os.path.join(opts.corpus, "[yn]_*")))
    if not cases:
        raise TestFailure(f"no corpus cases in {opts.corpus}")
    # smtp_enforce_sync off: a case with a bare LF is two command lines in one
    # packet, and each piece must get its own reply rather than a sync drop.
    ex = Exim(opts.exim, enforce_sync=False).start()
    failures = []
    try:
        for path in cases:
            try:
                replay_case(ex, path)
            except (TestFailure, smtplib.SMTPException, OSError) as e:
                failures.append(f"{os.path.basename(path)}: {e}")
                print(f"  FAIL: {failures[-1]}")
            if not ex.alive():
                raise TestFailure("exim daemon died during the replay")
        s = ex.starttls()
        check(s.has_extn("clientid"), "exim still up and offering CLIENTID after the replay")
        s.quit()
        print(f"  {len(cases) - len(failures)}/{len(cases)} corpus cases as expected")
        if failures:
            raise TestFailure(f"{len(failures)} corpus case(s) failed")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_ehlo(opts):
    """EHLO matrix: where CLIENTID is offered, and PIPELINING beside it."""
    ex = Exim(opts.exim).start()
    try:
        print("plaintext")
        s = ex.plain()
        s.ehlo("client.example.net")
        check(not s.has_extn("clientid"), "no CLIENTID in clear")
        check(s.has_extn("pipelining"), "PIPELINING offered in clear (no CLIENTID)")
        r = ex.clientid(s, "UUID", "plaintext-token-1")
        expect(r, 500, "CLIENTID in clear")
        check(r == unknown_reply(s), "same reply as an unknown command")
        help_text = s.docmd("HELP")[1].decode()
        check("CLIENTID" not in help_text, "HELP does not list CLIENTID in clear")
        s.quit()

        print("STARTTLS")
        s = ex.starttls(ehlo=False)
        r = ex.clientid(s, "UUID", "before-ehlo-token-2")
        expect(r, 500, "CLIENTID after STARTTLS but before EHLO")
        s.ehlo("client.example.net")
        check(s.has_extn("clientid"), "CLIENTID offered after STARTTLS")
        check(not s.has_extn("pipelining"), "PIPELINING withheld beside CLIENTID")
        check("CLIENTID" in s.docmd("HELP")[1].decode(), "HELP lists CLIENTID on TLS")
        expect(ex.clientid(s, "UUID", "starttls-token-3"), 250, "CLIENTID")
        s.quit()

        print("implicit TLS")
        s = ex.implicit()
        check(s.has_extn("clientid"), "CLIENTID offered on implicit TLS")
        check(not s.has_extn("pipelining"), "PIPELINING withheld beside CLIENTID")
        expect(ex.clientid(s, "UUID", "implicit-token-4"), 250, "CLIENTID")
        s.quit()

        print("HELO over TLS")
        s = ex.implicit(ehlo=False)
        expect(s.helo("client.example.net"), 250, "HELO")
        expect(ex.clientid(s, "UUID", "helo-token-5"), 500, "CLIENTID after HELO (never offered)")
        s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    print("clientid_keep_pipelining = true")
    ex = Exim(opts.exim, keep_pipelining=True).start()
    try:
        s = ex.starttls()
        check(s.has_extn("clientid") and s.has_extn("pipelining"),
              "CLIENTID and PIPELINING both offered")
        expect(ex.clientid(s, "UUID", "keep-pipelining-6"), 250, "CLIENTID")
        s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)

    for label, adv in (("empty clientid_advertise_hosts", ""),
                       ("clientid_advertise_hosts unset (default)", None),
                       ("host not in clientid_advertise_hosts", "192.0.2.1")):
        print(label)
        ex = Exim(opts.exim, advertise=adv).start()
        try:
            for mk in (ex.starttls, ex.implicit):
                s = mk()
                check(not s.has_extn("clientid"), f"{mk.__name__}: CLIENTID not offered")
                check(s.has_extn("pipelining"), f"{mk.__name__}: PIPELINING offered")
                r = ex.clientid(s, "UUID", "disabled-token-7")
                expect(r, 500, f"{mk.__name__}: CLIENTID")
                check(r == unknown_reply(s), "same reply as an unknown command")
                s.quit()
        finally:
            ex.stop()
        ex.check_logs()
        ex.cleanup(opts.keep)


def send_message(s, subject):
    expect(s.docmd("MAIL", "FROM:<sender@example.net>"), 250, "MAIL FROM")
    expect(s.docmd("RCPT", "TO:<receiver@example.com>"), 250, "RCPT TO")
    expect(s.docmd("DATA"), 354, "DATA")
    s.send(f"Subject: {subject}\r\n\r\nbody\r\n.\r\n".encode())
    expect(s.getreply(), 250, "end of data")


def group_reset(opts):
    """EHLO and STARTTLS discard the client id; RSET and a message do not."""
    ex = Exim(opts.exim).start()
    try:
        print("EHLO resets")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-a1"), 250, "CLIENTID")
        expect(s.ehlo("client.example.net"), 250, "EHLO again")
        expect(ex.clientid(s, "UUID", "reset-token-a2"), 250, "new CLIENTID accepted after EHLO")
        send_message(s, "after-ehlo")
        s.quit()
        check(f"X-Client-Id-Sha: " in ex.spool_headers()[-1], "client id present in message")

        print("HELO resets")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-h1"), 250, "CLIENTID")
        expect(s.helo("client.example.net"), 250, "HELO")
        send_message(s, "after-helo")
        check("X-Client-Id-Type" not in ex.spool_headers()[-1],
              "client id discarded by HELO ($client_id_type empty)")
        s.quit()

        print("STARTTLS starts without a client id")
        s = ex.starttls(ehlo=True)
        send_message(s, "fresh-tls")
        check("X-Client-Id-Type" not in ex.spool_headers()[-1],
              "no client id in a fresh STARTTLS session")
        expect(ex.clientid(s, "UUID", "reset-token-s1"), 250, "CLIENTID accepted")
        s.quit()

        print("RSET does not reset")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "reset-token-r1"), 250, "CLIENTID")
        expect(s.rset(), 250, "RSET")
        expect(ex.clientid(s, "UUID", "reset-token-r2"), 503, "second CLIENTID after RSET")
        send_message(s, "after-rset")
        check("X-Client-Id-Type: UUID" in ex.spool_headers()[-1],
              "client id kept across RSET")
        s.quit()

        print("a finished message does not reset")
        s = ex.implicit()
        expect(ex.clientid(s, "UUID", "reset-token-m1"), 250, "CLIENTID")
        send_message(s, "first")
        expect(ex.clientid(s, "UUID", "reset-token-m2"), 503, "CLIENTID after a message")
        send_message(s, "second")
        check("X-Client-Id-Type: UUID" in ex.spool_headers()[-1],
              "client id kept for the second message")
        s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_auth(opts):
    """503 rules, and the client id inside an authenticator's server_condition."""
    ex = Exim(opts.exim).start()
    try:
        print("second CLIENTID")
        s = ex.starttls()
        expect(ex.clientid(s, "UUID", "auth-token-1"), 250, "CLIENTID")
        expect(ex.clientid(s, "UUID", "auth-token-2"), 503, "second CLIENTID")
        expect(s.docmd("CLIENTID", "UUID"), 503, "second CLIENTID, malformed")
        s.quit()

        print("after a successful AUTH")
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wonderland")), 235, "AUTH PLAIN")
        expect(ex.clientid(s, "UUID", "auth-token-3"), 503, "CLIENTID after AUTH")
        expect(s.ehlo("client.example.net"), 250, "EHLO")
        expect(ex.clientid(s, "UUID", "auth-token-4"), 503, "still 503 after EHLO (authenticated)")
        s.quit()

        print("after a failed AUTH")
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wrong")), 535, "AUTH PLAIN, wrong password")
        expect(ex.clientid(s, "UUID", "auth-token-5"), 503, "CLIENTID after a failed AUTH")
        s.quit()

        print("server_condition sees $client_id_type and $client_id_token")
        for mech in ("PLAIN", "LOGIN"):
            s = ex.starttls()
            expect(ex.clientid(s, "uuid", CIDONLY_TOKEN), 250, "CLIENTID with the right token")
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 235, f"AUTH {mech} accepted with the right token")
            s.quit()

            s = ex.starttls()
            expect(ex.clientid(s, "UUID", "wrong-device-token"), 250, "CLIENTID with another token")
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 535, f"AUTH {mech} refused with another token")
            s.quit()

            s = ex.starttls()
            if mech == "PLAIN":
                r = s.docmd("AUTH", "PLAIN " + b64("\0cidonly\0s3cret"))
            else:
                expect(s.docmd("AUTH", "LOGIN " + b64("cidonly")), 334, "AUTH LOGIN user")
                r = s.docmd(b64("s3cret"))
            expect(r, 535, f"AUTH {mech} refused without CLIENTID")
            s.quit()
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_acl(opts):
    """acl_smtp_clientid: deny, accept with logwrite of the type only."""
    ex = Exim(opts.exim).start()
    try:
        s = ex.starttls()
        r = ex.clientid(s, "UUID", "deny-me-please")
        text = expect(r, 550, "CLIENTID denied by acl_smtp_clientid")
        check("CLIENTID refused by policy" in text, "ACL message in the reply")
        expect(ex.clientid(s, "UUID", "acl-accepted-token"), 250,
               "a denied client id is not kept: another CLIENTID is accepted")
        send_message(s, "acl")
        s.quit()
        time.sleep(0.3)
        log = ex.mainlog()
        check("clientid-test: CLIENTID accepted type=UUID" in log,
              "ACL logwrite of $client_id_type in mainlog")
        check("rejected CLIENTID UUID" in log, "ACL rejection logged with the type only")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_logs(opts):
    """Every error path that logs command text, with tokens that must not leak."""
    ex = Exim(opts.exim).start()
    try:
        toks = {
            "clear": "cleartext-secret-91",
            "malformed": "malformed-secret-92",
            "dup": "duplicate-secret-93",
            "after-auth": "afterauth-secret-94",
            "nul": "nulbyte-secret-95",
        }
        s = ex.plain()
        s.ehlo("x")
        expect(ex.clientid(s, "UUID", toks["clear"]), 500, "CLIENTID in clear")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["malformed"]))
        expect(s.docmd("CLIENTID", f"UUID {toks['malformed']} extra"), 501, "extra argument")
        expect(ex.clientid(s, "UUID", "first-secret-90"), 250, "CLIENTID")
        expect(ex.clientid(s, "UUID", toks["dup"]), 503, "duplicate")
        s.quit()
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wonderland")), 235, "AUTH")
        expect(ex.clientid(s, "UUID", toks["after-auth"]), 503, "after AUTH")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["nul"]))
        s.send(f"CLIENTID UUID {toks['nul']}\0\r\n".encode())
        expect(s.getreply(), 501, "NUL byte")
        s.quit()
        # Too many errors: the drop line repeats the last command.
        s = ex.starttls()
        for i in range(4):
            ex.tokens.add(("UUID", f"toomany-secret-{i}x"))
            r = s.docmd("CLIENTID", f"UUID toomany-secret-{i}x y")
        check(r[0] == 501, "synprot errors counted, connection dropped with 501")
        s.close()
        # Pipelined CLIENTID without PIPELINING: a sync error logs next input.
        s = ex.starttls()
        ex.tokens.add(("UUID", "pipelined-secret-96"))
        s.send(b"NOOP\r\nCLIENTID UUID pipelined-secret-96\r\n")
        r = s.getreply()
        check(r[0] in (250, 554), f"pipelined input handled ({r[0]})")
        s.close()
        time.sleep(0.5)
        log = ex.mainlog()
        check("CLIENTID UUID ***" in log, "redacted form 'CLIENTID UUID ***' is logged")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


def group_etpan(opts):
    """libetpan's mailesmtp_clientid() against the patched Exim."""
    if not opts.etpan_client:
        print("SKIP: the libetpan client was not built (libetpan-dev missing)")
        sys.exit(SKIP)
    ex = Exim(opts.exim).start()
    try:
        for mode, port in (("starttls", ex.port_plain), ("ssl", ex.port_tls)):
            ex.tokens.add(("UUID", UUID))
            out = subprocess.run([opts.etpan_client, mode, str(port), "UUID", UUID,
                                  "cidonly", "s3cret"],
                                 capture_output=True, text=True, timeout=60).stdout
            print("  " + out.replace("\n", " "))
            kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
            check(kv.get("has_clientid") == "1", f"{mode}: libetpan sees CLIENTID in EHLO")
            check(kv.get("clientid") == "0", f"{mode}: mailesmtp_clientid() succeeds")
            check(kv.get("clientid2", "0") != "0", f"{mode}: a second CLIENTID fails (503)")
            check(kv.get("auth") not in (None, "0"),
                  f"{mode}: AUTH as cidonly refused with another token")
        out = subprocess.run([opts.etpan_client, "starttls", str(ex.port_plain), "UUID",
                              CIDONLY_TOKEN, "cidonly", "s3cret"],
                             capture_output=True, text=True, timeout=60).stdout
        ex.tokens.add(("UUID", CIDONLY_TOKEN))
        print("  " + out.replace("\n", " "))
        kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
        check(kv.get("clientid") == "0" and kv.get("auth") == "0",
              "AUTH as cidonly accepted with its token")
        out = subprocess.run([opts.etpan_client, "plain", str(ex.port_plain), "UUID",
                              "plain-etpan-token", "alice", "wonderland"],
                             capture_output=True, text=True, timeout=60).stdout
        ex.tokens.add(("UUID", "plain-etpan-token"))
        print("  " + out.replace("\n", " "))
        kv = dict(l.split("=", 1) for l in out.split() if "=" in l)
        check(kv.get("has_clientid") == "0", "plain: no CLIENTID in EHLO")
        check(kv.get("clientid") not in (None, "0"), "plain: mailesmtp_clientid() fails")
    finally:
        ex.stop()
    ex.check_logs()
    ex.cleanup(opts.keep)


GROUPS = {
    "draft": group_draft,
    "corpus": group_corpus,
    "ehlo": group_ehlo,
    "reset": group_reset,
    "auth": group_auth,
    "acl": group_acl,
    "logs": group_logs,
    "etpan": group_etpan,
}


def find_exim(opts):
    if opts.exim:
        return opts.exim
    if os.environ.get("CLIENTID_EXIM"):
        return os.environ["CLIENTID_EXIM"]
    script = opts.build_exim or os.path.join(REPO, "exim-module", "build-exim")
    if os.access(script, os.X_OK):
        r = subprocess.run([script, "path"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip().splitlines()[-1]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("group", choices=sorted(GROUPS))
    ap.add_argument("--exim")
    ap.add_argument("--build-exim")
    ap.add_argument("--corpus", default=os.path.join(REPO, "tests", "corpus", "smtp"))
    ap.add_argument("--etpan-client")
    ap.add_argument("--skip")
    ap.add_argument("--keep", action="store_true", help="keep scratch directories")
    opts = ap.parse_args()

    if opts.skip:
        print(f"SKIP: {opts.skip}")
        return SKIP
    opts.exim = find_exim(opts)
    if not opts.exim or not os.access(opts.exim, os.X_OK):
        print("SKIP: patched Exim not built (run exim-module/build-exim fast "
              "or set CLIENTID_EXIM)")
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: the Exim end-to-end tests must run as root")
        return SKIP
    try:
        pwd.getpwnam(EXIM_USER)
    except KeyError:
        print(f"SKIP: user {EXIM_USER} missing (build-exim fast creates it)")
        return SKIP
    if not shutil.which("openssl"):
        print("SKIP: openssl not installed")
        return SKIP
    print(f"exim: {opts.exim}; group: {opts.group}")
    try:
        GROUPS[opts.group](opts)
    except (TestFailure, smtplib.SMTPException, OSError, AssertionError) as e:
        traceback.print_exc()
        print(f"FAIL: {e}")
        record("FAIL", opts.group, e)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
