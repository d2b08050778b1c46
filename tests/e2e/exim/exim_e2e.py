#!/usr/bin/env python3
"""End-to-end tests of the CLIENTID patch against a real patched Exim.

usage: exim_e2e.py [--exim PATH] [--build-exim SCRIPT] [--corpus DIR]
                   [--etpan-client PATH] [--skip REASON] [--keep] GROUP

Every group starts its own scratch Exim (harness.exim: root, -C <scratch
config> -bdf) on free loopback ports with a self-signed certificate made at
run time, drives it with smtplib (raw commands through docmd/send) or the
libetpan client, stops everything it started, and checks at the end that no
CLIENTID token it sent appears in clear in any log and that the panic log is
empty. The groups live beside this script, one subject a module.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import os
import sys

import groups_auth
import groups_draft
import groups_etpan
import groups_logs
import groups_session
from harness import exim
from harness.runner import skip_exit

GROUPS = {
    "draft": groups_draft.group_draft,
    "corpus": groups_draft.group_corpus,
    "ehlo": groups_session.group_ehlo,
    "reset": groups_session.group_reset,
    "auth": groups_auth.group_auth,
    "acl": groups_auth.group_acl,
    "logs": groups_logs.group_logs,
    "etpan": groups_etpan.group_etpan,
}


def main():
    ap = exim.arguments(GROUPS)
    ap.add_argument("--corpus", default=os.path.join(exim.REPO, "tests", "corpus", "smtp"))
    ap.add_argument("--etpan-client")
    opts = ap.parse_args()
    reason = exim.missing(opts)
    if reason:
        return skip_exit(reason)
    print(f"exim: {opts.exim}; group: {opts.group}")
    return exim.run_group(GROUPS, opts)


if __name__ == "__main__":
    sys.exit(main())
