#!/usr/bin/env python3
"""`make demo`: a scripted session against a real Dovecot and the patched Exim.

Starts, on loopback and in one scratch folder, a Dovecot with the clientid
imap-login plugin and the clientid-policy service, and the patched Exim with
clientid.so and the shipped snippets, both on ONE policy store, site secret
and clientid.conf; then plays the learn -> enforce -> approve scenario on
IMAP and SMTP and prints each step, the servers' replies and the device
table. The servers come from the test-harness library (tests/harness/stack.py,
run with tests/ on PYTHONPATH, as `make demo` does).

usage: demo.py [--build-dir DIR] [--exim PATH] [--keep]

Exit 0 when every step behaved as described, 1 otherwise. Everything it
started is stopped and the scratch folder removed, also on failure or
Ctrl-C, unless --keep: then the servers stay up and it prints how to
connect and how to stop them.
"""

import argparse
import base64
import os
import re
import shutil
import signal
import smtplib
import sys
import tempfile
import textwrap
import time
import uuid

# the test-harness library, also when run by hand (make demo sets PYTHONPATH)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from harness import stack  # noqa: E402
from harness.exim import REPO  # noqa: E402
from harness.exim_policy import quit_quietly  # noqa: E402
from harness.imap import FAIL_REPLY, OK_REPLY, Raw, rest_of  # noqa: E402
from harness.policy_service import pw  # noqa: E402
from harness.stack import Stack, device_rows  # noqa: E402

ACCOUNT = "anna"
PASSWORD = pw(ACCOUNT)  # the Dovecot harness's rule: "<user>-pw"
DEVICE_TYPE = "UUID"  # what Thunderbird sends: a random UUID per profile


class StepFailed(Exception):
    pass


# --------------------------------------------------------------------------
# Output


def say(text=""):
    print(textwrap.fill(text, 78) if text else "", flush=True)


def heading(n, text):
    print("\n" + "=" * 78 + "\nStep %s. %s\n" % (n, text) + "=" * 78, flush=True)


def wire(who, line):
    print("    %-7s %s" % (who, line), flush=True)


def masked(token):
    return token[:8] + "..." + " (the device's secret token, shortened here)"


class Results:
    def __init__(self):
        self.steps = []

    def check(self, step, ok, good, bad):
        self.steps.append((step, ok))
        print("  -> %s %s" % ("OK:  " if ok else "FAIL:", good if ok else bad), flush=True)
        return ok


# --------------------------------------------------------------------------
# The two clients, written out so that each command and reply is shown


def imap_login(ps, device, token):
    """STARTTLS, CAPABILITY, CLIENTID, LOGIN on Dovecot; the LOGIN reply."""
    dc = ps.dc
    print("  IMAP session of the %s to Dovecot (127.0.0.1:%d):" % (device, dc.port))
    c = Raw(dc, tls=False)
    try:
        wire("server:", c.greeting)
        wire("client:", "s1 STARTTLS")
        wire("server:", c.starttls("s1")[-1])
        wire("", "(the connection is now encrypted)")
        wire("client:", "c1 CAPABILITY")
        caps = c.capability("c1")
        wire("server:", "* CAPABILITY " + " ".join(caps))
        wire("", "(CLIENTID is %sin the list: the server accepts a device name)"
             % ("" if "CLIENTID" in caps else "NOT "))
        wire("client:", "a1 CLIENTID %s %s" % (DEVICE_TYPE, masked(token)))
        lines = c.cmd("a1", "CLIENTID %s %s" % (DEVICE_TYPE, token))
        wire("server:", lines[-1])
        if lines[-1] != "a1 " + OK_REPLY:
            raise StepFailed("CLIENTID was not accepted: %r" % lines[-1])
        wire("client:", 'a2 LOGIN "%s" "********" (the right password)' % ACCOUNT)
        reply = c.cmd("a2", 'LOGIN "%s" "%s"' % (ACCOUNT, PASSWORD))[-1]
        wire("server:", re.sub(r"\[CAPABILITY [^]]*\]", "[CAPABILITY ...]", reply))
        if reply.startswith("a2 OK"):
            c.cmd("a3", "LOGOUT")
        return rest_of(reply)
    finally:
        c.close()


