"""Running Debian's Thunderbird for a test: Xvfb, the thunderbird process,
a minimal Marionette client (chrome context), screenshots. Everything is
started with its own PID recorded and stopped by that PID."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

THUNDERBIRD = "/usr/bin/thunderbird"


def stop_pid(proc, what, grace=5):
    """SIGTERM the process group proc leads, then SIGKILL it."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass
    print("note: %s (pid %d) did not end" % (what, proc.pid))


class Xvfb:
    def __init__(self, scratch):
        r, w = os.pipe()
        self.log = open(os.path.join(scratch, "xvfb.log"), "w")
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp",
             "-auth", "/dev/null"], pass_fds=(w,), stdout=self.log, stderr=self.log,
            stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(w)
        buf = b""
        deadline = time.monotonic() + 20
        while not buf.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(r, 16)  # Xvfb writes the number, then a newline
            if not chunk:
                break
            buf += chunk
        os.close(r)
        if not buf.strip().isdigit():
            stop_pid(self.proc, "Xvfb")
            raise RuntimeError("Xvfb gave no display number")
        self.display = ":" + buf.strip().decode()

    def stop(self):
        stop_pid(self.proc, "Xvfb")
        self.log.close()


class Marionette:
    """One Marionette session over the raw "length:json" protocol."""

    def __init__(self, port, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Marionette did not listen on %d" % port)
                time.sleep(0.3)
        self.buf = b""
        self.msgid = 0
        self._read()  # the server's hello
        self.call("WebDriver:NewSession", {"capabilities": {}})
        self.call("Marionette:SetContext", {"value": "chrome"})

    def _read(self):
        while b":" not in self.buf:
            self._recv()
        n, rest = self.buf.split(b":", 1)
        while len(rest) < int(n):
            self.buf = n + b":" + rest
            self._recv()
            n, rest = self.buf.split(b":", 1)
        self.buf = rest[int(n):]
        return json.loads(rest[:int(n)])

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("Marionette closed the connection")
        self.buf += chunk

    def call(self, name, params=None):
        self.msgid += 1
        data = json.dumps([0, self.msgid, name, params or {}]).encode()
        self.sock.sendall(b"%d:%s" % (len(data), data))
        while True:
            msg = self._read()
            if msg[0] == 1 and msg[1] == self.msgid:
                break
        if msg[2]:
            raise RuntimeError("Marionette %s: %s" % (name, msg[2].get("message", msg[2])))
        return msg[3]

    def js(self, script, *args):
        """Runs script (a function body; may return a Promise) in chrome."""
        return self.call("WebDriver:ExecuteScript",
                         {"script": script, "args": list(args)}).get("value")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Thunderbird:
    def __init__(self, scratch, profile, display, marionette_port, name):
        self.scratch = scratch
        self.port = marionette_port
        home = os.path.join(scratch, "home")
        os.makedirs(home, exist_ok=True)
        self.imap_log = os.path.join(scratch, "imap-%s.moz_log" % name)
        env = {
            "PATH": "/usr/bin:/bin", "HOME": home, "DISPLAY": display, "LANG": "C.UTF-8",
            "TMPDIR": scratch, "XDG_RUNTIME_DIR": scratch,
            "DBUS_SESSION_BUS_ADDRESS": "disabled:", "NO_AT_BRIDGE": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
            # without it release builds ignore services.settings.server
            "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1",
            # IMAP's protocol log: which commands it sent (the CLIENTID line
            # itself is masked there); never SMTP's, which is not masked
            "MOZ_LOG": "IMAP:5,sync", "MOZ_LOG_FILE": self.imap_log,
        }
        self.out = open(os.path.join(scratch, "thunderbird-%s.log" % name), "w")
        self.proc = subprocess.Popen(
            [THUNDERBIRD, "--profile", profile, "--no-remote", "--marionette",
             "--remote-allow-system-access"], env=env, stdout=self.out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.m = None

    def connect(self, timeout=60):
        self.m = Marionette(self.port, timeout)
        # wait for the main window and the account manager
        self.m.js("""
            const deadline = Date.now() + 30000;
            return (async () => {
              while (Date.now() < deadline) {
                const w = Services.wm.getMostRecentWindow("mail:3pane");
                if (w && w.document.readyState == "complete") return true;
                await new Promise(r => setTimeout(r, 200));
              }
              throw new Error("no main window");
            })();""")
        return self.m

    def imap_commands(self):
        """Lower-cased IMAP commands Thunderbird logged sending."""
        try:
            with open(self.imap_log, errors="replace") as f:
                return [ln.split("SendData: ", 1)[1].strip().lower()
                        for ln in f if "SendData: " in ln]
        except OSError:
            return []

    def screenshot(self, dest, title_words=("Login", "Alert", "Authentication", "Password")):
        """The front dialog (else the whole screen) as a small PNG."""
        env = dict(os.environ, DISPLAY=self.display_of())
        target = "root"
        for word in title_words:
            p = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", word],
                               capture_output=True, text=True, env=env, timeout=10)
            ids = p.stdout.split()
            if ids:
                target = ids[-1]
                break
        subprocess.run(["import", "-window", target, "-colors", "64", "-strip",
                        "png8:" + dest], check=True, env=env, timeout=30,
                       capture_output=True)
        return target

    def visible_titles(self):
        """The titles of the visible top-level windows on Thunderbird's
        display (its main window and any dialog it has open)."""
        env = dict(os.environ, DISPLAY=self.display_of())
        p = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "."],
                           capture_output=True, text=True, env=env, timeout=10)
        titles = set()
        for wid in p.stdout.split():
            q = subprocess.run(["xdotool", "getwindowname", wid], capture_output=True,
                               text=True, env=env, timeout=10)
            if q.returncode == 0 and q.stdout.strip():
                titles.add(q.stdout.strip())
        return titles

    def display_of(self):
        with open("/proc/%d/environ" % self.proc.pid, "rb") as f:
            env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
        return env[b"DISPLAY"].decode()

    def stop(self):
        if self.m is not None:
            try:
                # a clean quit takes under a second; with a modal dialog
                # open it never answers, and SIGTERM below ends it
                self.m.sock.settimeout(3)
                self.m.call("Marionette:Quit", {"flags": ["eForceQuit"]})
                self.proc.wait(5)
            except Exception:  # noqa: BLE001
                pass
            self.m.close()
            self.m = None
        stop_pid(self.proc, "thunderbird")
        self.out.close()


def available():
    """None when Thunderbird, Xvfb and the tools can run here, else why not."""
    for tool in (THUNDERBIRD, "Xvfb", "certutil", "xdotool", "import", "openssl"):
        if not shutil.which(tool):
            return "%s not found (tests/interop/thunderbird/packages.txt)" % tool
    if not os.path.exists("/usr/lib/thunderbird/libnss3.so"):
        return "/usr/lib/thunderbird/libnss3.so not found"
    return None
