"""What the two Dovecot suites (tests/e2e/dovecot/dovecot_e2e.py and
tests/e2e/dovecot-policy/policy_e2e.py) share around their groups: the
common options, the skip preamble, starting a scratch server as a case, and
the checks made once the servers have stopped (no token in any log,
valgrind clean)."""

import os
import shutil
import traceback

from harness.dovecot import DOVECOT, PLUGIN_FILE
from harness.runner import check, first_missing

IMAP_LOGIN = "/usr/lib/dovecot/imap-login"
VALGRIND = "/usr/bin/valgrind"


def add_common_args(ap, groups, valgrind_help):
    """The options both entry scripts take: --group (one of groups),
    --plugin-dir, --etpan-client, --skip, --keep, --valgrind."""
    ap.add_argument("--group", required=True, choices=sorted(groups))
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--etpan-client", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    ap.add_argument("--valgrind", action="store_true", help=valgrind_help)


def missing(a, built=()):
    """Why the suite cannot run here, or None: the --skip reason, not root,
    Dovecot or openssl not installed, the plugin not built in a.plugin_dir,
    valgrind wanted but absent, or a (what, path) of built not executable."""
    plugin = os.path.join(a.plugin_dir, PLUGIN_FILE)
    return first_missing([
        (not a.skip, a.skip),
        (os.geteuid() == 0, "the Dovecot end-to-end tests start dovecot and need root"),
        (os.access(DOVECOT, os.X_OK),
         "%s not found (install dovecot-core and dovecot-imapd)" % DOVECOT),
        (os.path.exists(IMAP_LOGIN), "imap-login not found (install dovecot-imapd)"),
        (os.path.isfile(plugin), "%s not built in %r" % (PLUGIN_FILE, a.plugin_dir)),
        (shutil.which("openssl") is not None, "openssl not found"),
        (not a.valgrind or os.access(VALGRIND, os.X_OK),
         "--valgrind needs %s (Debian package valgrind)" % VALGRIND),
    ] + [(os.access(path, os.X_OK), "%s is not built (%r)" % (what, path))
         for what, path in built])


def start(r, name, server):
    """server.start(); when it raises, reports the case name as failed and
    returns False (the caller skips that server's cases)."""
    try:
        server.start()
        return True
    except Exception as e:  # noqa: BLE001 - reported as the case's failure
        r.fail(name, e, traceback.format_exc())
        return False


def run_cases(r, dc, cases):
    """Runs each (case name, fn) of cases as r.case(name, fn, dc); returns
    [] (no further server), for a group's run()."""
    for name, fn in cases:
        r.case(name, fn, dc)
    return []


def cleanup(servers):
    """cleanup() of every server, the last step of a suite."""
    for s in servers:
        s.cleanup()


def check_alive(dc):
    """Failure unless the scratch Dovecot's master still runs."""
    check(dc.alive(), "dovecot died")


def check_no_tokens(data, marker, what, tokens, forms):
    """data: every log's bytes. marker (bytes) must be in it, so the logs
    are really there and really read ("no <what> in the logs" otherwise);
    then no token of tokens may be in it in any of forms, (label, fn) pairs
    where fn turns a token (str) into the bytes looked for."""
    check(marker in data, "no %s in the logs" % what)
    for tok in tokens:
        for label, form in forms:
            check(form(tok) not in data, "%s %r found in the logs" % (label, tok))


def check_valgrind(files, who):
    """files: the suite's log files; those named valgrind.* must exist (who
    ran under valgrind) and be empty (valgrind -q reported nothing)."""
    logs = [f for f in files if os.path.basename(f).startswith("valgrind.")]
    check(logs, "no valgrind logs: %s did not run under valgrind" % who)
    bad = []
    for f in logs:
        with open(f, "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
        if text.strip():
            bad.append("%s:\n%s" % (f, text[-3000:]))
    check(not bad, "valgrind reported:\n" + "\n".join(bad))


def final_checks(r, a, check_logs, valgrind_files, who, kept):
    """The cases after every server stopped: "no raw token in any log"
    (check_logs()), with --valgrind "valgrind: no errors in <who>" (on
    valgrind_files()), and with --keep a line naming the kept folders."""
    r.case("no raw token in any log", check_logs)
    if a.valgrind:
        r.case("valgrind: no errors in %s" % who,
               lambda: check_valgrind(valgrind_files(), who))
    if a.keep:
        print("# scratch kept: " + " ".join(kept))
