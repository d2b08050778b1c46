#!/usr/bin/env python3
"""The full-stack test (`make test-packages`): the Debian packages, installed.

Builds the clientid .debs (packaging/build-packages) and the patched Exim's
(exim-module/build-exim package), installs them with apt-get as an
administrator would, configures Dovecot and Exim through Debian's own files,
starts both from their installed configurations with the distribution's
service scripts, and plays the cross-protocol scenario with real clients
(imaplib, smtplib, TLS checked against the installed certificates):

  a device learned over IMAP is known when it submits over SMTP; an unknown
  device is refused on both with the wrong-password reply; clientidctl
  lists it pending; approved, it works on both.

Then an upgrade (the same packages with a higher version) keeps the store
and the secret; removal leaves both servers running and serving without
CLIENTID, and they still start; a purge deletes the store, the secret and
the keys. Finally it stops what it started and undoes what it set up (the
Exim packages are purged again if they were not installed before).

usage: full_stack.py [--keep-exim]
Prints PASS/FAIL lines and ends with "N passed, N failed"; exit 1 on a
failure. Needs root; on a machine without it, it says SKIP and exits 0.

Where the machine has no init system, the service scripts in /etc/init.d
still work (`service NAME start`), but invoke-rc.d refuses every start, and
a Docker-style /usr/sbin/policy-rc.d forbids them too. While the test runs,
a policy-rc.d lets dovecot and exim4 start (everything else as before), so
that the maintainer scripts' own restarts (invoke-rc.d) are what is tested;
the original, or none, is put back at the end. What the test changed is
recorded in STATE as it goes, so that a killed run is undone by the next.
"""

import argparse
import base64
import fcntl
import glob
import grp
import hashlib
import imaplib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e", "dovecot"))
from e2e_common import make_cert  # noqa: E402
import dovecot_e2e as dv  # noqa: E402  (imaplib's CLIENTID command)

OUR_PACKAGES = ["clientid-tools", "dovecot-clientid", "exim4-clientid"]
EXIM_PACKAGES = ["exim4-base", "exim4-config", "exim4-daemon-heavy"]
USER = "cidtest"
PASSWORD = "pw-" + secrets.token_hex(8)
DEVICE_TYPE = "UUID"
IMAP_FAIL = "[AUTHENTICATIONFAILED] Authentication failed."
SMTP_FAIL = (535, "Incorrect authentication data")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=900",
       "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
POLICY_RC = "/usr/sbin/policy-rc.d"
POLICY_RC_SAVED = "/usr/sbin/policy-rc.d.clientid-test-saved"
STATE = "/var/tmp/clientid-pkgtest-state.json"
LOCK = "/var/tmp/clientid-pkgtest.lock"
SECRET = "/etc/clientid/secret"
STORE = "/var/lib/clientid"
API_KEY = "/etc/clientid/policy-api-key"
DOVECOT_KEYS = "/etc/dovecot/clientid/policy-keys.conf"
DOVECOT_LINKS = ["/etc/dovecot/conf.d/95-clientid.conf",
                 "/etc/dovecot/conf.d/96-clientid-policy.conf"]
EXIM_LINKS = ["/etc/exim4/conf.d/main/04_clientid_options",
              "/etc/exim4/conf.d/acl/25_clientid_check_auth",
              "/etc/exim4/conf.d/auth/25_clientid_plaintext"]
DOVECOT_CERT = "/etc/dovecot/private/dovecot.pem"
DOVECOT_KEY = "/etc/dovecot/private/dovecot.key"
SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
EXIM_CONF = "/etc/exim4/update-exim4.conf.conf"
EXIM_MACROS = "/etc/exim4/conf.d/main/000_localmacros"
DOVECOT_LOCAL = "/etc/dovecot/local.conf"
EXIM_PIN_EXAMPLE = "/usr/share/doc/exim4-clientid/examples/exim4-clientid.pref"
EXIM_PIN = "/etc/apt/preferences.d/exim4-clientid"
DOVECOT_LOG = "/var/log/dovecot-pkgtest.log"
SUBMISSION = 587


class Fatal(Exception):
    """A step that the rest of the run depends on failed."""


# --------------------------------------------------------------------------
# Output and checks

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("PASS: " + what, flush=True)
        else:
            self.failed += 1
            print("FAIL: " + what + (" (%s)" % detail if detail else ""), flush=True)
        return ok

    def must(self, ok, what, detail=""):
        if not self.check(ok, what, detail):
            raise Fatal(what)


def step(text):
    print("\n== " + text, flush=True)


