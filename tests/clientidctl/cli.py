#!/usr/bin/env python3
"""clientidctl through the real binary: every subcommand and every exit
status of clientidctl(1), as one table of
{argv, stdin, expected exit status, expected output pattern}.

usage: cli.py --clientidctl PATH [--skip REASON]

The rows run in order on one scratch store; "{A}" and the like in argv and
patterns stand for device ids that earlier rows printed. Prints one PASS
or FAIL line per row and "clientidctl: N passed, N failed"; exit status 0
when all passed, 1 otherwise, 77 when it cannot run.
"""

import argparse
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
from harness.results import record
from harness.runner import first_missing, skip_exit

TOK_A, TOK_B = "laptop-token-0001", "phone-token-0002"


def rows(d):
    """The table. d: the scratch folder. A row is (name, argv, stdin,
    exit status, pattern that the combined output must match)."""
    bad_conf, no_store = d + "/bad.conf", d + "/nostore.conf"
    return [
        ("create-secret makes the secret", ["create-secret"], None, 0, r"^$|secret"),
        ("create-secret never replaces it", ["create-secret"], None, 9, r"exists"),
        ("register a trusted device", ["register", "alice", "UUID", "--label", "laptop"],
         TOK_A, 0, r"(?P<A>[0-9a-f]{12})"),
        ("register a pending device", ["register", "alice", "UUID", "--state", "pending"],
         TOK_B, 0, r"(?P<B>[0-9a-f]{12})"),
        ("list", ["list", "alice"], None, 0, r"(?s){A}\s+trusted.*{B}\s+pending|"
                                               r"{B}\s+pending.*{A}\s+trusted"),
        ("list --json", ["--json", "list", "alice"], None, 0, r'"state":\s*"trusted"'),
        ("list of an account without devices", ["list", "nobody-here"], None, 0,
         r"no devices"),
        ("accounts of an unknown device", ["accounts", "ffff"], None, 5, r"."),
        ("show", ["show", "alice", "{A}"], None, 0, r"laptop"),
        ("show an unknown device", ["show", "alice", "ffff"], None, 5, r"."),
        ("show a bad device id", ["show", "alice", "xyz!"], None, 2, r"."),
        ("approve", ["approve", "alice", "{B}"], None, 0, r""),
        ("block", ["block", "alice", "{B}"], None, 0, r""),
        ("label", ["label", "alice", "{A}", "work laptop"], None, 0, r""),
        ("label shows", ["show", "alice", "{A}"], None, 0, r"work laptop"),
        ("accounts", ["accounts", "{A}"], None, 0, r"alice"),
        ("fingerprint", ["fingerprint", "UUID"], TOK_A, 0, r"^{A}[0-9a-f]{52}\s*$"),
        ("revoke", ["revoke", "{A}"], None, 0, r""),
        ("bans", ["bans"], None, 0, r"{A}"),
        ("bans --json", ["--json", "bans"], None, 0, r"{A}"),
        ("unrevoke", ["unrevoke", "{A}"], None, 0, r""),
        ("unrevoke again: no such ban", ["unrevoke", "{A}"], None, 5, r"."),
        ("revoke --token --account", ["revoke", "--token", "UUID", "--account", "alice"],
         TOK_B, 0, r""),
        ("unrevoke --token --account", ["unrevoke", "--token", "UUID", "--account", "alice"],
         TOK_B, 0, r""),
        ("unlock with nothing on record", ["unlock", "{A}"], None, 5, r"."),
        ("unlock --token with nothing on record", ["unlock", "--token", "UUID"], TOK_A, 5,
         r"."),
        ("unlock --ip with nothing on record", ["unlock", "--ip", "192.0.2.7"], None, 5, r"."),
        ("policy set", ["policy", "alice", "mode=enforce", "require_clientid=yes"], None, 0,
         r""),
        ("policy show", ["policy", "alice"], None, 0, r"(?s)enforce.*require_clientid"),
        ("policy bad setting", ["policy", "alice", "mode=paranoid"], None, 2, r"mode"),
        ("policy back to default", ["policy", "alice", "mode=default"], None, 0, r""),
        ("stats", ["stats"], None, 0, r"devices"),
        ("events", ["events"], None, 0, r"(?i)approve|block|revoke"),
        ("events --json --since", ["--json", "events", "--since", "1"], None, 0,
         r'"event":'),
        ("prune --dry-run", ["prune", "--dry-run"], None, 0, r"."),
        ("prune", ["prune"], None, 0, r"."),
        ("check", ["check"], None, 0, r"."),
        ("export to a file", ["export", d + "/export.json"], None, 0, r""),
        ("export to stdout", ["export"], None, 0, r'"devices"'),
        ("export to a folder that does not exist", ["export", d + "/no/such/x.json"], None, 1,
         r"."),
        ("import", ["import", d + "/export.json"], None, 0, r""),
        ("import of a non-export", ["import", d + "/garbage.json"], None, 8, r"."),
        # issue 13 item 2: an export with other spellings (an older store)
        # lands on the canonical account names that logins look up
        ("import folds account names", ["import", d + "/mixed-case.json"], None, 0, r""),
        ("the folded account has the device", ["list", "carla"], None, 0,
         r"^7c1a2b3c4d5e\s+trusted"),
        ("and its policy", ["policy", "carla"], None, 0, r"enforce"),
        ("forget", ["forget", "alice", "{B}"], None, 0, r""),
        ("forgotten", ["show", "alice", "{B}"], None, 5, r"."),
        ("an ambiguous prefix", ["show", "amb", "{P}"], None, 6, r"."),
        ("no command", [], None, 2, r"(?i)usage"),
        ("an unknown command", ["frobnicate"], None, 2, r"."),
        ("a missing argument", ["list"], None, 2, r"."),
        ("an unknown option", ["--no-such-option", "stats"], None, 2, r"."),
        ("a configuration file that does not exist", ["-c", d + "/none.conf", "stats"], None,
         3, r"none\.conf"),
        ("a configuration with an unknown key", ["-c", bad_conf, "stats"], None, 3,
         r"bad\.conf:\d+"),
        ("a store that does not exist", ["-c", no_store, "list", "alice"], None, 4, r"."),
        ("check of a damaged store", ["check"], None, 7, r"."),
    ]


