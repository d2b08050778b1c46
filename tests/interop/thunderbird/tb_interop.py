#!/usr/bin/env python3
"""Debian's own Thunderbird against our Dovecot and Exim (issue 17).

Starts, in one scratch folder, both servers on one store (harness.stack: a
real Dovecot with the imap-login plugin and the policy service, the patched
Exim with clientid.so and the shipped snippets, ONE store) in mode enforce, with
certificates from a throwaway CA; an Xvfb; and for each case a Thunderbird
(unmodified, /usr/bin/thunderbird) on a profile made without UI
(tb_profile.py), driven over Marionette (tb_run.py). For STARTTLS (143/587
style) and implicit TLS (993/465 style):

  1 trusted token: IMAP login, INBOX listed, one message sent into Exim's
    queue; both servers log the fingerprint, neither the token
  2 unknown token: both logins refused with the wrong-password reply, the
    device pending in `clientidctl list`, a screenshot of the dialog
  3 `clientidctl approve`: the same profile logs in and sends
  4 CLIENTID off, account under require_clientid=yes: refused the same way
  5 (implicit TLS) CLIENTID sent with no CAPABILITY command: from the greeting
  6 the store unavailable (on_error = tempfail): IMAP NO [UNAVAILABLE] and
    SMTP 454, and Thunderbird does not ask for the password (none of the
    dialogs of case 2 opens; it shows an alert and a send error)

Every HTTP(S) request goes to a local catcher; any request fails the test.

usage: tb_interop.py [--build-dir DIR] [--exim PATH] [--skip REASON]
                     [--only starttls|implicit] [--screenshot PNG] [--keep]
                     [--timeout S]
--screenshot PNG copies the STARTTLS unknown-device dialog there (that is how
docs/images/thunderbird-device-not-approved.png was made).
Exit 0 pass, 1 fail, 77 skip (with "SKIP: reason").
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid

import tb_profile
import tb_run
from harness import net, stack
from harness.exim import REPO
from harness.imap import FAIL_REPLY, TEMPFAIL_REPLY
from harness.policy_service import pw
from harness.runner import Failure as Failed, Tally, first_missing, skip_exit

ACCOUNT = "anna"
PASSWORD = pw(ACCOUNT)
EMAIL = ACCOUNT + "@example.com"
IMAP_TEMPFAIL = TEMPFAIL_REPLY  # NO [UNAVAILABLE] Temporary authentication failure.
IMAP_WRONG_PASSWORD = FAIL_REPLY  # NO [AUTHENTICATIONFAILED] Authentication failed.
SMTP_WRONG_PASSWORD = "535 Incorrect authentication data"


class Timeout(Exception):
    pass


def wait_for(fn, what, timeout=30, step=0.3):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failed("timed out (%d s) waiting for %s" % (timeout, what))
        time.sleep(step)


# --------------------------------------------------------------------------
# What Thunderbird is asked to do, in its chrome context

JS_PRELUDE = """const { MailServices } =
  ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const server = MailServices.accounts.getIncomingServer("server1");
const win = Services.wm.getMostRecentWindow("mail:3pane");
"""

# log in, discover folders (LIST), then open INBOX (SELECT)
JS_GET_MAIL = JS_PRELUDE + """
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
if (inbox) { inbox.updateFolder(win.msgWindow); } else { server.performExpand(win.msgWindow); }
return !!inbox;
"""

JS_INBOX_COUNT = JS_PRELUDE + """
const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
return inbox ? inbox.getTotalMessages(false) : -1;
"""

JS_SEND = JS_PRELUDE + """
const params = Cc["@mozilla.org/messengercompose/composeparams;1"]
  .createInstance(Ci.nsIMsgComposeParams);
const fields = Cc["@mozilla.org/messengercompose/composefields;1"]
  .createInstance(Ci.nsIMsgCompFields);
