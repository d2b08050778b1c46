"""IMAP clients for the tests: Raw (exact bytes out, exact lines in), and
Python's imaplib taught the CLIENTID command, and the login mechanisms
spoken over Raw. A server fixture passed as dc has .port (plaintext) and
.ssl_port (implicit TLS)."""

import base64
import contextlib
import hashlib
import hmac
import imaplib
import re
import socket
import subprocess

from harness.net import client_ssl_context
from harness.runner import check

UNKNOWN_REPLY = "BAD Error in IMAP command received by server."
OK_REPLY = "OK CLIENTID completed"
AGAIN_REPLY = "BAD CLIENTID already issued."
# A refusal, by password or by policy: the same words (DESIGN: rejections
# are identical to a wrong password).
FAIL_REPLY = "NO [AUTHENTICATIONFAILED] Authentication failed."
# [store] on_error = tempfail: IMAP's temporary failure, never the
# wrong-password reply (issue 19; the plugin turns the service's reason
# into it).
TEMPFAIL_REPLY = "NO [UNAVAILABLE] Temporary authentication failure."


class Raw:
    """One IMAP connection, line by line. A context manager: the block's end
    closes it."""

    def __init__(self, dc, tls, timeout=10, port=None, preamble=None):
        if port is None:
            port = dc.ssl_port if tls else dc.port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if preamble is not None:
            self.sock.sendall(preamble)
        if tls:
            self.sock = client_ssl_context().wrap_socket(self.sock)
        self.buf = b""
        self.greeting = self.line()
        if not self.greeting.startswith("* OK"):
            raise OSError("no greeting: %r" % self.greeting)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def until_tagged(self, tag):
        """All lines up to and including the tagged reply for tag."""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)

    def starttls(self, tag="s1"):
        lines = self.cmd(tag, "STARTTLS")
        if not lines[-1].startswith(tag + " OK"):
            raise AssertionError("STARTTLS failed: %r" % lines)
        self.sock = client_ssl_context().wrap_socket(self.sock)
        return lines

    def capability(self, tag="c1"):
        lines = self.cmd(tag, "CAPABILITY")
        caps = [ln for ln in lines if ln.startswith("* CAPABILITY ")]
        if len(caps) != 1 or not lines[-1].startswith(tag + " OK"):
            raise AssertionError("bad CAPABILITY reply: %r" % lines)
        return caps[0].split()[2:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def greeting_caps(greeting):
    m = re.match(r"\* OK \[CAPABILITY ([^\]]*)\]", greeting)
    if not m:
        raise AssertionError("greeting without capability code: %r" % greeting)
    return m.group(1).split()


def tls_client(dc, how):
    """how: 'ssl' (implicit TLS) or 'starttls'."""
    if how == "ssl":
        return Raw(dc, tls=True)
    c = Raw(dc, tls=False)
    c.starttls()
    return c


# --------------------------------------------------------------------------
# imaplib: a real client library

imaplib.Commands.setdefault("CLIENTID", ("NONAUTH",))


def imaplib_client(dc, how):
    if how == "ssl":
        return imaplib.IMAP4_SSL("127.0.0.1", dc.ssl_port, ssl_context=client_ssl_context(),
                                 timeout=10)
    m = imaplib.IMAP4("127.0.0.1", dc.port, timeout=10)
    if how == "starttls":
        m.starttls(ssl_context=client_ssl_context())
    return m


@contextlib.contextmanager
def imaplib_session(dc, how):
    """imaplib_client(dc, how) for a with block, shut down at its end
    (an OSError on the way out is ignored)."""
    m = imaplib_client(dc, how)
    try:
        yield m
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def imaplib_clientid(m, typ, token):
    """('OK', text) or ('BAD'/'NO', text); imaplib raises on BAD."""
    try:
        typ_, data = m._simple_command("CLIENTID", typ, token)
        return typ_, data[-1].decode() if data and data[-1] else ""
    except m.error as e:
        return "BAD", str(e)


def tag_of(reply):
    return reply.split(" ", 1)[0]


def rest_of(reply):
    return reply.split(" ", 1)[1] if " " in reply else ""


# --------------------------------------------------------------------------
# Login mechanisms over Raw: each sends one login as tag and returns the
# tagged reply line. The names appear in the forward group's case names.

def login_raw(c, tag, user, password):
    return c.cmd(tag, "LOGIN %s %s" % (user, password))[-1]


def authenticate_plain(c, tag, user, password):
    ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return c.cmd(tag, "AUTHENTICATE PLAIN " + ir)[-1]


def authenticate_login(c, tag, user, password):
    c.send("%s AUTHENTICATE LOGIN\r\n" % tag)
    for answer in (user, password):
        ln = c.line()
        check(ln.startswith("+"), "expected a challenge, got %r" % ln)
        c.send(base64.b64encode(answer.encode()).decode() + "\r\n")
    return c.until_tagged(tag)[-1]


def authenticate_cram_md5(c, tag, user, password):
    c.send("%s AUTHENTICATE CRAM-MD5\r\n" % tag)
    ln = c.line()
    check(ln.startswith("+ "), "expected a challenge, got %r" % ln)
    challenge = base64.b64decode(ln[2:])
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    c.send(base64.b64encode(("%s %s" % (user, digest)).encode()).decode() + "\r\n")
    return c.until_tagged(tag)[-1]


def run_etpan(client, *args):
    """Runs a libetpan test client (tests/e2e/*/etpan-*.c); its key=value
    output lines as a dict. Failure when it exits non-zero."""
    out = subprocess.run([client] + [str(a) for a in args], capture_output=True, timeout=60,
                         check=False)
    check(out.returncode == 0, "etpan client exit %d: %r" % (out.returncode, out.stderr))
    res = {}
    for ln in out.stdout.decode("latin-1").splitlines():
        k, _, v = ln.partition("=")
        res[k] = v
    return res