def smtp_submit(ex, device, token, subject):
    """EHLO, STARTTLS, EHLO, CLIENTID, AUTH PLAIN, and when that succeeds
    MAIL/RCPT/DATA on Exim; (AUTH code, AUTH text, message accepted)."""
    print("  SMTP session of the %s to Exim (127.0.0.1:%d):" % (device, ex.port_plain))
    s = smtplib.SMTP(timeout=15)
    s._host = "127.0.0.1"  # what smtplib's constructor would set, for STARTTLS
    try:
        code, text = s.connect("127.0.0.1", ex.port_plain)
        wire("server:", "%d %s" % (code, text.decode().splitlines()[0]))
        host = device + ".example.net"
        wire("client:", "EHLO " + host)
        code, _ = s.ehlo(host)
        wire("server:", "%d ... (the list of extensions)" % code)
        wire("client:", "STARTTLS")
        code, text = s.starttls(context=ex.ctx())
        wire("server:", "%d %s" % (code, text.decode()))
        wire("", "(the connection is now encrypted)")
        wire("client:", "EHLO " + host)
        code, text = s.ehlo(host)
        exts = [ln.split()[0].upper() for ln in text.decode().splitlines()[1:] if ln]
        wire("server:", "%d %s" % (code, " ".join(exts)))
        wire("", "(CLIENTID is %sin the list: the server accepts a device name)"
             % ("" if "CLIENTID" in exts else "NOT "))
        wire("client:", "CLIENTID %s %s" % (DEVICE_TYPE, masked(token)))
        code, text = ex.clientid(s, DEVICE_TYPE, token)
        wire("server:", "%d %s" % (code, text.decode()))
        if code != 250:
            raise StepFailed("CLIENTID was not accepted: %d %s" % (code, text.decode()))
        wire("client:", "AUTH PLAIN ******** (account %s, the right password)" % ACCOUNT)
        auth = base64.b64encode(("\0%s\0%s" % (ACCOUNT, PASSWORD)).encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + auth)
        wire("server:", "%d %s" % (code, text.decode()))
        if code != 235:
            return code, text.decode(), False
        sent = []
        for verb, arg, want in (("MAIL", "FROM:<%s@example.com>" % ACCOUNT, 250),
                                ("RCPT", "TO:<someone@example.org>", 250),
                                ("DATA", "", 354)):
            wire("client:", (verb + " " + arg).strip())
            r = s.docmd(verb, arg)
            wire("server:", "%d %s" % (r[0], r[1].decode()))
            sent.append(r[0] == want)
        accepted = False
        if all(sent):
            wire("client:", "Subject: %s / hello / ." % subject)
            s.send(("Subject: %s\r\n\r\nhello\r\n.\r\n" % subject).encode())
            r = s.getreply()
            wire("server:", "%d %s" % (r[0], r[1].decode()))
            accepted = r[0] == 250
        return 235, "", accepted
    finally:
        quit_quietly(s)


# --------------------------------------------------------------------------
# Set-up


def find_binaries(opts):
    bins, missing = stack.built_binaries(opts)
    if missing:
        raise SystemExit("demo: not built: %s\n(was %s configured with -Ddovecot=disabled or "
                         "-Dexim=disabled? `meson configure %s -Ddovecot=auto -Dexim=auto`)"
                         % (", ".join(missing), opts.build_dir, opts.build_dir))
    return bins


