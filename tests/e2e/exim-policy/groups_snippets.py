"""The configuration a site adds: the shipped snippets (conf.d and the
single file) as Exim reads them, and clientid_fingerprint in a site's own
ACL (issue 13)."""

import hashlib
import os
import subprocess

from harness.exim_policy import SNIPPETS, USERS, PolicyExim, edit, login_ok, new_token, \
    quit_quietly, run_group, send_message
from harness.runner import expect, verify
from harness.templates import render


def exim_accepts(ex, what):
    """Checks that exim -bV accepts ex's configuration."""
    r = subprocess.run([ex.binary, "-C", ex.conf, "-bV"], capture_output=True, text=True)
    verify(r.returncode == 0, f"exim -bV accepts {what}"
           + ("" if r.returncode == 0 else ": " + r.stderr.strip()[-300:]))


def paste_single_file(conf, snippets, single):
    """conf with the single-file snippet's three parts pasted where it
    .includes the conf.d parts (the ACL and authenticator parts after a #,
    as the single file's own comments want them)."""
    main, rest = single.split("# Part 2", 1)
    acl, auth = rest.split("# Part 3", 1)
    return (conf.replace(f".include {snippets}/conf.d/main/04_clientid_options", main)
                .replace(f".include {snippets}/conf.d/acl/25_clientid_check_auth", "#" + acl)
                .replace(f".include {snippets}/conf.d/auth/25_clientid_plaintext", "#" + auth))


def group_snippets(opts):
    """The single-file snippet holds the conf.d parts verbatim; both parse."""
    single = open(os.path.join(SNIPPETS, "single-file", "exim.conf.clientid")).read()
    for part in ("main/04_clientid_options", "acl/25_clientid_check_auth",
                 "auth/25_clientid_plaintext"):
        text = open(os.path.join(SNIPPETS, "conf.d", part)).read()
        verify(text.strip() in single, f"single-file snippet holds conf.d/{part}")
    ex = PolicyExim(opts)
    exim_accepts(ex, "a configuration built from conf.d/")
    edit(ex.conf, lambda conf: paste_single_file(conf, ex.snippets, single))
    exim_accepts(ex, "the single-file snippet")

    def body(ex):
        tok = new_token()
        ex.register("alice", tok)
        login_ok(ex, "alice", tok, "single-file config")
    run_group(ex, body)


def group_fingerprint(opts):
    """Issue 13, docs/exim.md logged ${sha256:$client_id_token}, an unkeyed
    hash of a secret: clientid_fingerprint gives the keyed short form that
    clientidctl and the decision lines use, and "" without a client id."""
    def body(ex):
        tok = new_token()
        ex.register("alice", tok)
        login_ok(ex, "alice", tok, "fingerprint logged")
        s, r, _ = ex.login("alice", USERS["alice"], None)
        expect(r, 235, "AUTH without CLIENTID (none required)")
        send_message(ex, s, "alice", "no client id")
        quit_quietly(s)
        log = ex.mainlog()
        want = ex.short(tok)
        verify(f"clientid-fp: [{want}]" in log,
               f"the RCPT ACL logged the short fingerprint {want}")
        verify("clientid-fp: []" in log, "without a client id it is empty")
        verify(hashlib.sha256(tok.encode()).hexdigest()[:12] not in log,
               "no unkeyed hash of the token")
    ex = PolicyExim(opts)
    edit(ex.conf, lambda conf: conf.replace(
        "acl_rcpt:\n", "acl_rcpt:\n" + render("exim-fingerprint-acl.conf"), 1))
    run_group(ex, body)
