"""The package test's packages: building them, installing them as an
administrator would, and what the install must set up (files, modes, the
prune timer, the apt hook and pin that keep the patched Exim)."""

import glob
import grp
import os
import re
import shutil
import subprocess
import time

from harness.templates import render
from machine import (ACTIVATE, API_KEY, APT, DOVECOT_KEYS, DOVECOT_LINKS, EXIM_LINKS,
                     EXIM_OWN_AUTH_LINK, EXIM_PACKAGES, EXIM_PIN, EXIM_PIN_EXAMPLE,
                     OUR_PACKAGES, REPO, SECRET, STORE, installed_version, mode_of,
                     package_state, run, sha256, step)


def build(res):
    step("Build the packages")
    t0 = time.monotonic()
    out = os.path.join(REPO, "build-deb")
    p = run([os.path.join(REPO, "packaging", "build-packages"), out])
    res.must(p.stdout.strip().splitlines()[-1] == out,
             "packaging/build-packages built the clientid packages, lintian clean (%.0f s)"
             % (time.monotonic() - t0))
    t0 = time.monotonic()
    # This machine's mirror lists a newer exim4 than the newest source it
    # serves; build-exim then refuses to build a downgrade unless told.
    print("note: running build-exim package --allow-older (the mirror may list an "
          "exim4 whose source it does not serve yet)", flush=True)
    p = run([os.path.join(REPO, "exim-module", "build-exim"), "package", "--allow-older"])
    exim_dir = p.stdout.strip().splitlines()[-1]
    res.must(os.path.isdir(exim_dir), "exim-module/build-exim package: the patched Exim "
             "packages are in %s (%.0f s)" % (exim_dir, time.monotonic() - t0))
    debs = {}
    for pkg in OUR_PACKAGES:
        debs[pkg] = glob.glob(os.path.join(out, pkg + "_*.deb"))[0]
    for pkg in EXIM_PACKAGES:
        found = glob.glob(os.path.join(exim_dir, pkg + "_*+clientid*.deb"))
        res.must(len(found) == 1, "the patched %s is built" % pkg, str(found))
        debs[pkg] = found[0]
    heavy = run(["dpkg-deb", "-f", debs["exim4-daemon-heavy"], "Provides"]).stdout
    res.check("exim4-clientid-capable" in heavy,
              "the patched exim4-daemon-heavy provides exim4-clientid-capable", heavy.strip())
    return debs


def purge_leftovers(res):
    left = [p for p in OUR_PACKAGES if package_state(p) != "not-installed"]
    if left:
        print("a previous run left %s; purging them first" % " ".join(left))
        run(APT + ["purge"] + OUR_PACKAGES)
    for path in (SECRET, STORE, API_KEY):
        if os.path.lexists(path):
            print("removing %s, left by an earlier installation" % path)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def preseed_exim():
    """What an administrator preseeds for an unattended install: Debian's
    split configuration (where exim4-clientid's snippets go), on loopback
    (templates/pkgtest-exim4-debconf)."""
    run(["debconf-set-selections"], input=render("pkgtest-exim4-debconf"))


def apt_install(res, debs, packages, options=()):
    """apt-get install of the .debs of packages, as an administrator would
    (noninteractive); the install must succeed, and each is then checked
    installed."""
    files = [debs[p] for p in packages]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = run(APT + ["install"] + list(options) + files, check=False, env=env)
    if p.returncode != 0:
        print("\n".join("    " + ln for ln in p.stdout.rstrip().splitlines()[-40:]))
    res.must(p.returncode == 0, "apt-get install ./%s" % " ./".join(
        os.path.basename(f) for f in files), "exit %d" % p.returncode)
    for pkg in packages:
        res.check(installed_version(pkg) is not None, "%s is installed (%s)"
                  % (pkg, installed_version(pkg)))


def install_exim(res, debs):
    step("Install with apt-get: the patched Exim (the site's mail server)")
    apt_install(res, debs, EXIM_PACKAGES, ["--allow-downgrades"])


def install_ours(res, debs):
    step("Install with apt-get: the clientid packages, into the running servers")
    apt_install(res, debs, OUR_PACKAGES)


def check_installed_files(res):
    step("What the packages set up")
    members = grp.getgrnam("clientid").gr_mem
    res.check("dovecot" in members and "Debian-exim" in members,
              "group clientid has dovecot and Debian-exim", str(members))
    res.check(mode_of(STORE) == "2770 root:clientid", "%s is 2770 root:clientid" % STORE,
              mode_of(STORE))
    res.check(mode_of(SECRET) == "0640 root:clientid", "%s is 0640 root:clientid" % SECRET,
              mode_of(SECRET))
    res.check(os.path.getsize(SECRET) >= 32, "the secret has %d bytes (at least 32)"
              % os.path.getsize(SECRET))
    before = sha256(SECRET)
    p = run(["clientidctl", "create-secret"], check=False)
    res.check(p.returncode == 9 and sha256(SECRET) == before,
              "clientidctl create-secret refuses to replace it (exit 9)",
              "exit %d: %s" % (p.returncode, p.stdout.strip()))
    res.check(mode_of(API_KEY) == "0640 root:clientid", "%s is 0640 root:clientid" % API_KEY,
              mode_of(API_KEY))
    key = open(API_KEY).read().strip()
    keys = open(DOVECOT_KEYS).read()
    res.check(re.fullmatch(r"[0-9a-f]{32}", key) is not None
              and "auth_policy_server_api_header = X-API-Key:%s\n" % key in keys
              and re.search(r"^auth_policy_hash_nonce = [0-9a-f]{32}$", keys, re.M),
              "the policy service's API key matches Dovecot's header; a random hash nonce")
    # Installing is not activating (issue 19): the old packages linked the
    # snippets here; now clientid-activate does, after its checks.
    left = [link for link in DOVECOT_LINKS + EXIM_LINKS + [EXIM_OWN_AUTH_LINK]
            if os.path.lexists(link)]
    res.check(not left, "no conf.d link of Dovecot or Exim after the install "
              "(activation is a separate step)", "there: %s" % left)
    res.check(os.access(ACTIVATE, os.X_OK) and
              os.path.exists("/usr/share/man/man8/clientid-activate.8.gz"),
              "%s and its man page are installed" % ACTIVATE)
    bv = run(["exim4", "-bV"], check=False).stdout
    res.check(re.search(r"^Support for:.* CLIENTID", bv, re.M) is not None,
              "exim4 -bV: the installed Exim supports CLIENTID")