def run(cmd, check=True, quiet=True, **kw):
    """Runs cmd; its output is shown only when it fails (or quiet=False).
    The output goes through a file, not a pipe: a daemon that a service
    script starts keeps its inherited descriptors open."""
    with tempfile.TemporaryFile(mode="w+") as out:
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                           timeout=kw.pop("timeout", 1200), **kw)
        out.seek(0)
        p.stdout = out.read()
    if (p.returncode != 0 and check) or not quiet:
        print("$ " + " ".join(cmd))
        out = p.stdout.rstrip()
        print("\n".join("    " + ln for ln in out.splitlines()[-60:]))
    if check and p.returncode != 0:
        raise Fatal("%s exited %d" % (cmd[0], p.returncode))
    return p


def installed_version(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", pkg],
                       capture_output=True, text=True)
    f = p.stdout.split()
    return f[1] if p.returncode == 0 and len(f) == 2 and f[0] == "installed" else None


def package_state(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def pid_alive(pidfile):
    try:
        pid = int(open(pidfile).read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def dovecot_pid():
    return pid_alive("/run/dovecot/master.pid")


def exim_pid():
    return pid_alive("/run/exim4/exim.pid")


def wait_port(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def service(name, action):
    return run(["service", name, action], check=False)


def mode_of(path):
    st = os.stat(path)
    return "%04o %s:%s" % (st.st_mode & 0o7777, pwd.getpwuid(st.st_uid).pw_name,
                           grp.getgrgid(st.st_gid).gr_name)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --------------------------------------------------------------------------
# Machine state: what we set up, so that it can be undone

class Machine:
    """What the machine was like before the test, and what the test made.
    Kept in STATE as it changes, so that a run that was killed is undone by
    the next one (which then starts from the recorded state)."""

    def __init__(self):
        if os.path.exists(STATE):
            print("note: a previous run did not finish; undoing what it recorded in " + STATE)
            with open(STATE) as f:
                self.__dict__.update(json.load(f))
            return
        self.exim_before = {p: installed_version(p) for p in EXIM_PACKAGES}
        self.group_existed = self._group_exists()
        self.dovecot_was_running = dovecot_pid() is not None
        self.exim_was_running = exim_pid() is not None
        self.made_snakeoil = False
        self.made_dovecot_cert_links = False
        self.made_user = False
        self.made_policy_rc = False
        self.files = []  # files we created, removed at the end
        self.save()

    def save(self):
        with open(STATE + ".new", "w") as f:
            json.dump(self.__dict__, f)
        os.replace(STATE + ".new", STATE)

    def made(self, flag):
        setattr(self, flag, True)
        self.save()

    def add_file(self, path):
        if path not in self.files:
            self.files.append(path)
            self.save()

    @staticmethod
    def _group_exists():
        try:
            grp.getgrnam("clientid")
            return True
        except KeyError:
            return False

    def relax_policy_rc(self):
        """Lets invoke-rc.d act on dovecot and exim4 (see the docstring).
        Without an init system invoke-rc.d refuses every start unless a
        policy-rc.d allows it, so one is put in place even where there was
        none; with systemd running nothing is needed."""
        if os.path.exists(POLICY_RC_SAVED):  # a previous run was killed
            os.replace(POLICY_RC_SAVED, POLICY_RC)
        elif getattr(self, "made_policy_rc", False) and os.path.exists(POLICY_RC):
            os.unlink(POLICY_RC)  # ours, from a run that was killed
        if os.path.isdir("/run/systemd/system"):
            return
        if os.path.exists(POLICY_RC):
            os.replace(POLICY_RC, POLICY_RC_SAVED)  # put back by restore_policy_rc()
            others = 'exec %s "$@"' % POLICY_RC_SAVED
        else:
            self.made("made_policy_rc")
            others = "exit 101"
        with open(POLICY_RC, "w") as f:
            f.write("#!/bin/sh\n"
                    "# clientid full-stack test (tests/packages): dovecot and exim4\n"
                    "# may start; everything else as before. Put back at the end.\n"
                    "for a; do case $a in --*) ;; *) id=$a; break ;; esac; done\n"
                    "case $id in dovecot | exim4) exit 0 ;; esac\n%s\n" % others)
        os.chmod(POLICY_RC, 0o755)

    def restore_policy_rc(self):
        if os.path.exists(POLICY_RC_SAVED):
            os.replace(POLICY_RC_SAVED, POLICY_RC)
        elif getattr(self, "made_policy_rc", False) and os.path.exists(POLICY_RC):
            os.unlink(POLICY_RC)

    def dovecot_cert(self):
        """Debian's dovecot-core links the snakeoil certificate on a fresh
        install when ssl-cert made one; a machine where that did not happen
        gets what an administrator would do: make-ssl-cert and the links."""
        if os.path.exists(DOVECOT_CERT) and os.path.exists(DOVECOT_KEY):
            return
        if not all(os.path.exists(p) for p in SNAKEOIL):
            self.made("made_snakeoil")
            run(["make-ssl-cert", "generate-default-snakeoil"])
        self.made("made_dovecot_cert_links")
        for link, target in ((DOVECOT_CERT, SNAKEOIL[0]), (DOVECOT_KEY, SNAKEOIL[1])):
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(target, link)

    def dovecot_log(self):
        """A log file (the machine may have no syslog daemon), in
        dovecot.conf's own !include_try local.conf."""
        if os.path.exists(DOVECOT_LOCAL):
            return
        self.add_file(DOVECOT_LOCAL)
        self.add_file(DOVECOT_LOG)
        with open(DOVECOT_LOCAL, "w") as f:
            f.write("# clientid full-stack test (tests/packages); removed at its end\n"
                    "log_path = %s\n" % DOVECOT_LOG)

    def add_user(self):
        if subprocess.run(["id", USER], capture_output=True).returncode == 0:
            run(["userdel", "-r", USER], check=False)
        self.made("made_user")
        run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", USER])
        run(["chpasswd"], input="%s:%s\n" % (USER, PASSWORD))

    def undo(self, res, keep_exim):
        step("Clean-up")
        for name, pidf, was in (("exim4", exim_pid, self.exim_was_running),
                                ("dovecot", dovecot_pid, self.dovecot_was_running)):
            if was:
                print("note: %s was running before the test; it is left running" % name)
            elif pidf():
                service(name, "stop")
                res.check(pidf() is None, "%s, started by the test, is stopped" % name)
        for pkg in OUR_PACKAGES:
            if package_state(pkg) != "not-installed":
                run(APT + ["purge"] + OUR_PACKAGES, check=False)
                break
        for f in self.files:
            if os.path.lexists(f):
                os.unlink(f)
        if not keep_exim and not any(self.exim_before.values()):
            run(APT + ["purge", "exim4-daemon-heavy", "exim4-base", "exim4-config"], check=False)
        elif any(v and installed_version(p) != v for p, v in self.exim_before.items()):
            want = ["%s=%s" % (p, v) for p, v in self.exim_before.items() if v]
            print("note: the Exim packages were %s before; putting them back" % " ".join(want))
            run(APT + ["install", "--allow-downgrades"] + want, check=False)
        if self.made_user:
            run(["userdel", "-r", USER], check=False)
            if os.path.exists("/var/mail/" + USER):
                os.unlink("/var/mail/" + USER)
        if self.made_dovecot_cert_links:
            for link in (DOVECOT_CERT, DOVECOT_KEY):
                if os.path.islink(link):
                    os.unlink(link)
        if self.made_snakeoil:
            # make-ssl-cert also links the certificate under its hash
            for link in glob.glob("/etc/ssl/certs/*.[0-9]"):
                if os.path.islink(link) and os.path.realpath(link) == SNAKEOIL[0]:
                    os.unlink(link)
            for p in SNAKEOIL:
                if os.path.exists(p):
                    os.unlink(p)
        if not self.group_existed and self._group_exists():
            run(["groupdel", "clientid"], check=False)
        self.restore_policy_rc()
        if self.dovecot_was_running and not dovecot_pid():
            service("dovecot", "start")
        os.unlink(STATE)
        print("clean-up done", flush=True)


# --------------------------------------------------------------------------
# Packages

def build(res):
    step("Build the packages")
    t0 = time.monotonic()
    out = os.path.join(REPO, "build-deb")
    p = run([os.path.join(REPO, "packaging", "build-packages"), out])
    res.must(p.stdout.strip().splitlines()[-1] == out,
             "packaging/build-packages built the clientid packages, lintian clean (%.0f s)"
             % (time.monotonic() - t0))
    t0 = time.monotonic()
    p = run([os.path.join(REPO, "exim-module", "build-exim"), "package"])
    exim_dir = p.stdout.strip().splitlines()[-1]
    res.must(os.path.isdir(exim_dir), "exim-module/build-exim package: the patched Exim "
             "packages are in %s (%.0f s)" % (exim_dir, time.monotonic() - t0))
    debs = {}
    for pkg in OUR_PACKAGES:
        debs[pkg] = glob.glob(os.path.join(out, pkg + "_*.deb"))[0]
    for pkg in EXIM_PACKAGES:
        found = glob.glob(os.path.join(exim_dir, pkg + "_*+clientid*.deb"))
        res.must(len(found) == 1, "the patched %s is built" % pkg, str(found))
        debs[pkg] = found[0]
    heavy = run(["dpkg-deb", "-f", debs["exim4-daemon-heavy"], "Provides"]).stdout
    res.check("exim4-clientid-capable" in heavy,
              "the patched exim4-daemon-heavy provides exim4-clientid-capable", heavy.strip())
    return debs


def repack(deb, old, new, workdir):
    """The same package with version new instead of old: an upgrade."""
    tree = os.path.join(workdir, os.path.basename(deb) + ".d")
    run(["dpkg-deb", "-R", deb, tree])
    ctl = os.path.join(tree, "DEBIAN", "control")
    text = open(ctl).read()
    text = re.sub(r"^Version: .*$", "Version: " + new, text, flags=re.M)
    text = text.replace("(= %s)" % old, "(= %s)" % new)
    open(ctl, "w").write(text)
    out = os.path.join(workdir, os.path.basename(deb).replace("_%s_" % old, "_%s_" % new))
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
    return out


def purge_leftovers(res):
    left = [p for p in OUR_PACKAGES if package_state(p) != "not-installed"]
    if left:
        print("a previous run left %s; purging them first" % " ".join(left))
        run(APT + ["purge"] + OUR_PACKAGES)
    for path in (SECRET, STORE, API_KEY):
        if os.path.lexists(path):
            print("removing %s, left by an earlier installation" % path)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def preseed_exim():
    """What an administrator preseeds for an unattended install: Debian's
    split configuration (where exim4-clientid's snippets go), on loopback."""
    sel = "\n".join([
        "exim4-config exim4/use_split_config boolean true",
        "exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network",
        "exim4-config exim4/dc_local_interfaces string 127.0.0.1",
        "exim4-config exim4/mailname string localhost",
        "exim4-config exim4/dc_other_hostnames string",
    ]) + "\n"
    run(["debconf-set-selections"], input=sel)


def install(res, debs):
    step("Install with apt-get: the patched Exim and the clientid packages")
    files = [debs[p] for p in EXIM_PACKAGES + OUR_PACKAGES]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = run(APT + ["install", "--allow-downgrades"] + files, check=False, env=env)
    res.must(p.returncode == 0, "apt-get install ./%s" % " ./".join(
        os.path.basename(f) for f in files), "exit %d" % p.returncode)
    for pkg in EXIM_PACKAGES + OUR_PACKAGES:
        res.check(installed_version(pkg) is not None, "%s is installed (%s)"
                  % (pkg, installed_version(pkg)))


def check_installed_files(res):
    step("What the packages set up")
    members = grp.getgrnam("clientid").gr_mem
    res.check("dovecot" in members and "Debian-exim" in members,
              "group clientid has dovecot and Debian-exim", str(members))
    res.check(mode_of(STORE) == "2770 root:clientid", "%s is 2770 root:clientid" % STORE,
              mode_of(STORE))
    res.check(mode_of(SECRET) == "0640 root:clientid", "%s is 0640 root:clientid" % SECRET,
              mode_of(SECRET))
    res.check(os.path.getsize(SECRET) >= 32, "the secret has %d bytes (at least 32)"
              % os.path.getsize(SECRET))
    before = sha256(SECRET)
    p = run(["clientidctl", "create-secret"], check=False)
    res.check(p.returncode == 9 and sha256(SECRET) == before,
              "clientidctl create-secret refuses to replace it (exit 9)",
              "exit %d: %s" % (p.returncode, p.stdout.strip()))
    res.check(mode_of(API_KEY) == "0640 root:clientid", "%s is 0640 root:clientid" % API_KEY,
              mode_of(API_KEY))
    key = open(API_KEY).read().strip()
    keys = open(DOVECOT_KEYS).read()
    res.check(re.fullmatch(r"[0-9a-f]{32}", key) is not None
              and "auth_policy_server_api_header = X-API-Key:%s\n" % key in keys
              and re.search(r"^auth_policy_hash_nonce = [0-9a-f]{32}$", keys, re.M),
              "the policy service's API key matches Dovecot's header; a random hash nonce")
    res.check(all(os.path.islink(link) for link in DOVECOT_LINKS + EXIM_LINKS),
              "the conf.d links of Dovecot and Exim are there")
    conf = run(["doveconf", "-n"], check=False).stdout
    res.check("login_plugins = $login_plugins clientid" in conf or
              re.search(r"login_plugins = .*clientid", conf) is not None,
              "doveconf -n: imap-login loads the clientid plugin")
    res.check("service clientid-policy" in conf and "CHANGE-ME" not in conf,
              "doveconf -n: the clientid-policy service, no CHANGE-ME left")
    bv = run(["exim4", "-bV"], check=False).stdout
    res.check(re.search(r"^Support for:.* CLIENTID", bv, re.M) is not None,
              "exim4 -bV: the installed Exim supports CLIENTID")
    res.check("clientid_advertise_hosts" in
              open("/var/lib/exim4/config.autogenerated").read(),
              "update-exim4.conf put the clientid snippets into Exim's configuration")

def check_apt_keeps_patched_exim(res, m):
    """A newer stock exim4 (the archive may have one) must not replace the
    patched daemon: apt-get upgrade keeps it back because exim4-clientid
    needs exim4-clientid-capable; with the example pin installed as an
    administrator would, full-upgrade does not remove exim4-clientid either."""
    step("apt and a newer stock exim4")
    sim = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"], check=False).stdout
    res.check(not re.search(r"^Inst exim4-daemon-heavy ", sim, re.M),
              "apt-get upgrade would not replace the patched exim4-daemon-heavy")
    m.add_file(EXIM_PIN)
    shutil.copy(EXIM_PIN_EXAMPLE, EXIM_PIN)
    sim = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "full-upgrade"], check=False).stdout
    bad = re.findall(r"^(?:Inst exim4\S*|Remv exim4-clientid) .*$", sim, re.M)
    res.check(not bad, "with %s (from the package's examples), apt-get full-upgrade "
              "keeps the patched Exim and exim4-clientid" % EXIM_PIN, "; ".join(bad))


def configure_admin(res, m, workdir):
    step("Configure as an administrator: a user, TLS and submission for Exim")
    m.add_user()
    # Exim: Debian's macros. TLS with a certificate of our own, the
    # submission port, and CONFDIR/passwd, which the snippets' PLAIN and
    # LOGIN authenticators check.
    conf = open(EXIM_CONF).read()
    conf = re.sub(r"^dc_use_split_config=.*$", "dc_use_split_config='true'", conf, flags=re.M)
    conf = re.sub(r"^dc_local_interfaces=.*$",
                  "dc_local_interfaces='127.0.0.1.25 ; 127.0.0.1.%d'" % SUBMISSION,
                  conf, flags=re.M)
    open(EXIM_CONF, "w").write(conf)
    exim_gid = grp.getgrnam("Debian-exim").gr_gid
    make_cert(workdir, "localhost")
    for src, dst in (("cert.pem", "/etc/exim4/exim.crt"), ("key.pem", "/etc/exim4/exim.key")):
        m.add_file(dst)
        shutil.copy(os.path.join(workdir, src), dst)
        os.chown(dst, 0, exim_gid)
        os.chmod(dst, 0o640)
    crypted = run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD + "\n").stdout.strip()
    m.add_file("/etc/exim4/passwd")
    with open("/etc/exim4/passwd", "w") as f:
        f.write("%s:%s\n" % (USER, crypted))
    os.chown("/etc/exim4/passwd", 0, exim_gid)
    os.chmod("/etc/exim4/passwd", 0o640)
    # With the split configuration, macros go first in conf.d/main (Debian's
    # README; exim4.conf.localmacros is read only by the unsplit one).
    m.add_file(EXIM_MACROS)
    with open(EXIM_MACROS, "w") as f:
        f.write("# clientid full-stack test (tests/packages)\nMAIN_TLS_ENABLE = yes\n")
    run(["update-exim4.conf"])
    # the account learns its first device
    run(["clientidctl", "policy", USER, "mode=learn"])
    for name in ("dovecot", "exim4"):
        p = service(name, "restart")
        res.check(p.returncode == 0, "service %s restart (from its installed configuration)"
                  % name, "exit %d" % p.returncode)
    res.must(dovecot_pid() and wait_port(143) and wait_port(993), "Dovecot is up on 143 and 993")
    res.must(exim_pid() and wait_port(25) and wait_port(SUBMISSION),
             "Exim is up on 25 and %d" % SUBMISSION)