def write_files(d):
    secret = d + "/secret"
    with open(d + "/clientid.conf", "w") as f:
        f.write("[general]\nsecret_file = %s\n[store]\npath = %s/store\n" % (secret, d))
    with open(d + "/bad.conf", "w") as f:
        f.write("[general]\nsecret_file = %s\nno_such_key = 1\n" % secret)
    with open(d + "/nostore.conf", "w") as f:
        f.write("[general]\nsecret_file = %s\n[store]\npath = %s/no/such/store\n" % (secret, d))
    with open(d + "/mixed-case.json", "w") as f:
        f.write('{"format": "clientid-export", "version": 1, "devices": [{"account": "CarLA",'
                ' "fingerprint": "7c1a2b3c4d5e' + "0" * 52 + '", "state": "trusted",'
                ' "type": "UUID", "first_seen": 1796524384}], "bans": [], "policies":'
                ' [{"account": "CARLA", "mode": "enforce"}]}\n')
    with open(d + "/garbage.json", "w") as f:
        f.write('{"this": "is not a clientid export"}\n')


def fp(secret, typ, token):
    return hmac.new(secret, ("%s:%s" % (typ, token)).encode(), hashlib.sha256).hexdigest()


def ambiguous_pair(d, ctl):
    """Registers two devices on account amb whose ids share a 4-digit
    prefix (found by computing fingerprints here); returns the prefix."""
    with open(d + "/secret", "rb") as f:
        secret = f.read()
    seen = {}
    for i in range(1 << 20):
        tok = "amb-%d" % i
        p = fp(secret, "UUID", tok)[:4]
        if p in seen:
            for t in (seen[p], tok):
                r = ctl(["register", "amb", "UUID"], t)
                if r.returncode != 0:
                    raise RuntimeError("register for the ambiguous pair: " + r.stdout)
            return p
        seen[p] = tok
    raise RuntimeError("no two fingerprints share a prefix")


def damage(d):
    """Puts a record that cannot be decoded into the durable bans table,
    with lmdb-utils' mdb_load."""
    p = subprocess.run(["mdb_load", "-n", "-T", "-s", "bans", d + "/store/durable.mdb"],
                       input="not-a-ban-key\nnot a ban\n", capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("mdb_load: " + p.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clientidctl", default="")
    ap.add_argument("--skip", default="")
    a = ap.parse_args()
    missing = first_missing([
        (not a.skip, a.skip),
        (os.access(a.clientidctl, os.X_OK), "clientidctl is not built (%r)" % a.clientidctl),
        (shutil.which("mdb_load"), "mdb_load not found (Debian package lmdb-utils)")])
    if missing:
        return skip_exit(missing)
    d = tempfile.mkdtemp(prefix="clientid-cli-")
    write_files(d)
    names = {}
    passed = failed = 0

    def ctl(argv, stdin=None):
        cmd = [a.clientidctl, "-c", d + "/clientid.conf"]
        if argv[:1] == ["-c"]:
            cmd = [a.clientidctl]
        return subprocess.run(cmd + argv, input=None if stdin is None else stdin + "\n",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=60)

    try:
        for name, argv, stdin, want, pattern in rows(d):
            if name == "an ambiguous prefix":
                names["P"] = ambiguous_pair(d, ctl)
            if name == "check of a damaged store":
                damage(d)
            argv = [x.format(**names) for x in argv]
            pattern = re.sub(r"\{([A-Z])\}", lambda m: names[m.group(1)], pattern)
            r = ctl(argv, stdin)
            m = re.search(pattern, r.stdout, re.M)
            ok = r.returncode == want and m is not None
            if ok and m.groupdict():
                names.update({k: v for k, v in m.groupdict().items() if v})
            why = "" if ok else "exit %d (want %d), output %r (want /%s/)" % (
                r.returncode, want, r.stdout[-300:], pattern)
            print("%s clientidctl %s: %s%s" % ("PASS" if ok else "FAIL", " ".join(argv), name,
                                                ": " + why if why else ""), flush=True)
            record("PASS" if ok else "FAIL", name, why)
            passed += ok
            failed += not ok
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("clientidctl: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
