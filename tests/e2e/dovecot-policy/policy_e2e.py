#!/usr/bin/env python3
"""End-to-end tests of the clientid policy service (clientid-policy) with the
real Debian Dovecot, the real imap-login plugin and real clients.

Every scenario starts its own scratch Dovecot (harness.policy_service's
PolicyServer on harness.dovecot) on free loopback ports, with a scratch
clientid.conf, site secret, policy store and API key, and with the service
started by Dovecot's master from `service clientid-policy { ... }`. It stops
what it starts. The groups are the modules policy_<name>.py beside this
script (the policy group: policy_rules.py); each has GROUP, a list of
(server settings, cases).

usage: policy_e2e.py --group NAME --plugin-dir DIR --service PATH
                     --clientidctl PATH [--etpan-client PATH] [--skip REASON]
                     [--keep] [--valgrind]

Prints one "ok"/"not ok" line per case; exit 0 (all passed), 1 (a failure),
77 (cannot run here, with the reason).
"""

import argparse
import os
import sys

import policy_down
import policy_draft
import policy_http
import policy_issue13
import policy_oracle
import policy_rules
from harness import dovecot_suite
from harness.policy_service import SERVICE_NAME, TOKENS, PolicyServer
from harness.runner import Runner, skip_exit

GROUPS = {
    "down": policy_down.GROUP,
    "draft": policy_draft.GROUP,
    "http": policy_http.GROUP,
    "issue13": policy_issue13.GROUP,
    "oracle": policy_oracle.GROUP,
    "policy": policy_rules.GROUP,
}


def json_escaped(tok):
    return tok.replace("\\", "\\\\").replace('"', '\\"').encode()


def check_logs(servers):
    """The logs hold decision lines (they are read), and no token: raw, as
    hex without dashes, or JSON-escaped."""
    data = b"".join(s.dc.logs_bytes() for s in servers)
    dovecot_suite.check_no_tokens(
        data, ("%s: account=" % SERVICE_NAME).encode(), "decision lines", TOKENS,
        [("raw token", lambda t: t.encode()),
         ("token hex", lambda t: t.replace("-", "").encode()),
         ("JSON-escaped token", json_escaped)])


def valgrind_files(servers):
    """Every file in the servers' own folders (valgrind writes there)."""
    return [os.path.join(s.dir, f) for s in servers for f in os.listdir(s.dir)]


def parse_args():
    ap = argparse.ArgumentParser()
    dovecot_suite.add_common_args(ap, GROUPS,
                                  "run the service under valgrind; any error fails")
    ap.add_argument("--service", default="")
    ap.add_argument("--clientidctl", default="")
    a = ap.parse_args()
    a.service = os.path.abspath(a.service) if a.service else ""
    a.clientidctl = os.path.abspath(a.clientidctl) if a.clientidctl else ""
    a.etpan_client = os.path.abspath(a.etpan_client) if a.etpan_client else ""
    return a


def run_setup(r, ps, cases):
    """Starts ps, runs its cases and stops it; a failed start is reported
    and its cases are left out."""
    if not dovecot_suite.start(r, "start dovecot with the policy service", ps):
        return
    for name, fn, extra in cases:
        r.case(name, fn, ps, *extra)
    r.case("dovecot still running (%s)" % ps.name, dovecot_suite.check_alive, ps.dc)
    ps.dc.stop()


def main():
    a = parse_args()
    why = dovecot_suite.missing(a, [("the policy service", a.service),
                                    ("clientidctl", a.clientidctl)])
    if why:
        return skip_exit(why)

    r = Runner()
    servers = []
    try:
        for kwargs, cases in GROUPS[a.group]:
            ps = PolicyServer(a, "%s%d" % (a.group, len(servers)), **kwargs)
            servers.append(ps)
            run_setup(r, ps, cases)
        dovecot_suite.final_checks(r, a, lambda: check_logs(servers),
                                   lambda: valgrind_files(servers), SERVICE_NAME,
                                   ["%s %s" % (s.dir, s.dc.scratch) for s in servers])
    finally:
        dovecot_suite.cleanup(servers)
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