# --------------------------------------------------------------------------
# Clients: TLS checked against the certificates the servers use

def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # self-signed for the host's own name
    return ctx


def imap_login(token, password=PASSWORD, expect_clientid=True):
    """STARTTLS, CAPABILITY, [CLIENTID], LOGIN on port 143: (clientid offered,
    LOGIN reply: 'OK' or the NO text)."""
    m = imaplib.IMAP4("127.0.0.1", 143, timeout=20)
    try:
        m.starttls(ssl_context=tls_context(os.path.realpath(DOVECOT_CERT)))
        typ, caps = m.capability()
        offered = b"CLIENTID" in caps[0].split()
        if token is not None and offered:
            typ, text = dv.imaplib_clientid(m, DEVICE_TYPE, token)
            if typ != "OK":
                return offered, "CLIENTID refused: %s %s" % (typ, text)
        try:
            typ, _ = m.login(USER, password)
            m.logout()
            return offered, typ
        except imaplib.IMAP4.error as e:
            return offered, str(e).strip("b'\"")
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def smtp_submit(token, password=PASSWORD, subject="test"):
    """EHLO, STARTTLS, EHLO, [CLIENTID], AUTH PLAIN, and on success a
    message to the user: (clientid offered, (AUTH code, text), accepted)."""
    s = smtplib.SMTP("127.0.0.1", SUBMISSION, timeout=30)
    try:
        s.ehlo("device.example.net")
        s.starttls(context=tls_context("/etc/exim4/exim.crt"))
        s.ehlo("device.example.net")
        offered = s.has_extn("clientid")
        if token is not None and offered:
            code, text = s.docmd("CLIENTID", "%s %s" % (DEVICE_TYPE, token))
            if code != 250:
                return offered, (code, "CLIENTID refused: " + text.decode()), False
        if not s.has_extn("auth"):
            return offered, (0, "AUTH not offered"), False
        auth = base64.b64encode(("\0%s\0%s" % (USER, password)).encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + auth)
        if code != 235:
            return offered, (code, text.decode()), False
        try:
            s.sendmail("%s@localhost" % USER, ["%s@localhost" % USER],
                       "Subject: %s\r\n\r\nfrom the clientid full-stack test\r\n" % subject)
        except smtplib.SMTPException as e:
            return offered, (code, "message refused: %s" % e), False
        return offered, (code, text.decode()), True
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def smtp_local_delivery(subject):
    """Port 25, no AUTH: a message for the local user (what any MTA serves)."""
    s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
    try:
        s.ehlo("peer.example.net")
        offered = False
        if s.has_extn("starttls"):
            s.starttls(context=tls_context("/etc/exim4/exim.crt"))
            s.ehlo("peer.example.net")
            offered = s.has_extn("clientid")
        s.sendmail("someone@localhost", ["%s@localhost" % USER],
                   "Subject: %s\r\n\r\nplain delivery\r\n" % subject)
        return offered, True
    except (smtplib.SMTPException, OSError) as e:
        return False, "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def ctl(*args, stdin=None):
    p = run(["clientidctl"] + list(args), check=False, input=stdin)
    if p.returncode != 0:
        raise Fatal("clientidctl %s: exit %d: %s" % (" ".join(args), p.returncode, p.stdout))
    return p.stdout


