"""The fault cases on the store's file system: the store's tmpfs full, and
the store on a read-only mount. Both skip when the suite could not mount a
tmpfs of its own."""

import collections
import os
import random
import re
import signal
import uuid

from checks import Checks
from harness.policy_service import pw
from harness.runner import Skip, check
from rel_servers import LEGIT, SPARE, TARGETS
from traffic import attempt


class StoreFaults(Checks):
    def fault_disk_full(self, srv, tally):
        if not srv.mounted:
            raise Skip("cannot mount a tmpfs for the store here: " + srv.mount_error)
        filler = os.path.join(srv.fs, "filler")
        marks = srv.marks()
        seen = {}

        def fill():
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for chunk in (1 << 20, 1 << 16, 4096):
                    buf = b"\0" * chunk
                    try:
                        while True:
                            os.write(fd, buf)
                    except OSError:
                        pass
            finally:
                os.close(fd)

        def body(load):
            st = os.statvfs(srv.fs)
            print("   before: %d of %d bytes free; %s" % (
                st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize,
                ", ".join("%s %d KiB" % (n, os.stat(os.path.join(srv.store, n)).st_blocks // 2)
                          for n in sorted(os.listdir(srv.store)))))
            fill()
            st = os.statvfs(srv.fs)
            print("   %s full: %d bytes free" % (srv.fs, st.f_bavail * st.f_frsize))
            # new devices need a synced write: one per attempt, both protocols,
            # until each protocol has seen the store fail
            outs = collections.Counter()
            codes = collections.Counter()
            for i in range(300):
                proto = ("imap", "smtp")[i % 2]
                acct = random.choice(TARGETS)
                out = attempt(srv, proto, acct, pw(acct), "full-" + uuid.uuid4().hex)
                outs[(proto, out.split(":")[0])] += 1
                codes[(proto, out)] += 1
                dlog, _, _ = srv.since(marks)
                if outs[("smtp", "tempfail")] > 0 and "policy store failed" in dlog:
                    break
            seen["outs"] = outs
            print("   new devices on the full disk: %r" % dict(codes))
            os.unlink(filler)
        try:
            self.with_load(srv, tally, body)
        finally:
            if os.path.exists(filler):
                os.unlink(filler)
        dlog, xlog, panic = srv.since(marks)
        dl = [ln for ln in dlog.splitlines() if "policy store failed" in ln]
        xl = [ln for ln in xlog.splitlines() if "reason=store_error" in ln]
        print("   Dovecot: %s\n   Exim: %s" % (dl[:1], xl[:1]))
        check(dl, "Dovecot's log has no store failure while the disk was full")
        check(xl, "Exim's log has no store_error while the disk was full")
        check(any(re.search(r"full|space", ln, re.I) for ln in dl + xl),
              "the logs do not say the store is full: %r" % (dl[:1] + xl[:1]))
        outs = seen.get("outs", {})
        check(outs.get(("smtp", "tempfail"), 0) > 0,
              "no SMTP tempfail (on_error = tempfail) on the full disk: %r" % dict(outs))
        check(all(o in ("refused", "tempfail") for (_p, o) in outs),
              "on the full disk logins got %r" % dict(outs))
        # the trusted devices: their decisions write only the routine map,
        # preallocated, but that map may need to grow, and growing needs
        # the disk: then they too get what on_error says, and it is logged
        got = tally.outcomes("legit", phase="during")
        kinds = set(k for k in got if not k.startswith("detail"))
        check(got["ok"] > 0 and kinds <= {"ok", "refused", "tempfail"},
              "legitimate logins during the full disk: %r" % dict(got))
        imap = tally.outcomes("legit", "imap", "during")["tempfail"]
        smtp = tally.outcomes("legit", "smtp", "during")["tempfail"]
        check(imap <= len(dl) and smtp <= len(xl),
              "legitimate logins tempfailed (%d IMAP, %d SMTP) without a store failure logged "
              "(%d, %d lines)" % (imap, smtp, len(dl), len(xl)))
        print("   legitimate logins during the full disk: %r" % dict(got))
        self.after_fault(srv, tally, "after")
        # and new devices are recorded again
        acct = random.choice(TARGETS)
        tok = "after-full-" + uuid.uuid4().hex
        check(attempt(srv, "smtp", acct, pw(acct), tok) == "refused", "new device after the fix")
        d = srv.devices(acct).get(srv.full_fingerprint(tok))
        check(d is not None and d["state"] == "pending", "a new device is not recorded "
              "pending once the disk has room: %r" % d)

    def fault_read_only(self, srv, tally):
        if not srv.mounted:
            raise Skip("cannot mount here (a read-only bind mount needs mount): "
                       + srv.mount_error)
        marks = srv.marks()
        seen = {}

        def body(load):
            err = srv.bind_ro()
            if err:
                raise Skip("cannot bind-mount the store read-only: " + err)
            try:
                # clientidctl refuses a read-only store with exit 4
                acct = random.choice(SPARE)
                p = srv.ctl("register", acct, "UUID", stdin="ro-" + uuid.uuid4().hex + "\n",
                            ok=False)
                seen["ctl"] = (p.returncode, (p.stderr or p.stdout).strip())
                # new Exim connection processes open the store read-only
                outs = collections.Counter()
                codes = collections.Counter()

                def legit(proto, key):
                    acct = random.choice(LEGIT)
                    out = attempt(srv, proto, acct, pw(acct), srv.legit_tokens[acct])
                    outs[(key, out.split(":")[0])] += 1
                    codes[out] += 1
                for i in range(6):
                    legit("smtp", "smtp")
                # the running service keeps the store it has open (through
                # the read-write mount below); a restarted one opens it
                # read-only
                for i in range(3):
                    legit("imap", "imap-open")
                old = srv.ps.service_pids()
                for p in old:
                    os.kill(p, signal.SIGKILL)
                for i in range(6):
                    legit("imap", "imap")
                seen["codes"] = codes
                seen["outs"] = outs
                print("   trusted devices on the read-only store: %r" % dict(outs))
            finally:
                srv.unbind_ro()
            # the service that failed to open it must come back by itself
            tally.phase = "recover"
        self.with_load(srv, tally, body)
        rc, text = seen["ctl"]
        check(rc == 4, "clientidctl on the read-only store: exit %d (documented: 4): %s"
              % (rc, text))
        check(re.search(r"read-only", text, re.I), "clientidctl does not say read-only: " + text)
        outs = seen["outs"]
        check(outs.get(("smtp", "tempfail"), 0) == 6,
              "SMTP logins on the read-only store (on_error = tempfail): %r" % dict(outs))
        dlog, xlog, _ = srv.since(marks)
        xl = [ln for ln in xlog.splitlines() if "reason=store_error" in ln]
        check(xl and all(re.search(r"read-only", ln, re.I) for ln in xl),
              "Exim's log does not say the store is read-only: %r" % xl[:2])
        dl = [ln for ln in dlog.splitlines() if "policy store failed" in ln]
        check(dl and re.search(r"read-only", dl[0], re.I),
              "Dovecot's log does not say the store is read-only: %r" % dl[:2])
        check(outs.get(("imap-open", "ok"), 0) == 3,
              "IMAP logins through the service that had the store open before it went "
              "read-only: %r" % dict(outs))
        check(outs.get(("imap", "tempfail"), 0) > 0 and
              set(o for p, o in outs if p == "imap") <= {"tempfail"},
              "IMAP logins after the service reopened the read-only store "
              "(on_error = tempfail: NO [UNAVAILABLE]): %r" % dict(outs))
        print("   Exim: %s\n   Dovecot: %s\n   replies: %r"
              % (xl[0][-160:], dl[0][-160:], dict(seen["codes"])))
        self.after_fault(srv, tally, "after")
