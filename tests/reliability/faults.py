"""The fault cases on the servers' processes, configuration and clock:
the policy service killed, Exim's connection processes killed, clientid.conf
corrupted and reloaded, the clock stepped back an hour. Each runs under
load (Checks.with_load) and ends with Checks.after_fault."""

import os
import random
import re
import signal
import socket
import ssl
import subprocess
import time
import uuid

from checks import Checks
from harness.policy_service import pw
from harness.runner import Failure, Skip, check
from rel_servers import BAD_LOG, DEVICE_FAIL_LIMIT, TARGETS
from traffic import attempt


class ProcessFaults(Checks):
    def fault_kill_service(self, srv, tally):
        master = srv.ps.dc.proc.pid
        marks = srv.marks()

        def body(load):
            for i in range(3):
                old = srv.ps.service_pids()
                check(old, "no policy service process to kill")
                for p in old:
                    os.kill(p, signal.SIGKILL)
                deadline = time.monotonic() + 90
                while True:
                    new = [p for p in srv.ps.service_pids() if p not in old]
                    if new and srv.ps.probe():
                        break
                    check(time.monotonic() < deadline,
                          "the master did not start a new policy service")
                    time.sleep(0.2)
                if i == 1:
                    self.make_decision(srv, "between two kills")
                time.sleep(2)
        self.with_load(srv, tally, body)
        check(srv.ps.dc.proc.pid == master, "Dovecot's master was replaced")
        dlog, xlog, _ = srv.since(marks)
        kills = re.findall(r"service\(clientid-policy\): child \d+ killed with signal 9", dlog)
        check(len(kills) >= 3, "Dovecot's log does not say the service was killed (%d of 3 "
              "lines)" % len(kills))
        got = tally.outcomes("legit", "smtp", "during")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "Exim did not keep serving while the service was down: %r" % dict(got))
        got = tally.outcomes("legit", "imap", "during")
        extra = set(k for k in got if not k.startswith("detail")) - {"ok", "refused"}
        check(not extra, "IMAP logins during the kills got %r (the documented outcomes: "
              "answered, or refused per auth_policy_reject_on_fail)" % dict(got))
        print("   legit IMAP during the kills: %r" % dict(got))
        self.after_fault(srv, tally, "after")

    def fault_kill_exim(self, srv, tally):
        marks = srv.marks()
        daemon = srv.ex.proc.pid
        held = []

        def children():
            r = subprocess.run(["pgrep", "-P", str(daemon)], capture_output=True, text=True)
            return [int(p) for p in r.stdout.split()]

        def body(load):
            killed = 0
            for rnd in range(6):
                # sessions parked inside AUTH: "AUTH PLAIN" got its 334
                for _ in range(3):
                    s = srv.ex.starttls()
                    s.docmd("CLIENTID", "UUID held-" + uuid.uuid4().hex)
                    code, _ = s.docmd("AUTH", "PLAIN")
                    check(code == 334, "AUTH PLAIN without data: %d" % code)
                    held.append(s)
                # and whatever the load is doing at this moment, decisions
                # in their transaction included
                for p in children():
                    try:
                        os.kill(p, signal.SIGKILL)
                        killed += 1
                    except ProcessLookupError:
                        pass
                for s in held:
                    s.sock.settimeout(30)
                    try:
                        line = s.sock.recv(100)
                    except socket.timeout:
                        raise Failure("a parked session was not killed: no end in 30 s")
                    except (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
                        line = b""  # the kernel ended it when its process died
                    check(line == b"", "a killed session still answered %r" % line)
                    s.close()
                held.clear()
                if rnd == 2:
                    self.make_decision(srv, "between Exim kills")
                time.sleep(1.5)
            print("   killed %d Exim connection processes" % killed)
            check(killed >= 18, "only %d connection processes were killed" % killed)
        self.with_load(srv, tally, body)
        check(srv.ex.proc.pid == daemon and srv.ex.alive(), "the Exim daemon died")
        _, xlog, panic = srv.since(marks)
        check(not panic, "paniclog: " + panic[-500:])
        got = tally.outcomes("legit", "imap", "during")
        check(got["ok"] > 0 and set(k for k in got if not k.startswith("detail")) == {"ok"},
              "Dovecot did not keep serving while Exim processes were killed: %r" % dict(got))
        self.after_fault(srv, tally, "after")

    def fault_bad_config(self, srv, tally):
        marks = srv.marks()
        seen = {}
        with open(srv.ps.conf) as f:
            good = f.read()

        def body(load):
            # broken while both run: a typo a human could make
            with open(srv.ps.conf, "w") as f:
                f.write(good.replace("mode = enforce", "mode = enforcing"))
            time.sleep(3)
            seen["running"] = tally.outcomes("legit", phase="during")
            # reload both: Dovecot restarts the service, Exim re-executes
            tally.phase = "reload"
            os.kill(srv.ps.dc.proc.pid, signal.SIGHUP)
            t_hup = time.monotonic()
            os.kill(srv.ex.proc.pid, signal.SIGHUP)
            # back once the re-executed daemon says so and accepts again
            while True:
                if "daemon started" in srv.since(marks)[1]:
                    try:
                        socket.create_connection(("127.0.0.1", srv.ex.port_plain),
                                                 timeout=5).close()
                        break
                    except OSError:
                        pass
                check(time.monotonic() - t_hup < 60, "Exim did not listen again after "
                      "its SIGHUP")
                time.sleep(0.05)
            seen["exim_back"] = time.monotonic() - t_hup
            deadline = time.monotonic() + 120
            while True:
                dlog, xlog, _ = srv.since(marks)
                if "enforcing" in dlog and "enforcing" in xlog:
                    break
                if time.monotonic() > deadline:
                    raise Failure("no log names the bad value after the reload:\n%s\n%s"
                                  % ("\n".join(ln for ln in dlog.splitlines()
                                               if "imap-login" not in ln)[-1500:],
                                     xlog[-600:]))
                time.sleep(0.5)
            time.sleep(3)
            # fixed: both pick it up by themselves
            with open(srv.ps.conf, "w") as f:
                f.write(good)
            tally.phase = "fixed"
            srv.ps.wait_service(timeout=150)
            seen["reload"] = tally.outcomes("legit", phase="reload")
        try:
            self.with_load(srv, tally, body)
        finally:
            with open(srv.ps.conf, "w") as f:
                f.write(good)
        running = seen["running"]
        check(running["ok"] > 0 and set(k for k in running if not k.startswith("detail")) ==
              {"ok"}, "with the bad file in place but not reloaded, logins: %r" % dict(running))
        rel = seen["reload"]
        print("   legit logins between the reload and the fix (an SMTP connection refused "
              "while Exim re-executes counts as pre): %r"
              % {p: dict(tally.outcomes("legit", p, "reload")) for p in ("imap", "smtp")})
        imap = tally.outcomes("legit", "imap", "reload")
        smtp = tally.outcomes("legit", "smtp", "reload")
        # a login under way at the moment of the reload may still get the
        # old answer (or, on IMAP, lose its connection to Dovecot's reload)
        check(imap["refused"] > 0 and
              not (set(k for k in imap if not k.startswith("detail")) - {"refused", "ok", "error"}),
              "IMAP after the reload with a bad clientid.conf (service down, "
              "auth_policy_reject_on_fail = yes: refused): %r" % dict(imap))
        # Exim's re-exec closes and reopens its listening sockets: a
        # connection in that moment is refused
        gap = sum(n for k, n in smtp.items() if k.startswith("detail:pre:") and
                  re.search(r"ConnectionRefused|ServerDisconnected|ConnectionReset", k))
        check(smtp["pre"] == gap, "SMTP sessions lost at the reload: %r" % dict(smtp))
        print("   Exim listened again %.1f s after its SIGHUP; %d connections were refused "
              "meanwhile" % (seen["exim_back"], gap))
        check(smtp["tempfail"] > 0 and
              not (set(k for k in smtp if not k.startswith("detail")) -
                   {"tempfail", "ok", "pre"}),
              "SMTP after the reload with a bad clientid.conf (the module cannot load it: "
              "tempfail): %r" % dict(smtp))
        check(smtp["ok"] <= 2 and imap["ok"] <= 2,
              "more than a login under way at the reload got in: %r %r" % (dict(imap), dict(smtp)))
        check(rel, "no legitimate login was tried between the reload and the fix")
        dlog, xlog, _ = srv.since(marks)
        dl = [ln for ln in dlog.splitlines() if "enforcing" in ln]
        xl = [ln for ln in xlog.splitlines() if "enforcing" in ln]
        want = re.compile(re.escape(srv.ps.conf) + r":\d+: \[policy\] mode")
        check(any(want.search(ln) and "Fatal" in ln for ln in dl),
              "Dovecot's log does not name file, line and key: %r" % dl[:2])
        check(any(want.search(ln) for ln in xl),
              "Exim's log does not name file, line and key: %r" % xl[:2])
        check(any("reason=store_error" in ln and want.search(ln) for ln in xl),
              "Exim's refusals do not say why (reason=store_error and the file's error): %r"
              % xl[:3])
        print("   Dovecot: %s\n   Exim: %s" % (dl[0][-170:], xl[0][-170:]))
        self.after_fault(srv, tally, "after")

    def fault_clock_back(self, srv, tally):
        if not srv.faketime_file:
            raise Skip("libfaketime is not installed (Debian package libfaketime)")
        marks = srv.marks()
        seen = {}

        def body(load):
            # a device locked out before the step
            acct = random.choice(TARGETS)
            tok = "clock-lock-" + uuid.uuid4().hex
            for i in range(DEVICE_FAIL_LIMIT):
                attempt(srv, "smtp", acct, "guess-%d" % i, tok)
            check(attempt(srv, "smtp", acct, pw(acct), tok) == "refused", "locked out")
            seen["lock"] = (acct, tok)
            with open(srv.faketime_file, "w") as f:
                f.write("-1h\n")
            time.sleep(3)  # the cache of libfaketime: 1 s
            # new devices, approvals and blocks with the clock an hour back
            self.make_decision(srv, "with the clock stepped back")
            acct2 = random.choice(TARGETS)
            t2 = "clock-new-" + uuid.uuid4().hex
            for proto in ("imap", "smtp"):
                check(attempt(srv, proto, acct2, pw(acct2), t2) == "refused",
                      "an unknown device with the clock back (%s)" % proto)
            seen["new"] = (acct2, t2)
            seen["locked"] = [attempt(srv, p, acct, pw(acct), tok) for p in ("imap", "smtp")]
            # Exim's clock went back too: its log lines are dated an hour ago
            stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+ ",
                                srv.exim_log()[-3000:], re.M)
            check(stamps, "no Exim log line after the step")
            lag = time.time() - time.mktime(time.strptime(stamps[-1], "%Y-%m-%d %H:%M:%S"))
            seen["exim_lag"] = lag
            check(lag > 3000, "Exim's clock did not step back (its last log line is %.0f s "
                  "old)" % lag)
            time.sleep(5)
        try:
            self.with_load(srv, tally, body)
        finally:
            with open(srv.faketime_file, "w") as f:
                f.write("+0\n")
        acct, tok = seen["lock"]
        check(seen["locked"] == ["refused", "refused"],
              "the device locked out before the clock stepped back is let in after it: %r"
              % seen["locked"])
        acct2, t2 = seen["new"]
        d = srv.devices(acct2).get(srv.full_fingerprint(t2))
        check(d is not None and d["state"] == "pending" and d.get("successes") == 2,
              "the new device seen with the clock back: %r" % d)
        self.ledger.append((acct2, srv.full_fingerprint(t2), "pending", "pending device, clock back"))
        dlog, xlog, panic = srv.since(marks)
        bad = [ln for ln in (dlog + xlog).splitlines() if BAD_LOG.search(ln)]
        check(not bad and not panic, "errors in the logs: %r" % (bad[:4] + [panic[-300:]]))
        moved = [ln for ln in dlog.splitlines() if re.search(r"time moved backwards", ln, re.I)]
        print("   Dovecot's log on the step: %r" % (moved[:1] or "nothing"))
        d = srv.show(acct, srv.full_fingerprint(tok)) or {}
        print("   Exim's log lines are dated %.0f s back; the device locked out before the "
              "step: %r" % (seen["exim_lag"], {k: d.get(k) for k in ("state", "failures",
                                                                     "successes")}))
        self.after_fault(srv, tally, "after")

    # --- the run -----------------------------------------------------------