def fingerprint(token):
    return ctl("fingerprint", DEVICE_TYPE, stdin=token + "\n").strip()[:12]


def device_states():
    rows = {}
    for ln in ctl("list", USER).splitlines()[1:]:
        f = ln.split()
        if len(f) >= 2:
            rows[f[0]] = f[1]
    return rows


# --------------------------------------------------------------------------
# The scenario

def scenario(res):
    step("The scenario: learn over IMAP, known over SMTP, unknown refused, approve")
    laptop, phone = str(uuid.uuid4()), str(uuid.uuid4())
    fp_laptop, fp_phone = fingerprint(laptop), fingerprint(phone)

    offered, reply = imap_login(laptop)
    res.check(offered, "IMAP: CLIENTID is offered after STARTTLS")
    res.check(reply == "OK", "IMAP, mode learn: the laptop logs in", reply)
    res.check(device_states().get(fp_laptop) == "trusted",
              "clientidctl list: the laptop %s is trusted" % fp_laptop, str(device_states()))

    ctl("policy", USER, "mode=enforce")
    offered, auth, sent = smtp_submit(laptop, subject="laptop")
    res.check(offered, "SMTP: CLIENTID is offered after STARTTLS on %d" % SUBMISSION)
    res.check(auth[0] == 235 and sent, "SMTP, mode enforce: the laptop, learned over IMAP, "
              "authenticates and submits", str(auth))

    _, wrong_imap = imap_login(laptop, password="not-" + PASSWORD)
    _, wrong_smtp, _ = smtp_submit(laptop, password="not-" + PASSWORD)
    res.check(wrong_imap == IMAP_FAIL and wrong_smtp == SMTP_FAIL,
              "a wrong password gets %r / %d %s" % (IMAP_FAIL, SMTP_FAIL[0], SMTP_FAIL[1]),
              "%r / %r" % (wrong_imap, wrong_smtp))
    _, reply = imap_login(phone)
    res.check(reply == wrong_imap, "IMAP: the unknown phone with the right password gets "
              "the wrong-password reply", reply)
    _, auth, sent = smtp_submit(phone, subject="phone")
    res.check(auth == wrong_smtp and not sent, "SMTP: the unknown phone with the right "
              "password gets the wrong-password reply", str(auth))
    states = device_states()
    res.check(states.get(fp_phone) == "pending" and states.get(fp_laptop) == "trusted",
              "clientidctl list: the phone %s is pending" % fp_phone, str(states))

    ctl("approve", USER, fp_phone)
    _, reply = imap_login(phone)
    res.check(reply == "OK", "IMAP: the approved phone logs in", reply)
    _, auth, sent = smtp_submit(phone, subject="phone approved")
    res.check(auth[0] == 235 and sent, "SMTP: the approved phone submits", str(auth))
    return laptop, phone


