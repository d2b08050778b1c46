#!/usr/bin/env python3
"""The full-stack test (`make test-packages`): the Debian packages, installed.

Builds the clientid .debs (packaging/build-packages) and the patched Exim's
(exim-module/build-exim package), installs them with apt-get as an
administrator would, configures Dovecot and Exim through Debian's own files,
starts both from their installed configurations with the distribution's
service scripts, and plays the cross-protocol scenario with real clients
(imaplib, smtplib, TLS checked against the installed certificates).

The site is Debian's: Exim authenticates through Dovecot SASL (its own
dovecot_plain and dovecot_login), Dovecot checks system passwords. Then:

  installing the clientid packages alone changes no reply of either server
  (the same EHLO, AUTH results, IMAP capabilities and logins as before);
  clientid-activate refuses a Dovecot with an auth_policy_server_url of the
  site's, an Exim with its own acl_smtp_auth and smtp_accept_max_per_host,
  and authenticators without the clientid hook, each with its message and
  with both servers left running as they were; with the hook added as the
  message says, it activates both;
  a device learned over IMAP is known when it submits over SMTP (through the
  site's dovecot_plain); an unknown device is refused on both with the
  wrong-password reply; clientidctl lists it pending; approved, it works on
  both.

Then an upgrade (the same packages with a higher version) keeps the store
and the secret; removal leaves both servers running and serving without
CLIENTID, and they still start; a purge deletes the store, the secret and
the keys. Finally it stops what it started and undoes what it set up (the
Exim packages are purged again if they were not installed before).

usage: full_stack.py [--keep-exim]
Prints PASS/FAIL lines and ends with "N passed, N failed"; exit 1 on a
failure. Needs root; on a machine without it, it says SKIP and exits 77.

Where the machine has no init system, the service scripts in /etc/init.d
still work (`service NAME start`), but invoke-rc.d refuses every start, and
a Docker-style /usr/sbin/policy-rc.d forbids them too. While the test runs,
a policy-rc.d lets dovecot and exim4 start (everything else as before), so
that the maintainer scripts' own restarts (invoke-rc.d) are what is tested;
the original, or none, is put back at the end. What the test changed is
recorded in STATE as it goes, so that a killed run is undone by the next.

The modules beside this script: machine.py (names, results, the dpkg, apt
and service helpers, and Machine: what is undone), install.py (build,
install and what it sets up), clients.py (IMAP, SMTP and clientidctl),
activation.py (the site and clientid-activate), scenario.py (the
cross-protocol scenario), lifecycle.py (upgrade, new keys, remove, purge).
The site's configuration files are tests/harness/templates/pkgtest-*.
"""

import argparse
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

from activation import (activate, activation_refusals, configure_site, install_changes_nothing,
                        site_options_of_its_own)
from harness.results import record
from harness.runner import skip_exit
from install import (build, check_apt_keeps_patched_exim, check_exim_update_warning,
                     check_installed_files, check_prune_timer, install_exim, preseed_exim,
                     purge_leftovers)
from lifecycle import new_policy_keys, purge, remove, upgrade
from machine import LOCK, DOVECOT_LOG, Fatal, Machine, Results, dovecot_pid, service, step
from scenario import policy_service_cannot_start, scenario


def one_run_at_a_time():
    """The machine's lock, held until it is closed: a second run waits
    (it would install and remove the same packages and restart the same
    servers)."""
    lock = open(LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("waiting for another full-stack test on this machine to finish...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def steps(res, m, workdir):
    """The whole test, in order; Fatal stops it."""
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
    install_exim(res, debs)
    configure_site(res, m, workdir)
    site_options_of_its_own(res, m)
    install_changes_nothing(res, debs)
    check_installed_files(res)
    check_apt_keeps_patched_exim(res, m)
    check_prune_timer(res)
    check_exim_update_warning(res)
    activation_refusals(res, m)
    activate(res)
    laptop, _ = scenario(res)
    policy_service_cannot_start(res, laptop)
    upgrade(res, debs, workdir, laptop)
    new_policy_keys(res, laptop)
    remove(res)
    purge(res)


def print_log_tails():
    """The servers' last log lines, after a failure."""
    for log in ("/var/log/exim4/mainlog", "/var/log/exim4/paniclog"):
        if os.path.exists(log):
            print("--- last lines of %s:" % log)
            print("".join(open(log, errors="replace").readlines()[-15:]))
    if os.path.exists(DOVECOT_LOG):
        print("--- last lines of %s:" % DOVECOT_LOG)
        print("".join(open(DOVECOT_LOG, errors="replace").readlines()[-25:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep-exim", action="store_true",
                    help="leave the patched Exim packages installed at the end")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        why = "the full-stack test installs packages and starts servers: run it as root"
        record("SKIP", "full-stack test", why)
        return skip_exit(why)
    t0 = time.monotonic()

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    lock = one_run_at_a_time()
    res = Results()
    m = Machine()
    workdir = tempfile.mkdtemp(prefix="clientid-pkgtest-")
    os.chmod(workdir, 0o755)
    try:
        steps(res, m, workdir)
    except Fatal as e:
        print("stopping here: %s" % e, flush=True)
        if not e.counted:  # an early stop is always a failure
            res.check(False, "the run stopped early: %s" % e)
    except KeyboardInterrupt as e:
        res.check(False, "interrupted (%s)" % (e or "Ctrl-C"))
    except Exception as e:  # report, then clean up
        res.check(False, "unexpected %s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        if res.failed:
            print_log_tails()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        m.undo(res, opts.keep_exim)
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nfull-stack test: %.0f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (res.passed, res.failed))
    lock.close()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
