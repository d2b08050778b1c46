"""The reliability suite's shared machinery: how a case is run and
reported, the checks every fault case ends with, the ledger of synced
decisions that must survive every fault, and load around a fault."""

import random
import time
import traceback
import uuid

from harness.results import record
from harness.runner import Failure, Skip, check
from rel_servers import SPARE
from traffic import FAULT_WORKERS, Load, Tally


class Checks:
    def __init__(self, opts):
        self.opts = opts
        self.results = []
        self.ledger = []  # (account, fingerprint, state, what) that must stay

    def report(self, name, status, why=""):
        self.results.append((name, status))
        record(status, name, why)
        line = "%s %s" % (status, name)
        if why:
            line += (": " if status == "FAIL" else " (") + why + (")" if status == "SKIP" else "")
        print(line, flush=True)

    def run_case(self, name, fn, *args):
        if self.opts.only and name.split()[0] not in self.opts.only:
            return
        print("== %s" % name, flush=True)
        for a in args:
            if isinstance(a, Tally):
                a.case, a.phase = name.split()[0], "soak"
        t0 = time.monotonic()
        try:
            fn(*args)
            self.report(name, "PASS", "")
        except Skip as e:
            self.report(name, "SKIP", str(e))
        except Failure as e:
            self.report(name, "FAIL", str(e))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.report(name, "FAIL", "%s: %s" % (type(e).__name__, e))
        print("   (%s took %.0f s)" % (name.split()[0], time.monotonic() - t0), flush=True)

    # --- shared checks -----------------------------------------------------

    def alive(self, srv):
        check(srv.ps.dc.alive(), "the Dovecot master is gone")
        check(srv.ex.alive(), "the Exim daemon is gone")

    def ledger_present(self, srv):
        stored = srv.all_devices()
        missing = []
        for acct, fp, state, what in self.ledger:
            d = stored.get(acct, {}).get(fp)
            if d is None or d.get("state") != state:
                missing.append("%s (%s %s: want %s, store has %s)"
                               % (what, acct, fp[:12], state, d.get("state") if d else "nothing"))
        check(not missing, "synced decisions lost: " + "; ".join(missing))
        bans = srv.ctl("--json", "bans").stdout
        for fp in self.bans:
            check(fp in bans, "the site-wide block of %s is gone" % fp[:12])
        return len(self.ledger)

    def make_decision(self, srv, what):
        """An approval and a block by hand (clientidctl), recorded in the
        ledger: both are synced decisions."""
        acct = random.choice(SPARE)
        a, b = "led-" + uuid.uuid4().hex, "led-" + uuid.uuid4().hex
        srv.ctl("register", acct, "UUID", "--state", "pending", stdin=a + "\n")
        srv.ctl("approve", acct, srv.full_fingerprint(a))
        srv.ctl("register", acct, "UUID", stdin=b + "\n")
        srv.ctl("block", acct, srv.full_fingerprint(b))
        self.ledger.append((acct, srv.full_fingerprint(a), "trusted", "approval " + what))
        self.ledger.append((acct, srv.full_fingerprint(b), "blocked", "block " + what))

    def after_fault(self, srv, tally, phase):
        """The common end of every fault case."""
        self.alive(srv)
        print("   clientidctl check: " + srv.store_check().strip().replace("\n", "; "))
        n = self.ledger_present(srv)
        print("   %d synced decisions present" % n)
        got = tally.outcomes("legit", phase=phase)
        check(got["ok"] > 0, "no legitimate login succeeded after the fault: %r" % dict(got))
        bad = {k: v for k, v in got.items() if k != "ok"}
        check(not bad, "legitimate logins failed after the fault: %r" % bad)

    def settle(self, srv, tally, load, seconds):
        tally.phase = "after"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and tally.outcomes("legit", phase="after")["ok"] < 6:
            time.sleep(0.5)

    # --- the soak ----------------------------------------------------------


    def with_load(self, srv, tally, body):
        tally.phase = "before"
        load = Load(srv, tally, None, seed=7).start(FAULT_WORKERS)
        try:
            deadline = time.monotonic() + 60
            while tally.outcomes("legit", phase="before")["ok"] < 4:
                check(time.monotonic() < deadline, "no legitimate login before the fault")
                time.sleep(0.3)
            tally.phase = "during"
            self.make_decision(srv, "before the fault")
            body(load)
            self.settle(srv, tally, load, 60)
        finally:
            load.stop()
        check(not load.crashes, "client errors:\n" + "\n".join(load.crashes[:3]))