def upgrade(res, debs, workdir, laptop):
    step("Upgrade: the same packages with a higher version keep store and secret")
    before = {p: sha256(p) for p in (SECRET, API_KEY)}
    states = device_states()
    old = installed_version("clientid-tools")
    new = old + "+upgradetest1"
    files = [repack(debs[p], old, new, workdir) for p in OUR_PACKAGES]
    p = run(APT + ["install"] + files, check=False)
    res.must(p.returncode == 0, "apt-get install the %s packages (upgrade)" % new)
    res.check(all(installed_version(p) == new for p in OUR_PACKAGES),
              "all three are at %s" % new)
    res.check(all(sha256(f) == h for f, h in before.items()),
              "the site secret and the API key are unchanged")
    res.check(device_states() == states, "the device history is unchanged", str(device_states()))
    res.check(mode_of(STORE) == "2770 root:clientid", "the store is still 2770 root:clientid")
    res.must(dovecot_pid() and wait_port(143) and exim_pid() and wait_port(SUBMISSION),
             "Dovecot and Exim run after the upgrade")
    _, reply = imap_login(laptop)
    _, auth, sent = smtp_submit(laptop, subject="after upgrade")
    res.check(reply == "OK" and auth[0] == 235 and sent,
              "the laptop still logs in (IMAP) and submits (SMTP)", "%r %r" % (reply, auth))


