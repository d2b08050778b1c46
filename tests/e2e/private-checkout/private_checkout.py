#!/usr/bin/env python3
"""Regression for a checkout that the servers' users cannot read.

usage: private_checkout.py --build-dir DIR [--exim PATH] [--skip REASON]

An administrator who clones as root has the checkout in root's 0700 home,
where dovecot, dovenull and Debian-exim cannot read. This test copies the
harnesses (tests/, exim-module/), the demo (demo/) and the build's plugin,
policy service, clientidctl and clientid.so into a fresh 0700 folder, and
from there runs the demo (Dovecot and Exim on one store) and the Exim
policy group "known" (clientidctl run as Debian-exim). Both pass only when
every harness stages what the servers' unprivileged processes load or read
into its scratch folder; before that, Exim's connection processes failed
to dlopen clientid.so and every SMTP AUTH got 451.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from harness.exim import REPO
from harness.results import record
from harness.runner import first_missing, skip_exit

# what the harnesses take from the build folder, by path inside it
BUILT = ["dovecot-plugin/lib95_clientid_plugin.so",
         "dovecot-plugin/policy-service/clientid-policy",
         "clientidctl/clientidctl",
         "exim-module/clientid.so"]


def copy_checkout(build, private):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sub in ("tests", "exim-module", "demo"):
        shutil.copytree(os.path.join(REPO, sub), os.path.join(private, sub), ignore=ignore)
    for rel in BUILT:
        dst = os.path.join(private, "build", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(build, rel), dst)


def run(name, cmd, private):
    print("== %s: %s" % (name, " ".join(cmd)), flush=True)
    # the copy's own harness library, not the checkout's
    env = dict(os.environ, PYTHONPATH=os.path.join(private, "tests"))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600, env=env)
    print("\n".join("   " + ln for ln in p.stdout.splitlines()[-12:]), flush=True)
    ok = p.returncode == 0
    print("%s %s (exit %d)" % ("PASS" if ok else "FAIL", name, p.returncode), flush=True)
    record("PASS" if ok else "FAIL", name, "" if ok else "exit %d" % p.returncode)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--exim", default=os.environ.get("CLIENTID_EXIM", ""))
    ap.add_argument("--skip", default="")
    a = ap.parse_args()
    missing = [r for r in BUILT if not os.path.exists(os.path.join(a.build_dir, r))]
    why = first_missing([
        (not a.skip, a.skip),
        (os.geteuid() == 0, "starts Dovecot and Exim: needs root"),
        (not missing, "not built: " + ", ".join(missing)),
        (a.exim and os.access(a.exim, os.X_OK),
         "the patched Exim is not built (exim-module/build-exim fast)")])
    if why:
        return skip_exit(why)
    private = tempfile.mkdtemp(prefix="clientid-private-checkout-")
    try:
        os.chmod(private, 0o700)
        copy_checkout(os.path.abspath(a.build_dir), private)
        b = os.path.join(private, "build")
        ok = run("the demo from a 0700 checkout",
                 [sys.executable, os.path.join(private, "demo", "demo.py"),
                  "--build-dir", b, "--exim", a.exim], private)
        ok &= run("exim-policy known from a 0700 checkout",
                  [sys.executable,
                   os.path.join(private, "tests/e2e/exim-policy/exim_policy_e2e.py"),
                   "--exim", a.exim, "--module", os.path.join(b, BUILT[3]),
                   "--clientidctl", os.path.join(b, BUILT[2]), "known"], private)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
