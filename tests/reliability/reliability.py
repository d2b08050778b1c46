#!/usr/bin/env python3
"""The reliability suite: a soak and faults during load, on a real Dovecot
(with the clientid imap-login plugin and the clientid-policy service) and
the patched Exim (with clientid.so), both on ONE policy store.

The servers are harness.stack's (tests/harness/stack.py), the store on a
small tmpfs of its own, so that the disk-full and read-only cases can act
on it (rel_servers.py). The modules here, by subject: traffic.py (one
attempt, the load generator, the tally, the counter rules), checks.py (how
a case runs, the ledger, the checks after a fault), soak.py, faults.py
(processes, configuration, clock), store_faults.py (disk full, read-only).

usage: reliability.py [--build-dir DIR] [--exim PATH] [--soak-seconds N]
                      [--only NAME[,NAME...]] [--keep] [--skip REASON]

Prints one "PASS name", "FAIL name: why" or "SKIP name (why)" line per
case and ends with "N passed, N failed, N skipped". Exit status: 0 when
nothing failed, 1 on a failure, 77 when the suite cannot run here (with
the reason). No check is a timing target: every wait is a generous
deadline for something to happen.
"""

import argparse
import collections
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid

from faults import ProcessFaults
from harness.dovecot import DOVECOT
from harness.exim import REPO
from harness.runner import first_missing, skip_exit
from harness.stack import built_binaries
from rel_servers import FAKETIME_LIB, LEGIT, Servers
from soak import Soak
from store_faults import StoreFaults
from traffic import Tally


class Suite(Soak, ProcessFaults, StoreFaults):
    """Every case of the suite, run in order on one Servers."""

    def run(self, bins):
        scratch = tempfile.mkdtemp(prefix="clientid-rel-")
        os.chmod(scratch, 0o755)
        tempfile.tempdir = scratch
        faketime = None
        if os.path.exists(FAKETIME_LIB):
            faketime = os.path.join(scratch, "faketime")
            with open(faketime, "w") as f:
                f.write("+0\n")
            os.chmod(faketime, 0o644)
        srv = None
        try:
            srv = Servers(bins, scratch, faketime)
            if not srv.mounted:
                print("note: the store is not on a tmpfs of its own (%s): the disk-full and "
                      "read-only cases will skip" % srv.mount_error, flush=True)
            srv.start()
            srv.legit_tokens = {}
            for u in LEGIT:
                tok = "legit-" + str(uuid.uuid4())
                srv.legit_tokens[u] = tok
                srv.ctl("register", u, "UUID", "--label", "soak device", stdin=tok + "\n")
            tally = Tally()
            self.bans = []
            self.run_case("soak (%d s, both protocols, mixed traffic)" % self.opts.soak_seconds,
                          self.soak, srv, tally)
            for name, fn in (("kill-service (SIGKILL clientid-policy under load)",
                              self.fault_kill_service),
                             ("kill-exim (SIGKILL Exim connection processes mid-AUTH)",
                              self.fault_kill_exim),
                             ("disk-full (the store's tmpfs full)", self.fault_disk_full),
                             ("read-only (the store on a read-only mount)",
                              self.fault_read_only),
                             ("bad-config (clientid.conf corrupted, then reloaded)",
                              self.fault_bad_config),
                             ("clock-back (the clock stepped back an hour)",
                              self.fault_clock_back)):
                self.run_case(name, fn, srv, tally)
            self.run_case("final (servers up, store checks, every synced decision present)",
                          self.final, srv)
        finally:
            if srv is not None:
                if self.opts.keep:
                    print("kept: %s" % scratch)
                srv.stop()
            if not self.opts.keep:
                if srv is not None:
                    srv.ps.cleanup()
                    srv.ex.cleanup(False)
                shutil.rmtree(scratch, ignore_errors=True)

    def final(self, srv):
        self.alive(srv)
        print("   " + srv.store_check().strip().replace("\n", "\n   "))
        n = self.ledger_present(srv)
        print("   %d synced decisions and %d site-wide blocks present" % (n, len(self.bans)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--exim")
    ap.add_argument("--soak-seconds", type=int, default=60)
    ap.add_argument("--only", default="", help="comma-separated case names (soak, kill-service, "
                    "kill-exim, disk-full, read-only, bad-config, clock-back, final)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip", default="")
    opts = ap.parse_args()
    opts.only = [x for x in opts.only.split(",") if x]
    why = first_missing([
        (not opts.skip, opts.skip),
        (os.geteuid() == 0, "the reliability suite starts Dovecot and Exim and mounts a "
                            "tmpfs: it needs root"),
        (os.access(DOVECOT, os.X_OK), "Dovecot not installed (dovecot-core, dovecot-imapd)")])
    if why:
        return skip_exit(why)
    bins, missing = built_binaries(opts)
    if missing:
        return skip_exit("not built: " + ", ".join(missing))
    t0 = time.monotonic()
    suite = Suite(opts)

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        suite.run(bins)
    except KeyboardInterrupt as e:
        suite.report("interrupted", "FAIL", str(e) or "Ctrl-C")
    except Exception as e:  # noqa: BLE001 - servers that did not start
        traceback.print_exc()
        suite.report("setup", "FAIL", "%s: %s" % (type(e).__name__, e))
    n = collections.Counter(s for _, s in suite.results)
    print("reliability: %d passed, %d failed, %d skipped (%.0f s)"
          % (n["PASS"], n["FAIL"], n["SKIP"], time.monotonic() - t0), flush=True)
    return 1 if n["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