def check_prune_timer(res):
    """Retention without anyone's help: a daily clientidctl prune, by a
    systemd timer, or by cron where systemd does not run."""
    step("Retention: the prune timer and its cron fallback")
    unit_dir = next((d for d in ("/lib/systemd/system", "/usr/lib/systemd/system")
                     if os.path.exists(os.path.join(d, "clientid-prune.timer"))), None)
    res.check(unit_dir is not None, "clientid-prune.timer is installed")
    if unit_dir is None:
        return
    timer = open(os.path.join(unit_dir, "clientid-prune.timer")).read()
    service_unit = open(os.path.join(unit_dir, "clientid-prune.service")).read()
    res.check("OnCalendar=daily" in timer and "WantedBy=timers.target" in timer,
              "the timer runs daily and is wanted by timers.target")
    exec_start = re.search(r"^ExecStart=(.*)$", service_unit, re.M)
    res.check(exec_start is not None and "clientidctl prune" in exec_start.group(1),
              "clientid-prune.service runs clientidctl prune",
              exec_start.group(1) if exec_start else "no ExecStart")
    if os.path.isdir("/run/systemd/system"):
        p = run(["systemctl", "is-enabled", "clientid-prune.timer"], check=False)
        res.check(p.stdout.strip() == "enabled", "systemd: clientid-prune.timer is enabled",
                  p.stdout.strip())
    else:
        # No systemd here: the command the unit names, and the cron job.
        p = run(exec_start.group(1).split(), check=False)
        res.check(p.returncode == 0, "no systemd here: the unit's command (%s) runs"
                  % exec_start.group(1), "exit %d: %s" % (p.returncode, p.stdout.strip()))
        cron = "/etc/cron.daily/clientid-tools"
        p = run([cron], check=False) if os.access(cron, os.X_OK) else None
        res.check(p is not None and p.returncode == 0,
                  "no systemd here: %s runs clientidctl prune" % cron,
                  "missing" if p is None else "exit %d: %s" % (p.returncode, p.stdout))


def check_exim_update_warning(res):
    """An installed system warns when Debian's exim4 is newer than the
    patched one (clientid-activate status, also run by an apt hook)."""
    step("A newer Debian exim4 than the patched one is reported")
    inst = installed_version("exim4-daemon-heavy")
    pol = run(["apt-cache", "policy", "exim4-daemon-heavy"], check=False).stdout
    listed = [v for v in re.findall(r"^\s+(?:\*\*\* )?(\S+) \d+$", pol, re.M)
              if "+clientid" not in v]
    base = re.sub(r"\+clientid\d+$", "", inst or "")
    newer = [v for v in listed if subprocess.run(
        ["dpkg", "--compare-versions", v, "gt", base]).returncode == 0]
    p = run([ACTIVATE, "status"], check=False)
    res.check(os.path.exists("/etc/apt/apt.conf.d/50exim4-clientid"),
              "the apt hook /etc/apt/apt.conf.d/50exim4-clientid is installed")
    if newer:
        res.check(p.returncode == 1 and inst in p.stdout and max(
            newer, key=lambda v: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)])
            in p.stdout, "clientid-activate status warns: Debian offers exim4 %s, newer than "
            "the patched %s" % (" / ".join(newer), inst), p.stdout.strip())
    else:
        res.check(p.returncode == 0 and "WARNING" not in p.stdout,
                  "clientid-activate status: the patched %s is Debian's newest" % inst,
                  p.stdout.strip())


def check_apt_keeps_patched_exim(res, m):
    """A newer stock exim4 (the archive may have one) must not replace the
    patched daemon: apt-get upgrade keeps it back because exim4-clientid
    needs exim4-clientid-capable; with the example pin installed as an
    administrator would, full-upgrade does not remove exim4-clientid either."""
    step("apt and a newer stock exim4")
    sim = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"], check=False).stdout
    res.check(not re.search(r"^Inst exim4-daemon-heavy ", sim, re.M),
              "apt-get upgrade would not replace the patched exim4-daemon-heavy")
    m.add_file(EXIM_PIN)
    shutil.copy(EXIM_PIN_EXAMPLE, EXIM_PIN)
    sim = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "full-upgrade"], check=False).stdout
    bad = re.findall(r"^(?:Inst exim4\S*|Remv exim4-clientid) .*$", sim, re.M)
    res.check(not bad, "with %s (from the package's examples), apt-get full-upgrade "
              "keeps the patched Exim and exim4-clientid" % EXIM_PIN, "; ".join(bad))

