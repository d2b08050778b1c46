"""clientidctl as the tests run it: one function for every fixture, the demo
and the package test, so that a failure always reads the same way."""

import subprocess

from harness.runner import Failure


def run(binary, conf, *args, stdin=None, ok=True, merge=False, user=None, group=None,
        error=Failure, timeout=30):
    """Runs `binary [-c conf] args...` (conf None: the installed default),
    stdin as text, as user/group when given. Returns the CompletedProcess;
    with ok, a non-zero exit raises error naming the command and its
    output. merge puts stderr into stdout; timeout is in seconds."""
    cmd = [binary] + (["-c", conf] if conf else []) + list(args)
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                       text=True, timeout=timeout, user=user, group=group)
    if ok and p.returncode != 0:
        out = p.stdout if merge else p.stderr
        raise error("clientidctl %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                        out.strip()))
    return p


def short_fingerprint(binary, conf, token, typ="UUID", **kw):
    """The 12-hex-digit short fingerprint clientidctl shows for a token."""
    return run(binary, conf, "fingerprint", typ, stdin=token, **kw).stdout.strip()[:12]
