"""The package test's site and its activation: the site configured as an
administrator would (a user, TLS, submission, Exim authenticating through
Dovecot SASL), the install that must change no reply, clientid-activate's
refusals of what the site has of its own, and the activation. The site's
files are the templates/pkgtest-* files."""

import grp
import os
import re
import shutil

from clients import EXIM_CERT, observed_replies, smtp_submit
from harness.net import make_cert
from harness.templates import render
from install import install_ours
from machine import (ACTIVATE, DOVECOT_LINKS, DOVECOT_SITE_POLICY, DOVECOT_SITE_SASL,
                     EXIM_CONF, EXIM_GENERATED, EXIM_LINKS, EXIM_MACROS, EXIM_OWN_AUTH_LINK,
                     EXIM_SITE_ACL, EXIM_SITE_AUTH, EXIM_SITE_OPTIONS, SUBMISSION, USER,
                     dovecot_pid, exim_pid, run, service, sha256, step, wait_port)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def write_site_exim_auth(hooked):
    """The site's dovecot_plain and dovecot_login, with the hook that
    clientid-activate asks for or without it."""
    write(EXIM_SITE_AUTH, render("pkgtest-exim-site-auth",
                                 hook=render("pkgtest-exim-sasl-hook") if hooked else ""))


def configure_site(res, m, workdir):
    step("Configure the site as an administrator: a user, TLS, submission, "
         "Exim authenticating through Dovecot")
    m.add_user()
    # Exim: Debian's macros. TLS with a certificate of our own and the
    # submission port; AUTH through the site's dovecot_plain/dovecot_login.
    conf = open(EXIM_CONF).read()
    conf = re.sub(r"^dc_use_split_config=.*$", "dc_use_split_config='true'", conf, flags=re.M)
    conf = re.sub(r"^dc_local_interfaces=.*$",
                  "dc_local_interfaces='127.0.0.1.25 ; 127.0.0.1.%d'" % SUBMISSION,
                  conf, flags=re.M)
    open(EXIM_CONF, "w").write(conf)
    exim_gid = grp.getgrnam("Debian-exim").gr_gid
    make_cert(workdir, "localhost")
    for src, dst in (("cert.pem", EXIM_CERT), ("key.pem", "/etc/exim4/exim.key")):
        m.add_file(dst)
        shutil.copy(os.path.join(workdir, src), dst)
        os.chown(dst, 0, exim_gid)
        os.chmod(dst, 0o640)
    # With the split configuration, macros go first in conf.d/main (Debian's
    # README; exim4.conf.localmacros is read only by the unsplit one).
    m.add_file(EXIM_MACROS)
    write(EXIM_MACROS, render("pkgtest-exim-localmacros"))
    m.add_file(EXIM_SITE_AUTH)
    write_site_exim_auth(hooked=False)
    m.add_file(DOVECOT_SITE_SASL)
    write(DOVECOT_SITE_SASL, render("pkgtest-dovecot-sasl.conf"))
    run(["update-exim4.conf"])
    for name in ("dovecot", "exim4"):
        p = service(name, "restart")
        res.check(p.returncode == 0, "service %s restart (from its installed configuration)"
                  % name, "exit %d" % p.returncode)
    res.must(dovecot_pid() and wait_port(143) and wait_port(993), "Dovecot is up on 143 and 993")
    res.must(exim_pid() and wait_port(25) and wait_port(SUBMISSION),
             "Exim is up on 25 and %d" % SUBMISSION)