fields.to = arguments[1] || "someone@example.org";
fields.subject = arguments[0];
fields.body = "Sent by Thunderbird in clientid's test suite.\\n";
params.type = Ci.nsIMsgCompType.New;
params.format = Ci.nsIMsgCompFormat.PlainText;
params.identity = MailServices.accounts.getIdentity("id1");
params.composeFields = fields;
MailServices.compose.OpenComposeWindowWithParams(null, params);
return (async () => {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const w = Services.wm.getMostRecentWindow("msgcompose");
    if (w && w.gMsgCompose && w.document.readyState == "complete" && w.gLoadingComplete !== false) {
      await new Promise(r => setTimeout(r, 500));
      w.goDoCommand("cmd_sendNow");
      return true;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error("no compose window");
})();
"""


# --------------------------------------------------------------------------
# The run

class Run:
    def __init__(self, opts, bins, scratch, res):
        self.opts, self.bins, self.scratch, self.res = opts, bins, scratch, res
        self.tokens = []
        self.st = self.ps = self.ex = self.xvfb = self.tb = self.catcher = None
        self.n = 0
        # the dialogs Thunderbird opens for a wrong password (case 2): the
        # ones a temporary failure must not open (case 6)
        self.password_dialogs = set()

    def setup(self):
        scratch = self.scratch
        self.ca = tb_profile.TestCA(scratch)
        # both harnesses make their certificate with make_cert(dir, cn):
        # ours are signed by the CA the profiles trust, with a subjectAltName
        net.use_cert_maker(self.ca.make_cert)
        self.catcher = tb_profile.Catcher()
        self.st = stack.Stack(self.bins, "tb", os.path.join(scratch, "store"), [ACCOUNT],
                              mode="enforce")
        self.ps, self.ex = self.st.ps, self.st.ex
        self.st.start()
        self.seed_inbox()
        self.xvfb = tb_run.Xvfb(scratch)

    def stop(self):
        for what in ("tb", "xvfb", "ex"):
            obj = getattr(self, what, None)
            if obj is not None:
                try:
                    obj.stop()
                except Exception as e:  # noqa: BLE001 - stop the others anyway
                    print("note: stopping %s: %s" % (what, e))
        if getattr(self, "ps", None) is not None:
            self.ps.dc.stop()
        if getattr(self, "catcher", None) is not None:
            self.catcher.stop()

    def seed_inbox(self):
        """One message in anna's INBOX, so that listing it shows something."""
        box = os.path.join(self.ps.dc.scratch, "mail", ACCOUNT)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(box, sub), exist_ok=True)
        with open(os.path.join(box, "new", "1.seed.tb"), "w") as f:
            f.write("From: admin@example.com\nTo: %s\nSubject: welcome\n\nhello\n" % EMAIL)
        for root, dirs, files in os.walk(os.path.join(self.ps.dc.scratch, "mail")):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                shutil.chown(n, "nobody", "nogroup")

    # --- helpers -----------------------------------------------------------

    def ctl(self, *args, stdin=None):
        return self.st.ctl(*args, stdin=stdin, timeout=30).stdout

    def new_token(self):
        tok = str(uuid.uuid4())
        self.tokens.append(tok)
        return tok

    def profile(self, tls, token):
        self.n += 1
        path = os.path.join(self.scratch, "profile-%d-%s" % (self.n, tls))
        ports = ((self.ps.dc.port, self.ex.port_plain) if tls == "starttls" else
                 (self.ps.dc.ssl_port, self.ex.port_tls))
        acct = {"user": ACCOUNT, "email": EMAIL, "tls": tls, "token": token,
                "imap_port": ports[0], "smtp_port": ports[1]}
        return tb_profile.make_profile(path, [(self.ca.pem, "C,,")], acct, PASSWORD,
                                       self.catcher.port, net.free_port())

    def start_tb(self, profile, name):
        with open(os.path.join(profile, "user.js")) as f:
            port = int([ln for ln in f if '"marionette.port"' in ln][0].split(",")[1]
                       .strip(" );\n"))
        self.tb = tb_run.Thunderbird(self.scratch, profile, self.xvfb.display, port, name)
        self.tb.connect()
        return self.tb

    def stop_tb(self):
        if self.tb is not None:
            self.tb.stop()
            self.tb = None

    def marks(self):
        return len(self.ps.log()), len(self.ex.mainlog())

    @staticmethod
    def _with(line, reasons):
        return any("reason=%s " % r in line + " " for r in reasons.split("|"))

    def imap_lines(self, mark, reasons):
        """Dovecot's decision lines since mark with one of reasons ("a|b")."""
        return [ln for ln in self.ps.log()[mark[0]:].splitlines()
                if "account=%s " % ACCOUNT in ln and self._with(ln, reasons)
                and "proto=imap" in ln]

    def smtp_lines(self, mark, reasons):
        return [ln for ln in self.ex.mainlog()[mark[1]:].splitlines()
                if 'account="%s"' % ACCOUNT in ln and self._with(ln, reasons)]

    def queued(self, subject):
        return any("Subject: " + subject in h for h in self.ex.spool_headers())

    # --- the steps ---------------------------------------------------------

    def login_and_list(self, tb, tag):
        n = 0
        for _ in range(3):  # ask again if the first ask came before the folders
            tb.m.js(JS_GET_MAIL)
            try:
                n = wait_for(lambda: tb.m.js(JS_INBOX_COUNT) > 0 and tb.m.js(JS_INBOX_COUNT),
                             "INBOX's messages", 10)
                break
            except Failed:
                continue
        self.res.check(n >= 1, "%s: IMAP login, INBOX listed (%d message(s))" % (tag, n),
                       "INBOX not listed in 30 s")

    def send(self, tb, tag, subject):
        tb.m.js(JS_SEND, subject)
        ok = wait_for(lambda: self.queued(subject), "'%s' in Exim's queue" % subject)
        self.res.check(ok, "%s: SMTP: the message reached Exim's queue" % tag)

    def logged(self, mark, reason, fp, tag):
        """Both servers logged a decision with reason for device fp."""
        i = wait_for(lambda: self.imap_lines(mark, reason), "Dovecot's %s line" % reason, 15)
        s = wait_for(lambda: self.smtp_lines(mark, reason), "Exim's %s line" % reason, 15)
        if fp:
            self.res.check(any("fp=%s " % fp in ln for ln in i) and
                           any("device=%s " % fp in ln for ln in s),
                           "%s: both servers logged reason=%s with fingerprint %s"
                           % (tag, reason, fp), "%r / %r" % (i[-1:], s[-1:]))
        else:
            self.res.check(True, "%s: both servers logged reason=%s" % (tag, reason))

    # --- the cases ---------------------------------------------------------

    def case_trusted(self, tls):
        tag = "%s case 1 (trusted)" % tls
        tok = self.new_token()
        self.ctl("register", ACCOUNT, "UUID", "--label", "tb-" + tls, stdin=tok + "\n")
        fp = self.st.fingerprint(tok)
        mark = self.marks()
        tb = self.start_tb(self.profile(tls, tok), "trusted-" + tls)
        self.login_and_list(tb, tag)
        self.send(tb, tag, "trusted %s %s" % (tls, fp))
        self.logged(mark, "trusted_device", fp, tag)
        sent = tb.imap_commands()
        self.stop_tb()
        if tls == "implicit":
            auth = [i for i, c in enumerate(sent) if " authenticate" in c or " login" in c]
            caps = [c for c in sent if c.split()[1:2] == ["capability"]]
            self.res.check(auth and not caps and self.imap_lines(mark, "trusted_device"),
                           "implicit case 5: CLIENTID sent with no CAPABILITY command "
                           "(from the greeting's list)", "commands: %r" % sent)

    def refused(self, tb, mark, reason, tag, fp):
        """SMTP first (its dialog does not block Marionette), then IMAP."""
        shown = tb.visible_titles()
        tb.m.js(JS_SEND, "refused " + tag)
        wait_for(lambda: self.smtp_lines(mark, reason), "Exim's %s line" % reason, 20)
        reply = wait_for(lambda: [ln for ln in self.ex.mainlog()[mark[1]:].splitlines()
                                  if SMTP_WRONG_PASSWORD in ln], "Exim's 535", 10)
        self.res.check(True, "%s: SMTP refused: %s" % (tag, reply[-1].split("]: ", 1)[-1]))
        tb.m.js(JS_GET_MAIL)
        wait_for(lambda: self.imap_lines(mark, reason), "Dovecot's %s line" % reason, 20)
        got = wait_for(lambda: [c for c in tb_read(tb.imap_log) if "AUTHENTICATIONFAILED" in c],
                       "Thunderbird to read the IMAP refusal", 15)
        self.res.check(IMAP_WRONG_PASSWORD in got[-1],
                       "%s: IMAP refused with the wrong-password reply (%s)"
                       % (tag, IMAP_WRONG_PASSWORD), got[-1])
        time.sleep(2)  # let the dialogs draw
        self.password_dialogs |= {t for t in tb.visible_titles() - shown
                                  if not t.startswith(("Write: ", "Sending Message"))}
        self.logged(mark, reason, fp, tag)
        self.res.check(not self.queued("refused " + tag), "%s: nothing queued" % tag)

    def case_unknown_then_approved(self, tls):
        tag = "%s case 2 (unknown)" % tls
        tok = self.new_token()
        fp = self.st.fingerprint(tok)
        profile = self.profile(tls, tok)
        mark = self.marks()
        tb = self.start_tb(profile, "unknown-" + tls)
        # the first server to see it records it pending, the other then says so
        self.refused(tb, mark, "device_unknown|device_pending", tag, fp)
        rows = stack.device_rows(self.ctl("list", ACCOUNT))
        self.res.check(rows.get(fp) == "pending", "%s: device %s pending in clientidctl list"
                       % (tag, fp), "list says %r" % rows.get(fp))
        time.sleep(1.5)  # let the dialog draw
        shot = os.path.join(self.scratch, "dialog-%s.png" % tls)
        win = tb.screenshot(shot)
        self.res.check(os.path.getsize(shot) > 1000, "%s: screenshot of the dialog (%s, %d bytes)"
                       % (tag, "window" if win != "root" else "whole screen",
                          os.path.getsize(shot)))
        if self.opts.screenshot and tls == "starttls":
            shutil.copy(shot, self.opts.screenshot)
        self.stop_tb()

        tag = "%s case 3 (approved)" % tls
        self.ctl("approve", ACCOUNT, fp)
        mark = self.marks()
        tb = self.start_tb(profile, "approved-" + tls)  # the same profile
        self.login_and_list(tb, tag)
        self.send(tb, tag, "approved %s %s" % (tls, fp))
        self.logged(mark, "trusted_device", fp, tag)
        self.stop_tb()

    def case_clientid_off(self, tls):
        tag = "%s case 4 (CLIENTID off, require_clientid=yes)" % tls
        self.ctl("policy", ACCOUNT, "require_clientid=yes")
        try:
            mark = self.marks()
            tb = self.start_tb(self.profile(tls, None), "off-" + tls)
            self.refused(tb, mark, "clientid_required", tag, None)
        finally:
            self.stop_tb()
            self.ctl("policy", ACCOUNT, "require_clientid=default")

    def case_tempfail(self, tls):
        """Issue 19: with the store unavailable and on_error = tempfail, a
        trusted Thunderbird gets IMAP's NO [UNAVAILABLE] and SMTP's 454, and
        does not ask for the password: none of the dialogs it opened for a
        wrong password (case 2) opens (it shows an alert and a send error)."""
        tag = "%s case 6 (store unavailable: temporary failure)" % tls
        tok = self.new_token()
        self.ctl("register", ACCOUNT, "UUID", "--label", "tb-tempfail-" + tls, stdin=tok + "\n")
        store = self.st.store
        os.rename(store, store + ".away")
        open(store, "w").close()  # a file where the store's folder was: no store
        try:
            self.ps.restart_service()
            mark = self.marks()
            tb = self.start_tb(self.profile(tls, tok), "tempfail-" + tls)
            shown = tb.visible_titles()
            tb.m.js(JS_SEND, "tempfail " + tag)
            # the precheck (before SASL, so account="") meets the store error
            wait_for(lambda: [ln for ln in self.ex.mainlog()[mark[1]:].splitlines()
                              if "reason=store_error" in ln], "Exim's store_error line", 20)
            reply = wait_for(lambda: [ln for ln in self.ex.mainlog()[mark[1]:].splitlines()
                                      if " 454 " in ln], "Exim's 454", 10)
            self.res.check(True, "%s: SMTP answered 454: %s"
                           % (tag, reply[-1].split("]: ", 1)[-1]))
            tb.m.js(JS_GET_MAIL)
            wait_for(lambda: self.imap_lines(mark, "store_error"), "Dovecot's store_error line",
                     20)
            got = wait_for(lambda: [c for c in tb_read(tb.imap_log) if "UNAVAILABLE" in c],
                           "Thunderbird to read the IMAP temporary failure", 15)
            self.res.check(IMAP_TEMPFAIL in got[-1], "%s: IMAP answered %s"
                           % (tag, IMAP_TEMPFAIL), got[-1])
            time.sleep(3)  # longer than the wrong-password dialogs took to draw
            opened = tb.visible_titles() - shown
            self.res.check(self.password_dialogs and not opened & self.password_dialogs,
                           "%s: Thunderbird does not ask for the password (none of %s "
                           "opens; it shows %s)" % (tag, sorted(self.password_dialogs),
                                                    sorted(opened)),
                           "opened: %s" % sorted(opened))
        finally:
            os.unlink(store)
            os.rename(store + ".away", store)
            self.ps.restart_service()
        self.stop_tb()

    def final_checks(self):
        logs = self.ps.log() + self.ex.mainlog()
        for name, data in self.ex.logs().items():
            logs += data.decode("latin-1")
        leaked = [t for t in self.tokens if t in logs]
        self.res.check(not leaked and self.tokens, "no token (of %d) in Dovecot's or Exim's logs"
                       % len(self.tokens), "%d token(s) found in clear" % len(leaked))
        local, foreign = self.catcher.split()
        if local:
            print("note: %d Remote Settings request(s) to the catcher, as configured" % local)
        self.res.check(not foreign, "no traffic off the machine (no request for another host)",
                       "%d request(s): %s" % (len(foreign), "; ".join(foreign[:5])))


