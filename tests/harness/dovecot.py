"""One scratch Dovecot: /usr/sbin/dovecot -F on free loopback ports, with a
scratch base_dir, state_dir, log, self-signed certificate, passwd-file
passdbs and mail, and the clientid imap-login plugin loaded from a staged
copy. The configuration is templates/dovecot.conf, with
templates/dovecot-haproxy.conf (a PROXY-protocol listener) and
templates/dovecot-valgrind.conf (imap-login under valgrind) when asked."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

from harness.imap import Raw
from harness.net import free_ports, make_cert, stage, listening
from harness.templates import render

DOVECOT = "/usr/sbin/dovecot"
PLUGIN_FILE = "lib95_clientid_plugin.so"

# Tokens used in this run. Every one must stay out of every log.
RUN_ID = uuid.uuid4().hex[:10]
UUID_TOKEN = str(uuid.uuid4())
BOB_TOKEN = "tok-" + RUN_ID
SPECIAL_TOKENS = {
    # user: (type, token) -- tokens with atom-specials, quotes, braces
    "carol": ("UUID", "{5}"),
    "dave": ("T-1", '"abc"'),
    "erin": ("X", '(a)[b]{c}%*"\\' + RUN_ID + "]"),
}


def snippet(template, **values):
    """templates/<template> filled, for a @key@ of templates/dovecot.conf
    that stands at the end of a line: a newline first, none at the end."""
    return "\n" + render(template, **values).rstrip("\n")


# --------------------------------------------------------------------------
# Dovecot instance

class Dovecot:
    """One scratch Dovecot. enable=None leaves CLIENTID_IMAP_ENABLE unset
    (the plugin's default); load_plugin=False runs without the plugin."""

    def __init__(self, plugin_dir, name, enable=None, load_plugin=True,
                 auth_debug=False, keep=False, env=None, trusted_networks="",
                 haproxy=False, extra_conf="", valgrind=False):
        self.extra_conf = extra_conf
        self.valgrind = valgrind
        self.plugin_dir = os.path.abspath(plugin_dir)
        self.name = name
        self.enable = enable
        self.load_plugin = load_plugin
        self.auth_debug = auth_debug
        self.keep = keep
        self.env = dict(env or {})
        self.trusted_networks = trusted_networks
        self.haproxy = haproxy
        self.proc = None
        self.scratch = tempfile.mkdtemp(prefix="clientid-e2e-dovecot-%s-" % name)
        os.chmod(self.scratch, 0o755)
        # imap-login loads the plugin from a staged copy, never the build
        plugin = os.path.join(self.plugin_dir, PLUGIN_FILE)
        self.plugin_dir = self.path("modules")
        os.makedirs(self.plugin_dir, mode=0o755)
        if os.path.isfile(plugin):
            stage(plugin, self.plugin_dir)
        self.port, self.ssl_port, self.haproxy_port = free_ports(3)
        self.log = os.path.join(self.scratch, "log", "dovecot.log")
        self.stdio_log = os.path.join(self.scratch, "log", "stdio.log")

    def path(self, *parts):
        return os.path.join(self.scratch, *parts)

    def _write(self, rel, text, mode=0o644):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def _conf(self):
        env = "$import_environment"
        if self.enable is not None:
            env += " CLIENTID_IMAP_ENABLE=" + self.enable
        for k, v in sorted(self.env.items()):
            env += " %s=%s" % (k, v)
        login_exec = snippet("dovecot-valgrind.conf", s=self.scratch) if self.valgrind else ""
        haproxy = snippet("dovecot-haproxy.conf", haproxy_port=self.haproxy_port) \
            if self.haproxy else ""
        plugins = "login_plugins = $login_plugins clientid" if self.load_plugin else ""
        return render("dovecot.conf", name=self.name, pid=os.getpid(), s=self.scratch,
                      plugin_dir=self.plugin_dir, env=env, port=self.port,
                      ssl_port=self.ssl_port, plugins=plugins,
                      auth_debug="yes" if self.auth_debug else "no",
                      trusted=self.trusted_networks, haproxy=haproxy,
                      extra_conf=self.extra_conf, login_exec=login_exec)

    def start(self, timeout=30):
        os.makedirs(self.path("log"), exist_ok=True)
        for d in ("mail", "home"):
            os.makedirs(self.path(d), exist_ok=True)
            shutil.chown(self.path(d), "nobody", "nogroup")
        make_cert(self.path(), "localhost")
        self._write("passwd", "joe:{PLAIN}password\nalice:{PLAIN}alicepw\n")
        lines = ["bob+UUID+%s:{PLAIN}bobpw" % BOB_TOKEN]
        for user, (typ, tok) in SPECIAL_TOKENS.items():
            # passwd-file expands username_format with str_escape(), which
            # puts a backslash before " ' and \
            key = re.sub(r"([\"'\\])", r"\\\1", tok)
            lines.append("%s+%s+%s:{PLAIN}%spw" % (user, typ, key, user))
        self._write("passwd.clientid", "\n".join(lines) + "\n")
        conf = self._write("dovecot.conf", self._conf())
        with open(self.stdio_log, "ab") as out:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited with %s:\n%s" % (self.proc.returncode,
                                                                     self.logs_text()))
            try:
                if not listening((self.port, self.ssl_port)):
                    raise OSError("not listening yet")
                # and a greeting proves imap-login with the plugin is up
                c = Raw(self, tls=False)
                c.close()
                return self
            except (OSError, EOFError):
                time.sleep(0.2)
        raise RuntimeError("dovecot did not come up:\n" + self.logs_text())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        # the master normally takes its children along; make sure of it
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=5)
        self.proc = None

    def log_files(self):
        out = []
        for root, _dirs, files in os.walk(self.path("log")):
            out.extend(os.path.join(root, f) for f in files)
        return out

    def logs_bytes(self):
        data = b""
        for f in self.log_files():
            with open(f, "rb") as fh:
                data += fh.read()
        return data

    def logs_text(self):
        return self.logs_bytes().decode("utf-8", "replace")[-4000:]

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)

