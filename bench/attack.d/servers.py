"""bench/attack: the two server set-ups, built from the end-to-end harnesses.

baseline  Dovecot without the clientid plugin, with Dovecot's own per-IP auth
          penalty (anvil, on by default) and its default auth_failure_delay
          (2 s); the patched Exim with CLIENTID switched off, no clientid.so,
          and a per-IP ratelimit of failed AUTHs written the way an
          administrator writes it (see EXIM_IP_RATELIMIT).
clientid  the same Dovecot with the imap-login plugin and the clientid-policy
          service, the same Exim with clientid.so and the shipped snippets,
          both on ONE clientid.conf, secret and store (as tests/demo/demo.py
          does), mode = enforce.

Every account has a SHA512-CRYPT password on both servers, so a refused
attempt that never reaches the password check saves a real hash.
"""

import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import crypt  # noqa: E402  (deprecated in 3.11, present in Debian 12)
import grp  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests"))
from harness.dovecot import Dovecot
from harness.exim import EXIM_USER
from harness.exim_policy import SNIPPETS, PolicyExim
from harness.policy_service import PolicyServer

# Dovecot 2.3.19's default; the e2e harness sets 0 for speed.
DOVECOT_FAIL_DELAY = "2s"
# The shipped Exim snippet's default CLIENTID_FAIL_DELAY.
EXIM_FAIL_DELAY = "1s"

# The clientid policy of the clientid run: clientid.conf(5)'s defaults for
# every limit, mode enforce. require_clientid is set by the caller.
POLICY_CONF = """\
[general]
secret_file = {secret}

[store]
path = {store}
on_error = tempfail

[policy]
mode = enforce
require_clientid = {require}

[limits]
device_fail_limit = 10
device_fail_window = 15m
ip_fail_limit = 50
ip_fail_window = 15m
device_max_accounts = 5
device_accounts_window = 1d
"""

# The password check of both Exim set-ups: crypteq against "user: $6$..."
# lines, as Debian's CONFDIR/passwd does (without its extra fields).
EXIM_PASSWORD_MACROS = r"""
CLIENTID_PASSWORD_OK_PLAIN = ${if and{{!eq{$auth3}{}}{crypteq{$auth3}{${lookup{$auth2}lsearch{PWFILE}{$value}{*:*}}}}}{yes}{no}}
CLIENTID_PASSWORD_OK_LOGIN = ${if and{{!eq{$auth2}{}}{crypteq{$auth2}{${lookup{$auth1}lsearch{PWFILE}{$value}{*:*}}}}}{yes}{no}}
"""

# Baseline authenticators: Debian's plain_server/login_server examples.
EXIM_BASE_AUTH = r"""
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_condition = CLIENTID_PASSWORD_OK_PLAIN
  server_set_id = $auth2
  server_prompts = :
  server_advertise_condition = ${if eq{$tls_in_cipher}{}{}{*}}

login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = "Username:: : Password::"
  server_condition = CLIENTID_PASSWORD_OK_LOGIN
  server_set_id = $auth1
  server_advertise_condition = ${if eq{$tls_in_cipher}{}{}{*}}
"""

# The administrator's per-IP defence: every connection that tried AUTH and
# did not authenticate counts as one failure of its address ($authentication_
# failed is set by every AUTH that did not succeed, ACL refusals included);
# an address with more than 10 such connections in 15 minutes may not AUTH
# any more. The key is the address alone: behind a CGNAT, everyone's.
EXIM_IP_RATELIMIT_MAIN = """
acl_smtp_auth = acl_ip_auth
acl_smtp_quit = acl_ip_quit
acl_smtp_notquit = acl_ip_quit
"""
EXIM_IP_RATELIMIT_ACL = """
acl_ip_auth:
  deny    ratelimit = 10 / 15m / per_conn / readonly / authfail:$sender_host_address
          message = 535 Incorrect authentication data
          log_message = ip-ratelimit: $sender_rate failed AUTH connections per $sender_rate_period
  accept

acl_ip_quit:
  warn    condition = ${if and{{eq{$authentication_failed}{1}}{eq{$sender_host_authenticated}{}}}}
          ratelimit = 10 / 15m / per_conn / strict / authfail:$sender_host_address
  accept
"""
# clientid's own before-AUTH ACL and the per-IP one, when both are kept.
EXIM_BOTH_AUTH_ACL = """
acl_ip_and_clientid_auth:
  deny    ratelimit = 10 / 15m / per_conn / readonly / authfail:$sender_host_address
          message = 535 Incorrect authentication data
          log_message = ip-ratelimit: $sender_rate failed AUTH connections per $sender_rate_period
  accept  acl = acl_clientid_auth
"""