def tb_read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--exim")
    ap.add_argument("--skip", default="")
    ap.add_argument("--screenshot", help="copy the unknown-device dialog (STARTTLS) here")
    ap.add_argument("--only", choices=["starttls", "implicit"])
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--timeout", type=int, default=420, help="the whole run, seconds")
    opts = ap.parse_args()
    why = first_missing([(not opts.skip, opts.skip),
                         (os.geteuid() == 0, "starts Dovecot and Exim: needs root")])
    why = why or tb_run.available()
    if why:
        return skip_exit(why)
    bins, missing = stack.built_binaries(opts)
    if missing:
        return skip_exit("not built: " + ", ".join(missing))

    def on_signal(signum, _frame):
        raise Timeout("signal %d (the run's %d s bound is SIGALRM)" % (signum, opts.timeout))

    for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
        signal.signal(s, on_signal)
    signal.alarm(opts.timeout)
    t0 = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="clientid-tb-")
    os.chmod(scratch, 0o755)
    tempfile.tempdir = scratch  # the harnesses' folders go in here
    res = Tally()
    run = None
    try:
        run = Run(opts, bins, scratch, res)
        run.setup()
        for tls in ([opts.only] if opts.only else ["starttls", "implicit"]):
            for case in (run.case_trusted, run.case_unknown_then_approved,
                         run.case_clientid_off, run.case_tempfail):
                try:
                    case(tls)
                except (Failed, RuntimeError, EOFError, OSError) as e:
                    res.check(False, "%s %s" % (tls, case.__name__), str(e))
                    run.stop_tb()
        run.final_checks()
    except (Exception, Timeout) as e:  # noqa: BLE001 - servers that did not start, timeout
        traceback.print_exc()
        res.check(False, "run", "%s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if run is not None:
            run.stop()
        if opts.keep:
            print("kept: " + scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print("took %.0f s" % (time.monotonic() - t0))
    print("thunderbird: %d passed, %d failed" % (res.passed, res.failed))
    return 1 if res.failed or not res.passed else 0


if __name__ == "__main__":
    sys.exit(main())
