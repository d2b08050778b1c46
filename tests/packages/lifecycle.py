"""The package test's life cycle of the installed packages: an upgrade that
keeps the store and the secret, new policy keys, removal that leaves both
servers serving without CLIENTID, and a purge that deletes what is ours."""

import os
import re

from clients import device_states, imap_login, smtp_local_delivery, smtp_submit
from machine import (API_KEY, APT, DOVECOT_KEYS, DOVECOT_LINKS, EXIM_LINKS, OUR_PACKAGES,
                     SECRET, STORE, SUBMISSION, USER, dovecot_pid, exim_pid,
                     installed_version, mode_of, package_state, run, service, sha256, step,
                     wait_port)


def repack(deb, old, new, workdir):
    """The same package with version new instead of old: an upgrade."""
    tree = os.path.join(workdir, os.path.basename(deb) + ".d")
    run(["dpkg-deb", "-R", deb, tree])
    ctl = os.path.join(tree, "DEBIAN", "control")
    text = open(ctl).read()
    text = re.sub(r"^Version: .*$", "Version: " + new, text, flags=re.M)
    text = text.replace("(= %s)" % old, "(= %s)" % new)
    open(ctl, "w").write(text)
    out = os.path.join(workdir, os.path.basename(deb).replace("_%s_" % old, "_%s_" % new))
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
    return out


def upgrade(res, debs, workdir, laptop):
    step("Upgrade: the same packages with a higher version keep store and secret")
    before = {p: sha256(p) for p in (SECRET, API_KEY)}
    states = device_states()
    old = installed_version("clientid-tools")
    new = old + "+upgradetest1"
    files = [repack(debs[p], old, new, workdir) for p in OUR_PACKAGES]
    p = run(APT + ["install"] + files, check=False)
    res.must(p.returncode == 0, "apt-get install the %s packages (upgrade)" % new)
    res.check(all(installed_version(p) == new for p in OUR_PACKAGES),
              "all three are at %s" % new)
    res.check(all(sha256(f) == h for f, h in before.items()),
              "the site secret and the API key are unchanged")
    res.check(device_states() == states, "the device history is unchanged", str(device_states()))
    res.check(mode_of(STORE) == "2770 root:clientid", "the store is still 2770 root:clientid")
    res.must(dovecot_pid() and wait_port(143) and exim_pid() and wait_port(SUBMISSION),
             "Dovecot and Exim run after the upgrade")
    res.check(all(os.path.islink(link) for link in DOVECOT_LINKS + EXIM_LINKS),
              "the activation is kept: the conf.d links are still there")
    _, reply = imap_login(laptop)
    _, auth, sent = smtp_submit(laptop, subject="after upgrade")
    res.check(reply == "OK" and auth[0] == 235 and sent,
              "the laptop still logs in (IMAP) and submits (SMTP)", "%r %r" % (reply, auth))


def new_policy_keys(res, laptop):
    step("New policy keys, as packaging.md says: delete both files, dpkg-reconfigure")
    old = open(API_KEY).read()
    os.unlink(API_KEY)
    os.unlink(DOVECOT_KEYS)
    p = run(["dpkg-reconfigure", "-fnoninteractive", "dovecot-clientid"], check=False)
    key = open(API_KEY).read().strip() if os.path.exists(API_KEY) else ""
    keys = open(DOVECOT_KEYS).read() if os.path.exists(DOVECOT_KEYS) else ""
    res.check(p.returncode == 0 and key and key != old.strip()
              and "X-API-Key:%s\n" % key in keys and mode_of(API_KEY) == "0640 root:clientid",
              "dpkg-reconfigure dovecot-clientid made a new key, in both files")
    service("dovecot", "restart")
    res.must(wait_port(143), "Dovecot restarted")
    _, reply = imap_login(laptop)
    res.check(reply == "OK", "the laptop logs in with the new key in place", reply)


def serving_without_clientid(res, when):
    offered, reply = imap_login(None)
    res.check(not offered and reply == "OK",
              "%s: IMAP serves: no CLIENTID offered, the password logs in" % when,
              "offered=%s %r" % (offered, reply))
    offered, ok = smtp_local_delivery("after " + when)
    res.check(not offered and ok is True,
              "%s: SMTP serves: no CLIENTID offered, a message for %s is accepted" % (when, USER),
              "offered=%s %s" % (offered, ok))


def remove(res):
    step("Remove: the snippets are disabled, the servers keep working")
    d_pid, e_pid = dovecot_pid(), exim_pid()
    p = run(APT + ["remove"] + OUR_PACKAGES, check=False)
    res.must(p.returncode == 0, "apt-get remove " + " ".join(OUR_PACKAGES))
    res.check(all(package_state(p) == "config-files" for p in OUR_PACKAGES),
              "the packages are removed, their configuration kept (config-files)")
    res.check(not any(os.path.lexists(link) for link in DOVECOT_LINKS + EXIM_LINKS),
              "the conf.d links are gone")
    res.check(os.path.exists("/etc/dovecot/clientid/95-clientid.conf")
              and os.path.exists("/etc/exim4/clientid/main/04_clientid_options"),
              "the conffiles are still there, for a later reinstall")
    res.check(os.path.exists(SECRET) and os.path.isdir(STORE)
              and os.path.exists(os.path.join(STORE, "durable.mdb")),
              "the secret and the store are kept (remove is not purge)")
    conf = run(["doveconf", "-n"]).stdout
    left = [w for w in ("login_plugins", "clientid-policy", "auth_policy") if w in conf]
    res.check(not left, "doveconf -n: no login plugin, no policy service, no auth policy",
              "still there: %s" % left)
    conf = open("/var/lib/exim4/config.autogenerated").read()
    left = [w for w in ("clientid.so", "clientid_advertise_hosts", "acl_clientid_auth")
            if w in conf]
    res.check(not left, "Exim's generated configuration: no clientid.so, no CLIENTID "
              "options, no clientid ACL", "still there: %s" % left)
    res.check(dovecot_pid() not in (None, d_pid) and exim_pid() not in (None, e_pid),
              "the maintainer scripts restarted the running Dovecot and Exim",
              "dovecot %s -> %s, exim %s -> %s" % (d_pid, dovecot_pid(), e_pid, exim_pid()))
    serving_without_clientid(res, "right after remove")
    for name in ("dovecot", "exim4"):
        service(name, "stop")
    res.check(dovecot_pid() is None and exim_pid() is None, "both stopped")
    for name in ("dovecot", "exim4"):
        p = service(name, "start")
        res.check(p.returncode == 0, "service %s start" % name)
    res.must(wait_port(143) and wait_port(25), "both start again")
    serving_without_clientid(res, "after a fresh start")


def purge(res):
    step("Purge: the store, the secret and the keys are deleted")
    p = run(APT + ["purge"] + OUR_PACKAGES, check=False)
    res.must(p.returncode == 0, "apt-get purge " + " ".join(OUR_PACKAGES))
    res.check(all(package_state(p) == "not-installed" for p in OUR_PACKAGES),
              "no trace in dpkg's database")
    gone = [SECRET, STORE, API_KEY, DOVECOT_KEYS, "/etc/clientid", "/etc/dovecot/clientid",
            "/etc/exim4/clientid"]
    left = [p for p in gone if os.path.lexists(p)]
    res.check(not left, "gone: " + ", ".join(gone), "left: %s" % left)
    for name in ("dovecot", "exim4"):
        service(name, "restart")
    res.check(wait_port(143) and wait_port(25), "Dovecot and Exim still start after the purge")
    serving_without_clientid(res, "after purge")
