"""What every server fixture needs the same way: a free loopback port, a
throwaway certificate, a TLS client context, a wait for a listener, and a
staged copy of what the servers load from the build."""

import os
import shutil
import socket
import ssl
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free_port()s, sorted."""
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


_cert_maker = None


def use_cert_maker(fn):
    """Makes every later make_cert(directory, cn) call fn(directory, cn)
    instead (the Thunderbird tests: certificates signed by a CA their
    profiles trust); None restores the self-signed default."""
    global _cert_maker
    _cert_maker = fn


def make_cert(directory, cn):
    """Writes key.pem and cert.pem (self-signed for cn, 2 days) into
    directory."""
    if _cert_maker is not None:
        return _cert_maker(directory, cn)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=" + cn, "-keyout", os.path.join(directory, "key.pem"),
         "-out", os.path.join(directory, "cert.pem")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def client_ssl_context():
    """A TLS client context that accepts the scratch servers' certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def listening(ports):
    """True when every port on 127.0.0.1 accepts a connection now."""
    try:
        for port in ports:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_listening(ports, timeout, alive=lambda: True, step=0.1):
    """Waits until listening(ports); False when timeout passes or alive()
    turns false first."""
    deadline = time.time() + timeout
    while time.time() < deadline and alive():
        if listening(ports):
            return True
        time.sleep(step)
    return False


def stage(src, directory, mode=0o644):
    """Copies src (a file, or a folder of them) that a server's unprivileged
    processes load, run or read into directory, a harness's scratch folder,
    owned by root with mode (folders 0755), as the packages install them.
    The servers then never reach into the checkout, which may sit where
    their users cannot read (root's 0700 home, a 0700 mktemp -d). Returns
    the staged path."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    dst = os.path.join(directory, os.path.basename(os.path.normpath(src)))
    if not os.path.isdir(src):
        shutil.copyfile(src, dst)
        os.chown(dst, 0, 0)
        os.chmod(dst, mode)
        return dst
    shutil.copytree(src, dst)
    for root, _, files in os.walk(dst):
        os.chown(root, 0, 0)
        os.chmod(root, 0o755)
        for p in (os.path.join(root, n) for n in files):
            os.chown(p, 0, 0)
            os.chmod(p, mode)
    return dst
