"""The reliability suite's servers: harness.stack's Dovecot (with the policy
service) and Exim (with clientid.so) on one store, that store on a small
tmpfs of its own (so that the disk-full and read-only cases can act on
it), and, when libfaketime is installed, both servers' clocks under the
suite's control. Also the accounts and limits every module shares."""

import json
import os
import re
import subprocess
import time

from harness.runner import check
from harness.stack import Stack

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

# Accounts: u* have one trusted device each and log in legitimately; v* are
# the attacker's targets (their password is leaked). Passwords follow the
# Dovecot harness's rule "<user>-pw".
LEGIT = ["u%02d" % i for i in range(1, 7)]
TARGETS = ["v%02d" % i for i in range(1, 5)]
SPARE = ["w%02d" % i for i in range(1, 5)]  # for decisions made by hand
ACCOUNTS = LEGIT + TARGETS + SPARE

DEVICE_FAIL_LIMIT = 4
DEVICE_MAX_ACCOUNTS = 3
STORE_FS_SIZE = "24m"
MAP_SIZE = "2M"

# Every client of the suite shares 127.0.0.1, and failures of untrusted
# devices count toward their address: a reachable address limit would
# refuse every new device (stolen, walker, the fault cases' probes) within
# seconds of the guessers starting. The address limit has its own unit and
# end-to-end tests.
SETTINGS = {
    "store": {"map_size": MAP_SIZE},
    "policy": {"pending_max_devices": 1000},
    "limits": {"device_fail_limit": DEVICE_FAIL_LIMIT, "device_fail_window": "15m",
               "ip_fail_limit": 1000000, "ip_fail_window": "15m",
               "device_max_accounts": DEVICE_MAX_ACCOUNTS,
               "device_accounts_window": "1d"},
}

# What a log must never say while nothing was done to the servers.
BAD_LOG = re.compile(r"segfault|Panic|panic:|Fatal|killed with signal|core dumped|"
                     r"crash|MDB_|mdb_|LMDB|lmdb|store failed|store_error|error=",
                     re.IGNORECASE)

FAKETIME_ENV = ("LD_PRELOAD=%s FAKETIME_TIMESTAMP_FILE=%s FAKETIME_CACHE_DURATION=1 "
                "FAKETIME_DONT_FAKE_MONOTONIC=1")


class Servers(Stack):
    """The Stack of the suite, in mode enforce, its store on its own tmpfs
    when mount is permitted (.mounted; else .mount_error says why)."""

    def __init__(self, bins, scratch, faketime_file=None):
        self.scratch = scratch
        self.fs = os.path.join(scratch, "fs")
        os.mkdir(self.fs)
        self.mounted = False
        self.mount_error = ""
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % STORE_FS_SIZE,
                            "clientid-rel", self.fs], capture_output=True, text=True)
        if r.returncode == 0:
            self.mounted = True
        else:
            self.mount_error = (r.stderr or r.stdout).strip() or "mount failed"
        self.ro_bound = False
        self.faketime_file = faketime_file
        super().__init__(bins, "rel", os.path.join(self.fs, "store"), ACCOUNTS,
                         mode="enforce", settings=SETTINGS, fail_delay="200ms")
        # generous timeouts: a loaded 2-core machine is slow, not broken
        dc = self.ps.dc
        dc.extra_conf = dc.extra_conf.replace("auth_policy_server_timeout_msecs = 2000",
                                              "auth_policy_server_timeout_msecs = 20000")
        if faketime_file:
            # only the service's clock is faked; the monotonic clock is not,
            # so timeouts and delays stay real
            plain = "executable = %s" % self.ps.service
            check(plain in dc.extra_conf, "unexpected Dovecot configuration from the harness")
            dc.extra_conf = dc.extra_conf.replace(
                plain, "executable = /usr/bin/env %s %s"
                % (FAKETIME_ENV % (FAKETIME_LIB, faketime_file), self.ps.service))
            self.ex.binary = self._faketime_exim(bins.exim)
        # a SIGHUP makes the daemon re-execute exim_path (default
        # /usr/sbin/exim4, which need not be this binary, or exist)
        with open(self.ex.conf) as f:
            conf = f.read()
        head = "exim_path = %s\n" % self.ex.binary
        if faketime_file:
            # Exim empties its environment at start, and libfaketime reads
            # these whenever it refreshes its clock
            head += ("keep_environment = LD_PRELOAD : FAKETIME_TIMESTAMP_FILE : "
                     "FAKETIME_CACHE_DURATION : FAKETIME_DONT_FAKE_MONOTONIC\n")
        with open(self.ex.conf, "w") as f:
            f.write(head + conf)

    def _faketime_exim(self, exim):
        """A wrapper that starts the Exim daemon with libfaketime preloaded:
        its connection processes are forked from it, so they share its clock."""
        path = os.path.join(self.scratch, "exim-faketime")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/env %s %s \"$@\"\n"
                    % (FAKETIME_ENV % (FAKETIME_LIB, self.faketime_file), exim))
        os.chmod(path, 0o755)
        return path

    def stop(self):
        try:
            super().stop()
        finally:
            self.unbind_ro()
            if self.mounted:
                subprocess.run(["umount", "-l", self.fs], capture_output=True)
                self.mounted = False

    # --- the store ---------------------------------------------------------

    def devices(self, account):
        out = self.ctl("--json", "list", account).stdout.strip()
        data = json.loads(out) if out else []
        if isinstance(data, dict):
            data = data.get("devices", [])
        return {d["fingerprint"]: d for d in data}

    def show(self, account, fp):
        """One device of an account, also one the account knows only from
        its routine data (a device that only ever failed a password there:
        `list` leaves those out)."""
        p = self.ctl("--json", "show", account, fp, ok=False)
        if p.returncode == 5:
            return None
        check(p.returncode == 0, "clientidctl show %s %s: exit %d %s"
              % (account, fp[:12], p.returncode, p.stderr.strip()))
        return json.loads(p.stdout)

    def all_devices(self):
        return {a: self.devices(a) for a in ACCOUNTS}

    def store_check(self):
        p = self.ctl("check", ok=False)
        check(p.returncode == 0, "clientidctl check failed (exit %d): %s"
              % (p.returncode, (p.stdout + p.stderr).strip()[-800:]))
        return p.stdout

    def bind_ro(self):
        """A read-only bind mount over the store directory: every open of
        the store from now on is on a read-only file system. (A plain
        `mount -o remount,ro` is refused while the servers hold the files
        open for writing.)"""
        r = subprocess.run(["mount", "--bind", self.store, self.store],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return (r.stderr or r.stdout).strip() or "mount failed"
        self.ro_bound = True
        # Under load a server may open a store file for writing through the
        # new bind mount before it is made read-only, and the remount then
        # fails with EBUSY ("mount point is busy") until it closes it.
        for _ in range(50):
            r = subprocess.run(["mount", "-o", "remount,bind,ro", self.store],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return ""
            time.sleep(0.1)
        self.unbind_ro()
        return (r.stderr or r.stdout).strip() or "mount failed"

    def unbind_ro(self):
        if self.ro_bound:
            subprocess.run(["umount", self.store], capture_output=True)
            self.ro_bound = False

    # --- logs --------------------------------------------------------------

    def exim_panic(self):
        return self.ex.logs().get("paniclog", b"").decode("latin-1")

    def marks(self):
        return (len(self.dovecot_log()), len(self.exim_log()), len(self.exim_panic()))

    def since(self, marks):
        return (self.dovecot_log()[marks[0]:], self.exim_log()[marks[1]:],
                self.exim_panic()[marks[2]:])
