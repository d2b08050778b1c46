#!/usr/bin/env python3
"""End-to-end tests of the clientid.so policy module in a real patched Exim.

usage: exim_policy_e2e.py --module PATH --clientidctl PATH [--exim PATH]
                          [--build-exim SCRIPT] [--skip REASON] [--keep] GROUP

Every group makes a scratch policy (clientid.conf, site secret, LMDB store),
starts its own patched Exim (harness.exim_policy.PolicyExim) whose
configuration .includes the snippets of exim-module/snippets/conf.d/ as they
ship, drives it with smtplib, stops it, and checks that no token it sent
appears in clear in mainlog, rejectlog or paniclog. The groups live beside
this script, one subject a module.

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""

import os
import sys

import groups_issue13
import groups_modes
import groups_oracle
import groups_snippets
from harness import exim
from harness.runner import skip_exit

GROUPS = {
    "snippets": groups_snippets.group_snippets,
    "known": groups_modes.group_known,
    "enforce": groups_modes.group_enforce,
    "oracle": groups_oracle.group_oracle,
    "lockout": groups_oracle.group_lockout,
    "learn": groups_modes.group_learn,
    "record": groups_modes.group_record,
    "store-error": groups_modes.group_store_error,
    "issue13": groups_issue13.group_issue13,
    "account-case": groups_issue13.group_account_case,
    "oracle-dialogue": groups_oracle.group_oracle_dialogue,
    "fingerprint": groups_snippets.group_fingerprint,
}


def main():
    ap = exim.arguments(GROUPS)
    ap.add_argument("--module")
    ap.add_argument("--clientidctl")
    opts = ap.parse_args()
    reason = exim.missing(opts, [
        (opts.module and os.path.isfile(opts.module), "clientid.so not built"),
        (opts.clientidctl and os.access(opts.clientidctl, os.X_OK),
         "clientidctl (policy-db) not built"),
    ])
    if reason:
        return skip_exit(reason)
    opts.module = os.path.abspath(opts.module)
    opts.clientidctl = os.path.abspath(opts.clientidctl)
    print(f"exim: {opts.exim}; module: {opts.module}; group: {opts.group}")
    return exim.run_group(GROUPS, opts)


if __name__ == "__main__":
    sys.exit(main())