def site_options_of_its_own(res, m):
    """Issue 19's configurations 2 and 3 on top of 1: an Exim with the
    site's own acl_smtp_auth and smtp_accept_max_per_host, and a Dovecot
    with the site's own auth_policy_server_url. They stay for the install
    and for activation_refusals, which removes them."""
    step("The site's own acl_smtp_auth, smtp_accept_max_per_host and "
         "auth_policy_server_url")
    m.add_file(DOVECOT_SITE_POLICY)
    write(DOVECOT_SITE_POLICY, render("pkgtest-dovecot-site-policy.conf"))
    m.add_file(EXIM_SITE_OPTIONS)
    m.add_file(EXIM_SITE_ACL)
    write(EXIM_SITE_OPTIONS, render("pkgtest-exim-site-options",
                                    more="smtp_accept_max_per_host = 20"))
    write(EXIM_SITE_ACL, render("pkgtest-exim-site-acl", what="", precheck=""))
    run(["update-exim4.conf"])
    for name in ("dovecot", "exim4"):
        service(name, "restart")
    res.must(dovecot_pid() and wait_port(143) and exim_pid() and wait_port(SUBMISSION),
             "Dovecot and Exim run with the site's own options")
    exim = [run(["exim4", "-bP", o], check=False).stdout.strip()
            for o in ("acl_smtp_auth", "smtp_accept_max_per_host")]
    url = run(["doveconf", "-h", "auth_policy_server_url"], check=False).stdout.strip()
    res.check(exim == ["acl_smtp_auth = acl_pkgtest_site_auth", "smtp_accept_max_per_host = 20"]
              and url == "http://127.0.0.1:10999/",
              "in force before the install: the site's acl_smtp_auth, "
              "smtp_accept_max_per_host and auth_policy_server_url", "%r %r" % (exim, url))


def install_changes_nothing(res, debs):
    """Issue 19: apt-get install of the clientid packages into running
    servers changes no reply of either: from a site with Exim through
    Dovecot SASL, its own acl_smtp_auth and smtp_accept_max_per_host, and
    its own auth policy server (configurations 1, 2 and 3 at once)."""
    before = observed_replies()
    gen = sha256(EXIM_GENERATED)
    doveconf = run(["doveconf", "-n"]).stdout
    e_pid = exim_pid()
    install_ours(res, debs)
    res.must(dovecot_pid() and wait_port(143) and exim_pid() and wait_port(SUBMISSION),
             "Dovecot and Exim run right after the install")
    res.check(exim_pid() == e_pid, "the install did not restart Exim", "%s -> %s"
              % (e_pid, exim_pid()))
    res.check(sha256(EXIM_GENERATED) == gen, "Exim's generated configuration is unchanged")
    res.check(run(["doveconf", "-n"]).stdout == doveconf, "doveconf -n is unchanged")
    after = observed_replies()
    for key in before:
        res.check(after.get(key) == before[key], "after the install, the same reply: " + key,
                  "before %r, after %r" % (before[key], after.get(key)))
    res.check(before["smtp auth plain, right password"][0] == 235
              and before["imap login, right password"] == "OK",
              "the site's own logins work (Exim through Dovecot SASL, Dovecot IMAP)",
              str(before))


def activate_cmd(*args):
    p = run([ACTIVATE] + list(args), check=False)
    print("\n".join("    | " + ln for ln in p.stdout.rstrip().splitlines()))
    return p


def activation_refusals(res, m):
    """clientid-activate refuses, with its message, and leaves both servers
    running as they were."""
    step("Activation refuses: the site's own auth policy server (Dovecot)")
    d_pid = dovecot_pid()
    p = activate_cmd("dovecot")
    res.check(p.returncode == 1 and "auth_policy_server_url" in p.stdout
              and DOVECOT_SITE_POLICY in p.stdout and "nothing was changed" in p.stdout,
              "clientid-activate dovecot refuses, naming the site's auth_policy_server_url "
              "and its file", "exit %d" % p.returncode)
    res.check(not any(os.path.lexists(link) for link in DOVECOT_LINKS),
              "no Dovecot link was made")
    res.check(dovecot_pid() == d_pid and wait_port(143), "Dovecot runs on, not restarted")
    os.unlink(DOVECOT_SITE_POLICY)

    step("Activation refuses: the site's acl_smtp_auth and smtp_accept_max_per_host, "
         "and authenticators without the hook (Exim)")
    res.must(exim_pid() and wait_port(SUBMISSION), "Exim runs with the site's own acl_smtp_auth")
    e_pid, gen = exim_pid(), sha256(EXIM_GENERATED)
    p = activate_cmd("exim")
    out = p.stdout
    res.check(p.returncode == 1 and "nothing was changed" in out, "clientid-activate exim "
              "refuses (exit 1, nothing was changed)", "exit %d" % p.returncode)
    res.check("acl_smtp_auth" in out and EXIM_SITE_OPTIONS in out
              and "CLIENTID_PRECHECK" in out and "CLIENTID_OWN_ACL_SMTP_AUTH" in out,
              "its message names the site's acl_smtp_auth (file and line) and says what to "
              "add to that ACL")
    res.check("smtp_accept_max_per_host" in out and "CLIENTID_NO_PRELOAD" in out,
              "its message names smtp_accept_max_per_host and the macro to define")
    res.check(all(n in out for n in ("dovecot_plain", "dovecot_login", EXIM_SITE_AUTH))
              and render("pkgtest-exim-sasl-hook").strip().splitlines()[1].strip() in out,
              "its message names dovecot_plain and dovecot_login and the lines to add")
    res.check(not any(os.path.lexists(link) for link in EXIM_LINKS + [EXIM_OWN_AUTH_LINK]),
              "no Exim link was made")
    res.check(exim_pid() == e_pid and sha256(EXIM_GENERATED) == gen,
              "Exim runs on, not restarted, its generated configuration unchanged")

    step("Do what the message says about acl_smtp_auth; drop smtp_accept_max_per_host")
    write(EXIM_SITE_OPTIONS, render("pkgtest-exim-site-options", more=""))
    write(EXIM_SITE_ACL, render("pkgtest-exim-site-acl", what=", with the precheck",
                                precheck=render("pkgtest-exim-acl-precheck")))
    with open(EXIM_MACROS, "a") as f:
        f.write("CLIENTID_OWN_ACL_SMTP_AUTH = yes\n")
    p = activate_cmd("exim")
    res.check(p.returncode == 1 and "acl_smtp_auth" not in p.stdout
              and "smtp_accept_max_per_host" not in p.stdout and "dovecot_plain" in p.stdout,
              "clientid-activate exim: the site's ACL is accepted; only the authenticators "
              "are left to hook", "exit %d" % p.returncode)