def new_policy_keys(res, laptop):
    step("New policy keys, as packaging.md says: delete both files, dpkg-reconfigure")
    old = open(API_KEY).read()
    os.unlink(API_KEY)
    os.unlink(DOVECOT_KEYS)
    p = run(["dpkg-reconfigure", "-fnoninteractive", "dovecot-clientid"], check=False)
    key = open(API_KEY).read().strip() if os.path.exists(API_KEY) else ""
    keys = open(DOVECOT_KEYS).read() if os.path.exists(DOVECOT_KEYS) else ""
    res.check(p.returncode == 0 and key and key != old.strip()
              and "X-API-Key:%s\n" % key in keys and mode_of(API_KEY) == "0640 root:clientid",
              "dpkg-reconfigure dovecot-clientid made a new key, in both files")
    service("dovecot", "restart")
    res.must(wait_port(143), "Dovecot restarted")
    _, reply = imap_login(laptop)
    res.check(reply == "OK", "the laptop logs in with the new key in place", reply)


def serving_without_clientid(res, when):
    offered, reply = imap_login(None)
    res.check(not offered and reply == "OK",
              "%s: IMAP serves: no CLIENTID offered, the password logs in" % when,
              "offered=%s %r" % (offered, reply))
    offered, ok = smtp_local_delivery("after " + when)
    res.check(not offered and ok is True,
              "%s: SMTP serves: no CLIENTID offered, a message for %s is accepted" % (when, USER),
              "offered=%s %s" % (offered, ok))


