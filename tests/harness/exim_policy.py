"""A scratch patched Exim with clientid.so, the shipped snippets and a
scratch policy (templates/exim-policy.conf, templates/clientid-exim.conf),
and the SMTP logins the policy tests make through it."""

import os
import pwd
import re
import secrets
import time

from harness import ctl as ctl_
from harness import exim as base
from harness.runner import Failure, expect, verify
from harness.net import stage
from harness.smtp import quit_quietly, sasl
from harness.smtp import send_message as smtp_send_message
from harness.templates import fill as render_text, render

SNIPPETS = os.path.join(base.REPO, "exim-module", "snippets")
USERS = {"alice": "wonderland", "bob": "builder", "carol": "c4r0l"}
WRONG_535 = (535, b"Incorrect authentication data")
# send_message()'s check names
MESSAGE_STEPS = ("MAIL", "RCPT", "DATA", "message accepted")


AUTH_SNIPPET = ".include @snippets@/conf.d/auth/25_clientid_plaintext"

# Dovecot/Cyrus stand-in: a password check whose server_condition records
# only, as clientid_record is meant to be used after an external success.
AUTH_RECORD = render("exim-auth-record.conf")


def new_token():
    return "tok-" + secrets.token_hex(12)


def edit(path, change):
    """Rewrites the file path (a configuration) as change(its text)."""
    with open(path) as f:
        text = change(f.read())
    with open(path, "w") as f:
        f.write(text)


class PolicyExim(base.Exim):
    """A scratch Exim with clientid.so and a scratch policy."""

    def __init__(self, opts, mode="enforce", fail_delay="300ms", on_error="tempfail",
                 device_fail_limit=1000, ip_fail_limit=1000, learn_max=10,
                 authenticators=None, secret=True, macros="", policy_options="",
                 policy_sections=""):
        """The options fill the templates: policy_options are more lines of
        clientid.conf's [policy], policy_sections more sections after it;
        macros are lines of Exim macros before the password checks."""
        super().__init__(opts.exim)
        self.opts = opts
        pw = pwd.getpwnam(base.EXIM_USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # What Exim's processes (Debian-exim) load and read, and the
        # clientidctl they run as, come from staged copies, never the build.
        staged = os.path.join(self.dir, "staged")
        self.module = stage(opts.module, staged)
        self.clientidctl = stage(opts.clientidctl, staged, 0o755)
        self.snippets = stage(SNIPPETS, staged)
        cdir = os.path.join(self.dir, "clientid")
        os.makedirs(os.path.join(cdir, "store"))
        self.policy = os.path.join(cdir, "clientid.conf")
        self.write_policy(mode=mode, on_error=on_error, learn_max=learn_max,
                          device_fail_limit=device_fail_limit, ip_fail_limit=ip_fail_limit,
                          policy_options=policy_options, sections=policy_sections)
        if secret:
            sec = os.path.join(cdir, "secret")
            with open(sec, "wb") as f:
                f.write(secrets.token_bytes(32))
            os.chown(sec, 0, self.gid)
            os.chmod(sec, 0o640)
        os.chown(os.path.join(cdir, "store"), self.uid, self.gid)
        os.chmod(os.path.join(cdir, "store"), 0o750)
        self.write_passwd(USERS)
        auths = authenticators if authenticators is not None else \
            render_text(AUTH_SNIPPET, snippets=self.snippets)
        with open(self.conf, "w") as f:
            f.write(render(
                "exim-policy.conf", main=self.main_options(), dir=self.dir,
                module=self.module, fail_delay=fail_delay, snippets=self.snippets,
                macros=macros, authenticators=auths))
        os.chown(self.conf, 0, 0)

    def write_policy(self, **kw):
        with open(self.policy, "w") as f:
            f.write(render("clientid-exim.conf", dir=self.dir, **kw))
        os.chmod(self.policy, 0o644)

    def ctl(self, *args, stdin=None, ok=True):
        """clientidctl as the Exim user, so the store stays Exim's: its
        stdout; with ok, Failure when it exits non-zero."""
        return ctl_.run(self.clientidctl, self.policy, *args, stdin=stdin, ok=ok,
                        user=self.uid, group=self.gid).stdout

    def register(self, account, token, state="trusted"):
        self.tokens.add(("UUID", token))
        self.ctl("register", account, "UUID", "--state", state, stdin=token)

    def short(self, token):
        return self.ctl("fingerprint", "UUID", stdin=token).strip()[:12]

    def listed(self, account, token, state=""):
        """True when clientidctl list account shows token's device (in
        state, when given)."""
        pattern = rf"^{self.short(token)}\s" + (rf"+{state}" if state else "")
        return re.search(pattern, self.ctl("list", account), re.M) is not None

    def decisions(self, account):
        return [ln for ln in self.mainlog().splitlines()
                if "clientid: " in ln and f'account="{account}"' in ln]

    def last_decision(self, account, reason):
        lines = [ln for ln in self.decisions(account) if f"reason={reason}" in ln]
        if not lines:
            raise Failure(f"no clientid log line for {account} with reason={reason}:\n"
                              + "\n".join(self.decisions(account)[-5:]))
        print(f"  ok: logged: {lines[-1].split('clientid: ', 1)[1]}")
        return lines[-1]

    # --- a client -------------------------------------------------------

    def session(self, token=None):
        s = self.starttls()
        if token is not None:
            expect(self.clientid(s, "UUID", token), 250, "CLIENTID")
        return s

    def auth(self, s, user, password, mech="PLAIN"):
        """AUTH; returns (code, text, seconds the AUTH exchange took)."""
        t0 = time.monotonic()
        code, text, _ = sasl(s, user, password, mech + "-IR")[-1]
        return code, text, time.monotonic() - t0

    def login(self, user, password, token, mech="PLAIN"):
        s = self.session(token)
        code, text, dt = self.auth(s, user, password, mech)
        return s, (code, text), dt

    def check_logs(self):
        """Exim.check_logs(), after checking that the group sent tokens."""
        verify(self.tokens, f"{len(self.tokens)} tokens sent")
        super().check_logs()


def send_message(ex, s, user, subject):
    """A message from user that reaches the queue."""
    smtp_send_message(s, subject, f"{user}@example.com", "someone@example.org", "hello",
                      MESSAGE_STEPS)
    heads = ex.spool_headers()
    verify(any(f"Subject: {subject}" in h for h in heads), f"'{subject}' is in the queue")


def login_ok(ex, user, token, subject=None, mech="PLAIN"):
    s, r, _ = ex.login(user, USERS[user], token, mech)
    expect(r, 235, f"AUTH {mech} {user} with its device")
    if subject:
        send_message(ex, s, user, subject)
    quit_quietly(s)


def login_refused(ex, user, password, token, what):
    s, r, dt = ex.login(user, password, token)
    verify(r == WRONG_535, f"{what}: {r[0]} {r[1].decode()} (the wrong-password reply)")
    quit_quietly(s)
    return dt


def run_group(ex, body):
    """Starts ex, runs body, stops ex; then no token of the group may be in
    clear in mainlog, rejectlog or paniclog, and the paniclog is empty."""
    with ex.running(ex.opts.keep):
        body(ex)