def activate(res):
    step("Add the hook to the site's authenticators, as the message says")
    write_site_exim_auth(hooked=True)
    run(["update-exim4.conf"])
    service("exim4", "restart")
    res.must(exim_pid() and wait_port(SUBMISSION), "Exim restarted with the hook in place")
    offered, auth, sent = smtp_submit(None)
    res.check(not offered and auth[0] == 235 and sent, "the hook is inert while clientid is "
              "not active: no CLIENTID, the site's AUTH works", str(auth))

    step("Activate: clientid-activate dovecot, clientid-activate exim")
    run(["clientidctl", "policy", USER, "mode=learn"])  # the first device is learned
    p = activate_cmd("dovecot")
    res.check(p.returncode == 0, "clientid-activate dovecot", "exit %d" % p.returncode)
    res.check(all(os.path.islink(link) for link in DOVECOT_LINKS),
              "the Dovecot conf.d links are there")
    conf = run(["doveconf", "-n"], check=False).stdout
    res.check(re.search(r"login_plugins = .*clientid", conf) is not None,
              "doveconf -n: imap-login loads the clientid plugin")
    res.check("service clientid-policy" in conf and "CHANGE-ME" not in conf,
              "doveconf -n: the clientid-policy service, no CHANGE-ME left")
    res.check(run(["doveconf", "-h", "auth_policy_reject_on_fail"]).stdout.strip() == "no",
              "auth_policy_reject_on_fail = no: a service that cannot start takes no "
              "protocol down")
    p = activate_cmd("exim")
    res.check(p.returncode == 0 and "dovecot_plain" in p.stdout,
              "clientid-activate exim: the site's dovecot_plain/dovecot_login carry the hook",
              "exit %d" % p.returncode)
    res.check(all(os.path.islink(link) for link in EXIM_LINKS)
              and not os.path.lexists(EXIM_OWN_AUTH_LINK),
              "the Exim main and acl links are there; no authenticator of clientid's own")
    gen = open(EXIM_GENERATED).read()
    res.check("clientid_advertise_hosts" in gen and "clientid_decide" in gen,
              "the generated configuration has the CLIENTID options and the hook")
    p = run(["exim4", "-bP", "acl_smtp_auth"], check=False)
    res.check(p.stdout.strip() == "acl_smtp_auth = acl_pkgtest_site_auth",
              "Exim's acl_smtp_auth is still the site's own (which now asks the precheck)",
              p.stdout.strip())
    p = activate_cmd("exim")
    res.check(p.returncode == 0 and "already active" in p.stdout,
              "clientid-activate exim again: already active, nothing to do")
    res.must(dovecot_pid() and wait_port(143) and wait_port(993)
             and exim_pid() and wait_port(SUBMISSION), "both run after the activation")

