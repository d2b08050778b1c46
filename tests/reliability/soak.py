"""The soak: SOAK_WORKERS' mixed traffic on both servers for
--soak-seconds, then every reply, log, counter and decision checked."""

import json
import time

from checks import Checks
from harness.runner import check
from rel_servers import BAD_LOG, LEGIT
from traffic import SOAK_WORKERS, Load, counter_problems


class Soak(Checks):
    def soak(self, srv, tally):
        seconds = self.opts.soak_seconds
        marks = srv.marks()
        pids = srv.ps.service_pids()
        load = Load(srv, tally, None).start(SOAK_WORKERS)
        t_end = time.monotonic() + seconds
        last = time.monotonic()
        while time.monotonic() < t_end:
            time.sleep(min(5, max(0, t_end - time.monotonic())))
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                print("   soak: %d s left, %d attempts so far"
                      % (t_end - time.monotonic(), sum(load.iterations.values())), flush=True)
        load.stop()
        self.soak_stats = (seconds, dict(load.iterations), tally)
        check(not load.crashes, "client errors:\n" + "\n".join(load.crashes[:3]))
        self.alive(srv)
        check(set(srv.ps.service_pids()) == set(pids) or not pids,
              "the policy service was restarted during the soak (%r -> %r)"
              % (pids, srv.ps.service_pids()))
        dlog, xlog, panic = srv.since(marks)
        bad = [ln for ln in dlog.splitlines() if BAD_LOG.search(ln)]
        bad += [ln for ln in xlog.splitlines() if BAD_LOG.search(ln)]
        check(not panic, "Exim's paniclog: " + panic[-500:])
        check(not bad, "the logs say:\n  " + "\n  ".join(bad[:8]))
        srv.store_check()
        # the replies
        legit = tally.outcomes("legit", phase="soak")
        check(legit["ok"] > 0 and set(k for k in legit if not k.startswith("detail")) == {"ok"},
              "legitimate logins not all answered OK: %r" % dict(legit))
        for cls in ("stolen", "guesser", "lockout", "walker"):
            got = tally.outcomes(cls, phase="soak")
            check(got["refused"] > 0 and not (set(k for k in got if not k.startswith("detail"))
                                               - {"refused"}),
                  "%s attempts not all refused: %r" % (cls, dict(got)))
        got = tally.outcomes("noclient", phase="soak")
        check(not (set(k for k in got if not k.startswith("detail")) - {"ok", "refused"}),
              "logins without CLIENTID got other replies: %r" % dict(got))
        got = tally.outcomes("garbage", phase="soak")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "malformed CLIENTID lines not answered with the protocol's error: %r" % dict(got))
        # the counters; IMAP failures are recorded by Dovecot's report,
        # which may arrive a moment after the client's reply
        deadline = time.monotonic() + 60
        while True:
            problems = counter_problems(srv, tally)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(2)
        check(not problems, "%d counter mismatches:\n  %s"
              % (len(problems), "\n  ".join(problems[:10])))
        # the decisions the servers made are there
        stored = srv.all_devices()
        for v, tok in load.stolen_tokens.items():
            d = stored[v].get(srv.full_fingerprint(tok))
            check(d is not None and d["state"] == "pending",
                  "the stolen-password device on %s is not pending: %r" % (v, d))
            self.ledger.append((v, srv.full_fingerprint(tok), "pending", "pending device (soak)"))
        for u in LEGIT:
            self.ledger.append((u, srv.full_fingerprint(srv.legit_tokens[u]), "trusted", "legit device"))
        bans = json.loads(srv.ctl("--json", "bans").stdout or "[]")
        if isinstance(bans, dict):
            bans = bans.get("bans", [])
        self.bans = [b.get("fingerprint", "") for b in bans if b.get("fingerprint")]
        walkers = [t for t, c in tally.classes.items() if c == "walker"]
        print("   soak: %d s, attempts by class %r; %d devices walked, %d site-wide blocks; "
              "replies %r" % (seconds, dict(load.iterations), len(walkers), len(self.bans),
                              {c: dict(tally.outcomes(c, phase="soak")) for c in
                               ("legit", "stolen", "guesser", "lockout", "walker",
                                "noclient", "garbage")}), flush=True)
        n_dev = sum(len(v) for v in stored.values())
        print("   soak: the store holds %d (account, device) records; counters match for all "
              "%d (account, device) pairs the clients used" % (n_dev, len(tally.sent)),
              flush=True)