# Dovecot: the accounts, in a passdb of their own (with the phase marker
# the policy service needs; harmless without it).
DOVECOT_PASSDB = """
auth_failure_delay = {delay}
passdb {{
  driver = passwd-file
  args = username_format=%u {users}
  override_fields = clientid_phase=verified
}}
"""

# The block of policy_e2e's template that turns Dovecot's per-IP auth
# penalty off (it is the test's choice there; here it is a flag).
PENALTY_OFF_RE = re.compile(r"# test only: no per-IP auth penalty.*?\n  }\n}\n", re.S)


def hash_password(pw):
    return crypt.crypt(pw, crypt.mksalt(crypt.METHOD_SHA512))


def write_users(path, hashes, dovecot):
    with open(path, "w") as f:
        for user, h in sorted(hashes.items()):
            f.write(("%s:{SHA512-CRYPT}%s\n" if dovecot else "%s: %s\n") % (user, h))
    os.chmod(path, 0o644)


class Setup:
    """One run's servers: .dovecot (a dovecot_e2e.Dovecot), .exim (an
    exim_policy_e2e.PolicyExim), .policy_conf (clientid run only)."""

    def __init__(self, bins, kind, hashes, scratch, require_clientid=True,
                 ip_defences=None, keep=False):
        self.kind = kind
        self.bins = bins
        self.hashes = hashes
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="%s-" % kind[:4], dir=scratch)
        os.chmod(self.dir, 0o755)
        self.ps = None
        self.policy_conf = None
        # The IP-based defences: always in the baseline; in the clientid
        # run only when asked (an administrator replaces them, see results).
        self.ip_defences = kind == "baseline" if ip_defences is None else ip_defences
        # (the harnesses make and remove their own folders in /tmp: Dovecot's
        # unix socket paths must stay short)
        self.dovecot = self.exim = None
        try:
            if kind == "baseline":
                self._baseline()
            else:
                self._clientid(require_clientid)
        except BaseException:
            self._remove_partial()
            raise

    def _remove_partial(self):
        """A set-up that failed half-way leaves no folder behind."""
        if self.exim is not None:
            self.exim.cleanup(self.keep)
        if self.ps is not None:
            self.ps.cleanup()
        elif self.dovecot is not None:
            self.dovecot.cleanup()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- Dovecot ----------------------------------------------------------

    def _dovecot_users(self):
        path = os.path.join(self.dir, "dovecot-users")
        write_users(path, self.hashes, dovecot=True)
        return path

    def _baseline(self):
        extra = DOVECOT_PASSDB.format(delay=DOVECOT_FAIL_DELAY, users=self._dovecot_users())
        self.dovecot = Dovecot(self.bins.plugin_dir, "attack-base", load_plugin=False,
                                  keep=self.keep, extra_conf=extra)
        self.exim = self._exim(clientid=False)

    def _clientid(self, require_clientid):
        exim_gid = grp.getgrnam(EXIM_USER).gr_gid
        store = os.path.join(self.dir, "store")
        os.mkdir(store)
        os.chown(store, 0, exim_gid)  # as a package would: both servers write it
        os.chmod(store, 0o2770)
        ps = PolicyServer(self.bins, "attack", mode="enforce", failure_delay="2s",
                             store_path=store)
        os.chown(ps.secret, 0, exim_gid)
        os.chmod(ps.secret, 0o640)
        with open(ps.conf, "w") as f:
            f.write(POLICY_CONF.format(secret=ps.secret, store=store,
                                       require="yes" if require_clientid else "no"))
        os.chmod(ps.conf, 0o644)
        # The accounts go into the service's own passdb (it has the marker).
        users = os.path.join(ps.dir, "users")
        write_users(users, self.hashes, dovecot=True)
        if self.ip_defences:
            ps.dc.extra_conf = PENALTY_OFF_RE.sub("", ps.dc.extra_conf)
            if "anvil-auth-penalty" in ps.dc.extra_conf:
                raise RuntimeError("could not turn the auth penalty back on")
        self.ps = ps
        self.policy_conf = ps.conf
        self.dovecot = ps.dc
        self.exim = self._exim(clientid=True)

    # --- Exim -------------------------------------------------------------

    def _exim(self, clientid):
        opts = types.SimpleNamespace(exim=self.bins.exim, module=self.bins.module,
                                     clientidctl=self.bins.clientidctl, keep=self.keep)
        # (the harness .format()s the authenticators: put ours in afterwards)
        auth = None if clientid else "# bench/attack: authenticators\n"
        ex = PolicyExim(opts, mode="enforce", fail_delay=EXIM_FAIL_DELAY,
                           device_fail_limit=10, ip_fail_limit=50, authenticators=auth)
        with open(ex.conf) as f:
            conf = f.read()
        conf = re.sub(r"^CLIENTID_PASSWORD_OK_(PLAIN|LOGIN) = .*\n", "", conf, flags=re.M)
        if not clientid:
            conf = conf.replace("# bench/attack: authenticators\n", EXIM_BASE_AUTH)
        conf = conf.replace("PWFILE = %s/passwd\n" % ex.dir,
                            "PWFILE = %s/passwd\n%s" % (ex.dir, EXIM_PASSWORD_MACROS))
        main_inc = ".include %s/conf.d/main/04_clientid_options" % ex.snippets
        acl_inc = ".include %s/conf.d/acl/25_clientid_check_auth" % ex.snippets
        for part in (main_inc, acl_inc):
            if part not in conf:
                raise RuntimeError("unexpected Exim configuration from the harness")
        if clientid:
            own = "CLIENTID_CONF = %s/clientid/clientid.conf" % ex.dir
            if own not in conf:
                raise RuntimeError("unexpected Exim configuration from the harness")
            conf = conf.replace(own, "CLIENTID_CONF = %s" % self.policy_conf)
            if self.ip_defences:
                # the snippet sets acl_smtp_auth, which Exim takes once:
                # inline it with the AUTH ACL renamed to one running both
                with open(os.path.join(SNIPPETS, "conf.d", "main",
                                       "04_clientid_options")) as f:
                    main = f.read()
                if "acl_smtp_auth = acl_clientid_auth\n" not in main:
                    raise RuntimeError("unexpected main/04_clientid_options")
                main = main.replace("acl_smtp_auth = acl_clientid_auth\n",
                                    "acl_smtp_auth = acl_ip_and_clientid_auth\n"
                                    "acl_smtp_quit = acl_ip_quit\n"
                                    "acl_smtp_notquit = acl_ip_quit\n")
                conf = conf.replace(main_inc, main)
                conf = conf.replace(acl_inc, acl_inc + "\n" + EXIM_IP_RATELIMIT_ACL
                                    + EXIM_BOTH_AUTH_ACL)
        else:
            conf = conf.replace(main_inc, "clientid_advertise_hosts =\n"
                                + EXIM_IP_RATELIMIT_MAIN)
            conf = conf.replace(acl_inc, EXIM_IP_RATELIMIT_ACL)
        with open(ex.conf, "w") as f:
            f.write(conf)
        if clientid:
            shutil.rmtree(os.path.join(ex.dir, "clientid"))
            ex.policy = self.policy_conf
        write_users(os.path.join(ex.dir, "passwd"), self.hashes, dovecot=False)
        r = subprocess.run([self.bins.exim, "-C", ex.conf, "-bV"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            ex.cleanup(self.keep)
            raise RuntimeError("exim -bV refuses the %s configuration: %s"
                               % (self.kind, (r.stdout + r.stderr)[-800:]))
        return ex

    # --- life cycle -------------------------------------------------------

    def register(self, devices):
        """Each legitimate device: trusted on its own account (clientid run)."""
        if self.ps is None:
            return
        for d in devices:
            self.exim.register(d.account, d.token)

    def start(self):
        if self.ps is not None:
            self.ps.start()
        else:
            self.dovecot.start()
        self.exim.start()

    def stop(self):
        try:
            self.exim.stop()
        finally:
            self.dovecot.stop()

    def cleanup(self):
        self.stop()
        self.exim.cleanup(self.keep)
        if self.ps is not None:
            self.ps.cleanup()
        else:
            self.dovecot.cleanup()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- what the servers logged --------------------------------------------

    def dovecot_log(self):
        return self.dovecot.logs_bytes().decode("utf-8", "replace")

    def exim_log(self):
        return self.exim.mainlog()