def ctl(st, *args):
    """clientidctl on the shared clientid.conf, shown with its output."""
    print("  $ clientidctl -c %s %s" % (st.conf, " ".join(args)))
    p = st.ctl(*args, ok=False, merge=True, timeout=30)
    for ln in p.stdout.rstrip("\n").splitlines():
        print("    " + ln)
    if p.returncode != 0:
        raise StepFailed("clientidctl %s failed (exit %d)" % (" ".join(args), p.returncode))
    return p.stdout


def write_stop_script(scratch, ps, ex):
    path = os.path.join(scratch, "stop-demo")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# stops the servers of `make demo KEEP=1` and removes %s\n"
                "kill -TERM %d %d 2>/dev/null\nsleep 2\n"
                "kill -KILL -- -%d 2>/dev/null  # what is left of Dovecot's processes\n"
                "rm -rf %s\necho 'clientid demo: servers stopped, %s removed'\n"
                % (scratch, ps.dc.proc.pid, ex.proc.pid, ps.dc.proc.pid, scratch, scratch))
    os.chmod(path, 0o755)
    return path


# --------------------------------------------------------------------------
# The scenario


def scenario(st, res):
    ps, ex = st.ps, st.ex
    laptop, phone = str(uuid.uuid4()), str(uuid.uuid4())
    fp_laptop, fp_phone = st.fingerprint(laptop), st.fingerprint(phone)

    heading(1, "Learning mode: the user's laptop signs in to read mail (IMAP)")
    say("The site starts in mode 'learn': every device that signs in with the "
        "right password is remembered as trusted. Mail programs such as "
        "Thunderbird name themselves with a random device token (CLIENTID) "
        "before they sign in; the server stores only a fingerprint of it.")
    reply = imap_login(ps, "laptop", laptop)
    res.check(1, reply.startswith("OK "), "the laptop is signed in and is now a trusted device",
              "the laptop was not signed in: %s" % reply)
    ctl(st, "label", ACCOUNT, fp_laptop, "laptop")

    heading(2, "The site switches to enforcement; the laptop sends mail (SMTP)")
    say("From now on (mode 'enforce') only trusted devices may sign in, even "
        "with the right password. Both servers read the same settings file "
        "%s and the same device list; they are restarted to pick up the change."
        % ps.conf)
    ps.set_mode("enforce")  # rewrites clientid.conf, restarts the service
    ex.stop()
    ex.start()
    print("  clientid.conf now says:\n    [policy]\n    mode = %s" % ps.mode)
    code, text, accepted = smtp_submit(ex, "laptop", laptop, "from the laptop")
    res.check(2, code == 235 and accepted,
              "the laptop, learned over IMAP, is already known to the mail submission "
              "server: it may send", "the laptop could not send: %d %s" % (code, text))

    heading(3, "An unknown phone, with the RIGHT password, is refused on both")
    say("Someone has the password but not the user's laptop: a new phone. "
        "The reply is exactly the one for a wrong password, so it tells an "
        "attacker nothing.")
    reply = imap_login(ps, "phone", phone)
    ok_imap = reply == FAIL_REPLY
    res.check(3, ok_imap, "IMAP refused the phone", "IMAP answered %r" % reply)
    code, text, _ = smtp_submit(ex, "phone", phone, "from the phone")
    res.check(3, code == 535, "SMTP refused the phone",
              "SMTP answered %d %s" % (code, text))

    heading(4, "The administrator looks at the account's devices")
    say("The phone is now listed as 'pending': it waits for the administrator "
        "(or the user) to approve it. DEVICE is the start of the fingerprint. "
        "PW OK counts right passwords, also those the policy refused, as "
        "here; PW BAD counts wrong ones.")
    ctl(st, "label", ACCOUNT, fp_phone, "phone")
    rows = device_rows(ctl(st, "list", ACCOUNT))
    res.check(4, rows.get(fp_laptop) == "trusted" and rows.get(fp_phone) == "pending",
              "laptop %s is trusted, phone %s is pending" % (fp_laptop, fp_phone),
              "unexpected device table: %r" % rows)

    heading(5, "The administrator approves the phone; it can read and send mail")
    ctl(st, "approve", ACCOUNT, fp_phone)
    reply = imap_login(ps, "phone", phone)
    res.check(5, reply.startswith("OK "), "the phone is signed in over IMAP",
              "IMAP answered %r" % reply)
    code, text, accepted = smtp_submit(ex, "phone", phone, "from the phone")
    res.check(5, code == 235 and accepted, "the phone may send over SMTP",
              "SMTP answered %d %s" % (code, text))
    print("\n  The device list now:")
    ctl(st, "list", ACCOUNT)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--exim", help="the patched Exim (default: exim-module/build-exim path)")
    ap.add_argument("--keep", action="store_true",
                    help="leave the servers running and print how to connect and stop them")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("demo: must run as root (it starts Dovecot and Exim)")
    bins = find_binaries(opts)

    t0 = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="clientid-demo-")
    os.chmod(scratch, 0o755)
    tempfile.tempdir = scratch  # the harnesses' folders go in here
    st = None
    keep = False
    res = Results()

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    print("clientid demo: a mail server that knows its users' devices")
    print("Scratch folder: %s" % scratch)
    print("Starting Dovecot (IMAP, with the clientid plugin and policy service) and "
          "Exim (SMTP, with clientid.so)...", flush=True)
    try:
        st = Stack(bins, "demo", os.path.join(scratch, "store"), [ACCOUNT], mode="learn")
        st.start()
        print("Both are up. Account %s, password %s; one shared device list in %s."
              % (ACCOUNT, PASSWORD, os.path.join(scratch, "store")))
        scenario(st, res)
        keep = opts.keep
    except StepFailed as e:
        res.check("?", False, "", str(e))
    except KeyboardInterrupt as e:
        print("\ndemo: interrupted (%s); stopping everything" % (e or "Ctrl-C"))
        res.steps.append(("interrupted", False))
    except Exception as e:  # a server that did not start, a dropped connection
        res.check("?", False, "", "%s: %s" % (type(e).__name__, e))
        if st is not None:
            print("--- the last lines of Dovecot's log:\n" + st.ps.dc.logs_text()[-1500:])
        if st is not None and getattr(st.ex, "stderr", None):
            print("--- Exim's logs:\n" + st.ex.daemon_output()[-1500:])
    finally:
        if not keep:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
            if st is not None:
                st.stop()
            shutil.rmtree(scratch, ignore_errors=True)

    failed = sorted({str(s) for s, ok in res.steps if not ok})
    took = time.monotonic() - t0
    print()
    if "interrupted" in failed:
        print("DEMO INTERRUPTED after %.0f s; everything it started was stopped." % took)
    elif not failed and len({s for s, _ in res.steps}) == 5:
        print("DEMO PASSED: all 5 steps behaved as described (%.0f s)." % took)
    else:
        print("DEMO FAILED: step(s) %s did not behave as described (%.0f s)."
              % (", ".join(failed) or "?", took))
    if keep:
        ps, ex = st.ps, st.ex
        stop = write_stop_script(scratch, ps, ex)
        print("\nThe servers are still running (KEEP=1):\n"
              "  IMAP  127.0.0.1:%d (STARTTLS), 127.0.0.1:%d (TLS)   Dovecot\n"
              "  SMTP  127.0.0.1:%d (STARTTLS), 127.0.0.1:%d (TLS)   Exim\n"
              "  account %s, password %s; self-signed certificates\n"
              "  e.g.: openssl s_client -quiet -starttls imap -connect 127.0.0.1:%d\n"
              "  devices: %s -c %s list %s\n"
              "Stop them and remove %s with:\n  %s"
              % (ps.dc.port, ps.dc.ssl_port, ex.port_plain, ex.port_tls, ACCOUNT, PASSWORD,
                 ps.dc.port, bins.clientidctl, ps.conf, ACCOUNT, scratch, stop))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