def remove(res):
    step("Remove: the snippets are disabled, the servers keep working")
    d_pid, e_pid = dovecot_pid(), exim_pid()
    p = run(APT + ["remove"] + OUR_PACKAGES, check=False)
    res.must(p.returncode == 0, "apt-get remove " + " ".join(OUR_PACKAGES))
    res.check(all(package_state(p) == "config-files" for p in OUR_PACKAGES),
              "the packages are removed, their configuration kept (config-files)")
    res.check(not any(os.path.lexists(link) for link in DOVECOT_LINKS + EXIM_LINKS),
              "the conf.d links are gone")
    res.check(os.path.exists("/etc/dovecot/clientid/95-clientid.conf")
              and os.path.exists("/etc/exim4/clientid/main/04_clientid_options"),
              "the conffiles are still there, for a later reinstall")
    res.check(os.path.exists(SECRET) and os.path.isdir(STORE)
              and os.path.exists(os.path.join(STORE, "durable.mdb")),
              "the secret and the store are kept (remove is not purge)")
    conf = run(["doveconf", "-n"]).stdout
    left = [w for w in ("login_plugins", "clientid-policy", "auth_policy") if w in conf]
    res.check(not left, "doveconf -n: no login plugin, no policy service, no auth policy",
              "still there: %s" % left)
    conf = open("/var/lib/exim4/config.autogenerated").read()
    left = [w for w in ("clientid.so", "clientid_advertise_hosts", "acl_clientid_auth")
            if w in conf]
    res.check(not left, "Exim's generated configuration: no clientid.so, no CLIENTID "
              "options, no clientid ACL", "still there: %s" % left)
    res.check(dovecot_pid() not in (None, d_pid) and exim_pid() not in (None, e_pid),
              "the maintainer scripts restarted the running Dovecot and Exim",
              "dovecot %s -> %s, exim %s -> %s" % (d_pid, dovecot_pid(), e_pid, exim_pid()))
    serving_without_clientid(res, "right after remove")
    for name in ("dovecot", "exim4"):
        service(name, "stop")
    res.check(dovecot_pid() is None and exim_pid() is None, "both stopped")
    for name in ("dovecot", "exim4"):
        p = service(name, "start")
        res.check(p.returncode == 0, "service %s start" % name)
    res.must(wait_port(143) and wait_port(25), "both start again")
    serving_without_clientid(res, "after a fresh start")


