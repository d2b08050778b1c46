"""Both servers on ONE clientid.conf, secret and store, as a site runs them:
a scratch Dovecot with the imap-login plugin and the clientid-policy service
(harness.policy_service) and the patched Exim with clientid.so and the
shipped snippets (harness.exim_policy). The demo (demo/demo.py), the
reliability suite, the Thunderbird tests and bench/attack all start them
through Stack.

Both fixtures make their scratch folders with mkdtemp: a caller that wants
them in one place points tempfile.tempdir there first.
"""

import grp
import hashlib
import hmac
import os
import shutil
import types

from harness import ctl as ctl_
from harness import exim_policy, policy_service
from harness.dovecot import PLUGIN_FILE
from harness.exim import EXIM_USER, REPO, find_exim
from harness.exim_policy import PolicyExim
from harness.policy_service import PolicyServer, pw
from harness.runner import check
from harness.templates import render


# --------------------------------------------------------------------------
# What the servers load from a build folder

def binaries(build_dir, exim, keep=False):
    """The namespace the fixtures take: the plugin folder, policy service,
    clientidctl and clientid.so of build_dir, and the patched Exim."""
    b = os.path.abspath(build_dir)
    return types.SimpleNamespace(
        plugin_dir=os.path.join(b, "dovecot-plugin"),
        service=os.path.join(b, "dovecot-plugin", "policy-service", "clientid-policy"),
        clientidctl=os.path.join(b, "clientidctl", "clientidctl"),
        module=os.path.join(b, "exim-module", "clientid.so"),
        exim=exim, keep=keep, valgrind=False)


def built_binaries(opts):
    """binaries() of opts.build_dir, with the patched Exim that find_exim(opts)
    names (--exim, $CLIENTID_EXIM, `exim-module/build-exim path`):
    (namespace, list of what is missing, empty when all is there)."""
    opts.build_exim = getattr(opts, "build_exim", None) or \
        os.path.join(REPO, "exim-module", "build-exim")
    exim = find_exim(opts)
    bins = binaries(opts.build_dir, exim)
    missing = [p for p in (bins.plugin_dir, bins.service, bins.clientidctl, bins.module)
               if not os.path.exists(p)]
    if not os.path.isfile(os.path.join(bins.plugin_dir, PLUGIN_FILE)):
        missing.append(os.path.join(bins.plugin_dir, PLUGIN_FILE))
    if not exim or not os.access(exim, os.X_OK):
        missing.append("the patched Exim (exim-module/build-exim fast)")
    return bins, missing


# --------------------------------------------------------------------------
# The shared pieces

def exim_gid():
    return grp.getgrnam(EXIM_USER).gr_gid


def make_store(path):
    """The store folder, as a package makes it: root:Debian-exim, group-
    writable for both servers, setgid. Returns path."""
    os.mkdir(path)
    os.chown(path, 0, exim_gid())
    os.chmod(path, 0o2770)
    return path


def share_policy(ex, conf):
    """Points PolicyExim ex at conf (Dovecot's clientid.conf) instead of its
    own, and removes its own policy folder."""
    with open(ex.conf) as f:
        text = f.read()
    own = "CLIENTID_CONF = %s/clientid/clientid.conf" % ex.dir
    check(own in text, "unexpected Exim configuration from the harness")
    with open(ex.conf, "w") as f:
        f.write(text.replace(own, "CLIENTID_CONF = %s" % conf))
    shutil.rmtree(os.path.join(ex.dir, "clientid"))
    ex.policy = conf


def device_rows(table):
    """{short fingerprint: state} from `clientidctl list`."""
    rows = {}
    for ln in table.splitlines()[1:]:
        f = ln.split()
        if len(f) >= 2:
            rows[f[0]] = f[1]
    return rows


def setting_lines(settings):
    """"key = value" lines, sorted, from a dict."""
    return "".join("%s = %s\n" % kv for kv in sorted(settings.items()))


