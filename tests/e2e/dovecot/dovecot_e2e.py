#!/usr/bin/env python3
"""End-to-end tests of the clientid imap-login plugin against Debian's Dovecot.

Each group starts its own /usr/sbin/dovecot -F on free loopback ports with a
scratch base_dir, state_dir, log file, self-signed certificate (made now with
openssl), passwd-file passdbs and mail, loads the plugin from the build
directory, runs its cases and stops everything it started, also on failure.
The groups are the modules group_<name>.py beside this script; each has
run(r, dc, args), which returns the further servers it started.

usage: dovecot_e2e.py --group NAME --plugin-dir DIR [--corpus DIR]
                      [--etpan-client PATH] [--skip REASON] [--keep] [--valgrind]

Prints one "ok"/"not ok"/"skip" line per case. Exit status: 0 when every case
passed, 1 on a failure, 77 (with the reason printed) when the group cannot
run here.
"""

import argparse
import base64
import sys

import group_capability
import group_corpus
import group_draft
import group_etpan
import group_forward
import group_parse
import group_settings
from harness import dovecot_suite
from harness.dovecot import BOB_TOKEN, SPECIAL_TOKENS, UUID_TOKEN, Dovecot
from harness.runner import Runner, skip_exit

GROUPS = {
    "capability": group_capability,
    "corpus": group_corpus,
    "draft": group_draft,
    "etpan": group_etpan,
    "forward": group_forward,
    "parse": group_parse,
    "settings": group_settings,
}


def tokens_used():
    """Every token the groups send; none may reach a log."""
    toks = [UUID_TOKEN, BOB_TOKEN, group_draft.DRAFT_TOKEN]
    toks += [tok for _typ, tok in SPECIAL_TOKENS.values() if len(tok) >= 6]
    return toks


def check_logs(servers):
    """The logs name imap-login (they are read), and hold no token, raw or
    base64-encoded."""
    data = b"".join(d.logs_bytes() for d in servers)
    dovecot_suite.check_no_tokens(
        data, b"imap-login:", "imap-login lines", tokens_used(),
        [("raw token", lambda t: t.encode()),
         ("base64 token", lambda t: base64.b64encode(t.encode()))])


def parse_args():
    ap = argparse.ArgumentParser()
    dovecot_suite.add_common_args(
        ap, GROUPS, "run imap-login (and so the plugin) under valgrind; any error fails")
    ap.add_argument("--corpus", default="")
    ap.add_argument("--auth-debug", action="store_true")
    ap.add_argument("--extra-conf", default="",
                    help="lines appended to the scratch dovecot.conf, e.g. log_debug=...")
    return ap.parse_args()


def first_server(a):
    """The server every group starts with."""
    if a.group == "settings":
        return group_settings.first_server(a)
    return Dovecot(a.plugin_dir, a.group, auth_debug=a.auth_debug, keep=a.keep,
                   extra_conf=a.extra_conf.replace("\\n", "\n"), valgrind=a.valgrind)


def main():
    a = parse_args()
    why = dovecot_suite.missing(a)
    if why:
        return skip_exit(why)

    r = Runner()
    dc = first_server(a)
    servers = [dc]
    try:
        r.case("start dovecot", dc.start)
        if not dc.alive():
            return r.summary()
        servers += GROUPS[a.group].run(r, dc, a)
        r.case("dovecot still running", dovecot_suite.check_alive, dc)
        for d in servers:
            d.stop()
        dovecot_suite.final_checks(r, a, lambda: check_logs(servers), dc.log_files,
                                   "imap-login", [d.scratch for d in servers])
    finally:
        dovecot_suite.cleanup(servers)
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
