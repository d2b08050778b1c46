"""What every end-to-end harness needs the same way: a free loopback port,
a throwaway self-signed certificate, and a staged copy of what the servers
load from the build."""

import os
import shutil
import socket
import subprocess


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, cn):
    """Writes key.pem and cert.pem (self-signed for cn, 2 days) into
    directory."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=" + cn, "-keyout", os.path.join(directory, "key.pem"),
         "-out", os.path.join(directory, "cert.pem")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