class SharedPolicyServer(PolicyServer):
    """A PolicyServer whose clientid.conf is templates/stack-clientid.conf
    with the caller's settings: {"store": {...}, "policy": {...},
    "limits": {...}} (key = value lines added to those sections)."""

    def __init__(self, bins, name, settings, **kw):
        self.settings = settings
        super().__init__(bins, name, **kw)

    def write_conf(self, broken=False):
        text = render("stack-clientid.conf", secret=self.secret, store=self.store,
                      on_error=self.on_error, mode=self.mode,
                      store_extra=setting_lines(self.settings.get("store", {})),
                      policy_extra=setting_lines(self.settings.get("policy", {})),
                      limits=setting_lines(self.settings.get("limits", {})))
        if broken:
            text += "no_such_key = 1\n"
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)


# --------------------------------------------------------------------------
# The two servers

class Stack:
    """Dovecot with the policy service (.ps, its Dovecot .ps.dc) and Exim with
    clientid.so (.ex) on one clientid.conf (.conf), secret and store.

    store: the store folder to make (its parent must exist). accounts: the
    users both servers know, each with password pw(user). mode: the policy
    mode. settings: None for PolicyServer's own clientid.conf, else the
    SharedPolicyServer settings. failure_delay: Dovecot's
    auth_failure_delay; fail_delay and exim_kw: PolicyExim's."""

    def __init__(self, bins, name, store, accounts, mode="enforce", settings=None,
                 failure_delay="0", fail_delay="300ms", exim_kw=None):
        self.bins = bins
        self.store = make_store(store)
        for u in accounts:
            if u not in policy_service.USERS:
                policy_service.USERS.append(u)
        kw = dict(mode=mode, store_path=self.store, failure_delay=failure_delay)
        if settings is None:
            self.ps = PolicyServer(bins, name, **kw)
        else:
            self.ps = SharedPolicyServer(bins, name, settings, **kw)
        self.conf = self.ps.conf
        os.chown(self.ps.secret, 0, exim_gid())  # Exim reads it as Debian-exim
        os.chmod(self.ps.secret, 0o640)
        with open(self.ps.secret, "rb") as f:
            self.secret = f.read()
        exim_policy.USERS.clear()
        for u in accounts:
            exim_policy.USERS[u] = pw(u)
        self.ex = None
        try:
            self.ex = PolicyExim(bins, mode=mode, fail_delay=fail_delay, **(exim_kw or {}))
            share_policy(self.ex, self.conf)
        except BaseException:
            # a set-up that failed half-way leaves no folder behind
            if self.ex is not None:
                self.ex.cleanup(False)
            self.ps.cleanup()
            raise

    def start(self):
        self.ps.start()
        self.ex.start()
        return self

    def stop(self):
        """Stops Exim, then Dovecot (also when stopping Exim failed)."""
        try:
            self.ex.stop()
        finally:
            self.ps.dc.stop()

    def cleanup(self, keep=False):
        """Stops both and, unless keep, removes their scratch folders."""
        self.stop()
        self.ex.cleanup(keep)
        if not keep:
            self.ps.cleanup()

    # --- the store -----------------------------------------------------------

    def ctl(self, *args, stdin=None, ok=True, merge=False, timeout=120):
        """clientidctl on the shared clientid.conf: the CompletedProcess (text);
        with ok, Failure when it exits non-zero. The timeout is generous: a
        loaded machine is slow, not broken."""
        return ctl_.run(self.bins.clientidctl, self.conf, *args, stdin=stdin, ok=ok,
                        merge=merge, timeout=timeout)

    def fingerprint(self, token, typ="UUID"):
        """The short (12 hex digits) fingerprint clientidctl shows for token."""
        return ctl_.short_fingerprint(self.bins.clientidctl, self.conf, token, typ)

    def full_fingerprint(self, token, typ="UUID"):
        """The full fingerprint, computed from the shared secret."""
        return hmac.new(self.secret, (typ + ":" + token).encode(), hashlib.sha256).hexdigest()

    # --- logs ----------------------------------------------------------------

    def dovecot_log(self):
        return self.ps.log()

    def exim_log(self):
        return self.ex.mainlog()
