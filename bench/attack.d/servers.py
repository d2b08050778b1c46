"""bench/attack: the two server set-ups, built from the end-to-end harnesses.

baseline  Dovecot without the clientid plugin, with Dovecot's own per-IP auth
          penalty (anvil, on by default) and its default auth_failure_delay
          (2 s); the patched Exim with CLIENTID switched off, no clientid.so,
          and a per-IP ratelimit of failed AUTHs written the way an
          administrator writes it (see EXIM_IP_RATELIMIT).
clientid  the same Dovecot with the imap-login plugin and the clientid-policy
          service, the same Exim with clientid.so and the shipped snippets,
          both on ONE clientid.conf, secret and store (harness.stack, as the
          demo and the reliability suite run them), mode = enforce.

Every account has a SHA512-CRYPT password on both servers, so a refused
attempt that never reaches the password check saves a real hash.
"""

import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import crypt  # noqa: E402  (deprecated in 3.11, present in Debian 12)
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402

from harness.dovecot import Dovecot  # noqa: E402
from harness.exim_policy import SNIPPETS, PolicyExim  # noqa: E402
from harness.stack import Stack  # noqa: E402

# Dovecot 2.3.19's default; the e2e harness sets 0 for speed.
DOVECOT_FAIL_DELAY = "2s"
# The shipped Exim snippet's default CLIENTID_FAIL_DELAY.
EXIM_FAIL_DELAY = "1s"

# The clientid policy of the clientid run (harness.stack's clientid.conf,
# on_error = tempfail): clientid.conf(5)'s defaults for every limit, mode
# enforce. require_clientid is set by the caller.
POLICY_LIMITS = {"device_fail_limit": 10, "device_fail_window": "15m", "ip_fail_limit": 50,
                 "ip_fail_window": "15m", "device_max_accounts": 5,
                 "device_accounts_window": "1d"}

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
    """One run's servers: .dovecot (a harness Dovecot), .exim (a harness
    PolicyExim), .st (the harness.stack.Stack) and .policy_conf (clientid
    run only)."""

    def __init__(self, bins, kind, hashes, scratch, require_clientid=True,
                 ip_defences=None, keep=False):
        self.kind = kind
        self.bins = bins
        self.hashes = hashes
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="%s-" % kind[:4], dir=scratch)
        os.chmod(self.dir, 0o755)
        self.st = self.ps = None
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
        if self.st is not None:
            self.st.cleanup(self.keep)
        else:
            if self.exim is not None:
                self.exim.cleanup(self.keep)
            if self.dovecot is not None:
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
        opts = types.SimpleNamespace(exim=self.bins.exim, module=self.bins.module,
                                     clientidctl=self.bins.clientidctl, keep=self.keep)
        # (the harness fills in the authenticators: put ours in afterwards)
        self.exim = PolicyExim(opts, mode="enforce", fail_delay=EXIM_FAIL_DELAY,
                               device_fail_limit=10, ip_fail_limit=50,
                               authenticators="# bench/attack: authenticators\n")
        self._exim(clientid=False)

    def _clientid(self, require_clientid):
        # the accounts go into the service's own passdb (it has the marker)
        # and Exim's passwd file below, with their hashes
        self.st = Stack(self.bins, "attack", os.path.join(self.dir, "store"), [],
                        mode="enforce", failure_delay="2s", fail_delay=EXIM_FAIL_DELAY,
                        settings={"policy": {"require_clientid":
                                             "yes" if require_clientid else "no"},
                                  "limits": POLICY_LIMITS},
                        exim_kw={"device_fail_limit": 10, "ip_fail_limit": 50})
        ps = self.ps = self.st.ps
        self.policy_conf = self.st.conf
        self.dovecot = ps.dc
        self.exim = self.st.ex
        write_users(os.path.join(ps.dir, "users"), self.hashes, dovecot=True)
        if self.ip_defences:
            ps.dc.extra_conf = PENALTY_OFF_RE.sub("", ps.dc.extra_conf)
            if "anvil-auth-penalty" in ps.dc.extra_conf:
                raise RuntimeError("could not turn the auth penalty back on")
        self._exim(clientid=True)

    # --- Exim -------------------------------------------------------------

    def _exim(self, clientid):
        """Makes self.exim's configuration this run's: crypteq passwords,
        and the IP defences or clientid's snippets; Exim must accept it."""
        ex = self.exim
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
        write_users(os.path.join(ex.dir, "passwd"), self.hashes, dovecot=False)
        r = subprocess.run([self.bins.exim, "-C", ex.conf, "-bV"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("exim -bV refuses the %s configuration: %s"
                               % (self.kind, (r.stdout + r.stderr)[-800:]))

    # --- life cycle -------------------------------------------------------

    def register(self, devices):
        """Each legitimate device: trusted on its own account (clientid run)."""
        if self.ps is None:
            return
        for d in devices:
            self.exim.register(d.account, d.token)

    def start(self):
        if self.st is not None:
            self.st.start()
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
        self._remove_partial()

    # --- what the servers logged --------------------------------------------

    def dovecot_log(self):
        return self.dovecot.logs_bytes().decode("utf-8", "replace")

    def exim_log(self):
        return self.exim.mainlog()