def purge(res):
    step("Purge: the store, the secret and the keys are deleted")
    p = run(APT + ["purge"] + OUR_PACKAGES, check=False)
    res.must(p.returncode == 0, "apt-get purge " + " ".join(OUR_PACKAGES))
    res.check(all(package_state(p) == "not-installed" for p in OUR_PACKAGES),
              "no trace in dpkg's database")
    gone = [SECRET, STORE, API_KEY, DOVECOT_KEYS, "/etc/clientid", "/etc/dovecot/clientid",
            "/etc/exim4/clientid"]
    left = [p for p in gone if os.path.lexists(p)]
    res.check(not left, "gone: " + ", ".join(gone), "left: %s" % left)
    for name in ("dovecot", "exim4"):
        service(name, "restart")
    res.check(wait_port(143) and wait_port(25), "Dovecot and Exim still start after the purge")
    serving_without_clientid(res, "after purge")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep-exim", action="store_true",
                    help="leave the patched Exim packages installed at the end")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: the full-stack test installs packages and starts servers: run it as root")
        return 0
    t0 = time.monotonic()

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # One run at a time on a machine: a second one waits (it would install
    # and remove the same packages and restart the same servers).
    lock = open(LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("waiting for another full-stack test on this machine to finish...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    res = Results()
    m = Machine()
    workdir = tempfile.mkdtemp(prefix="clientid-pkgtest-")
    os.chmod(workdir, 0o755)
    try:
        debs = build(res)
        step("Prepare the machine")
        purge_leftovers(res)
        m.relax_policy_rc()
        m.dovecot_cert()
        m.dovecot_log()
        if not dovecot_pid():  # an administrator's Dovecot is already running
            service("dovecot", "start")
        res.check(dovecot_pid() is not None, "Dovecot (without clientid) runs before the install")
        preseed_exim()
        install(res, debs)
        check_installed_files(res)
        check_apt_keeps_patched_exim(res, m)
        res.check(dovecot_pid() is not None and wait_port(143),
                  "Dovecot runs with the plugin and the policy service right after the install")
        configure_admin(res, m, workdir)
        laptop, _ = scenario(res)
        upgrade(res, debs, workdir, laptop)
        new_policy_keys(res, laptop)
        remove(res)
        purge(res)
    except Fatal as e:
        print("stopping here: %s" % e, flush=True)
    except KeyboardInterrupt as e:
        res.check(False, "interrupted (%s)" % (e or "Ctrl-C"))
    except Exception as e:  # report, then clean up
        res.check(False, "unexpected %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        if res.failed:
            for log in ("/var/log/exim4/mainlog", "/var/log/exim4/paniclog"):
                if os.path.exists(log):
                    print("--- last lines of %s:" % log)
                    print("".join(open(log, errors="replace").readlines()[-15:]))
            if os.path.exists(DOVECOT_LOG):
                print("--- last lines of %s:" % DOVECOT_LOG)
                print("".join(open(DOVECOT_LOG, errors="replace").readlines()[-25:]))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        m.undo(res, opts.keep_exim)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nfull-stack test: %.0f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
