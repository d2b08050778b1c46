#!/usr/bin/env python3
"""End-to-end tests of the clientid imap-login plugin against Debian's Dovecot.

Each group starts its own /usr/sbin/dovecot -F on free loopback ports with a
scratch base_dir, state_dir, log file, self-signed certificate (made now with
openssl), passwd-file passdbs and mail, loads the plugin from the build
directory, runs its cases and stops everything it started, also on failure.

usage: dovecot_e2e.py --group NAME --plugin-dir DIR [--corpus DIR]
                      [--etpan-client PATH] [--skip REASON] [--keep]

Prints one "ok"/"not ok"/"skip" line per case. Exit status: 0 when every case
passed, 1 on a failure, 77 (with the reason printed) when the group cannot
run here.
"""

import argparse
import base64
import hashlib
import hmac
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

from harness.dovecot import BOB_TOKEN, DOVECOT, PLUGIN_FILE, RUN_ID, SPECIAL_TOKENS, \
    UUID_TOKEN, Dovecot
from harness.imap import AGAIN_REPLY, OK_REPLY, UNKNOWN_REPLY, Raw, greeting_caps, \
    imaplib_client, imaplib_clientid, rest_of, run_etpan, tls_client
from harness.net import client_ssl_context
from harness.runner import SKIP, Failure, Runner, Skip, check, eq


# --------------------------------------------------------------------------
# Group: the IMAP draft's example transcripts, section 7

def draft_7_1(dc):
    c = Raw(dc, tls=False)
    try:
        caps = c.capability("a001")
        check("STARTTLS" in caps, "plaintext CAPABILITY lacks STARTTLS: %r" % caps)
        check("CLIENTID" not in caps, "CLIENTID advertised before TLS: %r" % caps)
        lines = c.starttls("a002")
        eq(lines[-1].split(" ")[1], "OK", "a002 STARTTLS")
        caps = c.capability("a003")
        check("CLIENTID" in caps, "CLIENTID missing after STARTTLS: %r" % caps)
        check("AUTH=PLAIN" in caps, "AUTH=PLAIN missing after STARTTLS: %r" % caps)
        eq(c.cmd("a004", "CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f"),
           ["a004 " + OK_REPLY], "a004 CLIENTID")
        lines = c.cmd("a005", "LOGIN joe password")
        check(lines[-1].startswith("a005 OK "), "a005 LOGIN: %r" % lines)
    finally:
        c.close()


def draft_7_1_imaplib(dc):
    m = imaplib_client(dc, "plain")
    try:
        check("CLIENTID" not in m.capabilities, "CLIENTID before TLS: %r" % (m.capabilities,))
        m.starttls(ssl_context=client_ssl_context())
        check("CLIENTID" in m.capabilities, "CLIENTID after STARTTLS: %r" % (m.capabilities,))
        eq(imaplib_clientid(m, "UUID", "23bf83be-aad7-46aa-9e0f-39191ccf402f"),
           ("OK", "CLIENTID completed"), "CLIENTID")
        eq(m.login("joe", "password")[0], "OK", "LOGIN")
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def draft_7_2(dc):
    c = Raw(dc, tls=False)
    try:
        check("CLIENTID" not in c.capability("a001"), "CLIENTID before TLS")
        c.starttls("a002")
        check("CLIENTID" in c.capability("a003"), "CLIENTID after STARTTLS")
        eq(c.cmd("a004", "CLIENTID UUID"), ["a004 " + UNKNOWN_REPLY], "a004 CLIENTID UUID")
        # the connection is still usable and CLIENTID still possible
        eq(c.cmd("a005", "CLIENTID UUID " + UUID_TOKEN), ["a005 " + OK_REPLY], "a005")
    finally:
        c.close()


def draft_7_3(dc):
    c = Raw(dc, tls=False)
    try:
        check("CLIENTID" not in c.capability("a001"), "CLIENTID before TLS")
        got = c.cmd("a002", "CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f")
        # exactly what an unknown command gets
        ref = c.cmd("a003", "XCLIENTIDX UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f")
        eq(got, ["a002 " + UNKNOWN_REPLY], "a002 CLIENTID before TLS")
        eq([rest_of(x) for x in got], [rest_of(x) for x in ref], "same as unknown command")
    finally:
        c.close()


def draft_7_4_until_clientid(dc):
    c = Raw(dc, tls=False)
    try:
        check("CLIENTID" not in c.capability("a001"), "CLIENTID before TLS")
        c.starttls("a002")
        check("CLIENTID" in c.capability("a003"), "CLIENTID after STARTTLS")
        eq(c.cmd("a004", "CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f"),
           ["a004 " + OK_REPLY], "a004")
    finally:
        c.close()


def group_draft(r, dc):
    r.case("draft 7.1 UUID as client identity (raw)", draft_7_1, dc)
    r.case("draft 7.1 UUID as client identity (imaplib)", draft_7_1_imaplib, dc)
    r.case("draft 7.2 malformed CLIENTID", draft_7_2, dc)
    r.case("draft 7.3 CLIENTID without TLS is an unknown command", draft_7_3, dc)
    r.case("draft 7.4 steps up to CLIENTID OK", draft_7_4_until_clientid, dc)
    # 7.4's rejection at LOGIN needs the policy service: policy_e2e.py's
    # "draft 7.4 policy rejection, step by step" plays it.


# --------------------------------------------------------------------------
# Group: grammar corpus, replayed verbatim over TLS

BUILTIN_CORPUS = {
    "y_uuid": b"a1 CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f\r\n",
    "y_lowercase_verb_and_type": b"a1 clientid uuid abc\r\n",
    "y_quoted_token": b'a1 CLIENTID T "abc"\r\n',
    "y_brace_token_at_eol": b"a1 CLIENTID T {5}\r\n",
    "y_atom_specials": b'a1 CLIENTID T (){}%*"\\][\r\n',
    "y_type_16": b"a1 CLIENTID ABCDEFGHIJ-12345 x\r\n",
    "y_token_128": b"a1 CLIENTID T " + b"x" * 128 + b"\r\n",
    "n_missing_token": b"a1 CLIENTID UUID\r\n",
    "n_no_args": b"a1 CLIENTID\r\n",
    "n_extra_arg": b"a1 CLIENTID UUID abc def\r\n",
    "n_double_space": b"a1 CLIENTID UUID  abc\r\n",
    "n_tab_separator": b"a1 CLIENTID UUID\tabc\r\n",
    "n_type_17": b"a1 CLIENTID ABCDEFGHIJ-123456 x\r\n",
    "n_type_underscore": b"a1 CLIENTID DEVICE_ID x\r\n",
    "n_token_129": b"a1 CLIENTID T " + b"x" * 129 + b"\r\n",
    "n_token_nul": b"a1 CLIENTID T ab\x00cd\r\n",
    "n_token_del": b"a1 CLIENTID T ab\x7fcd\r\n",
    "n_token_8bit": b"a1 CLIENTID T ab\xc3\xa9cd\r\n",
    "n_token_bare_cr": b"a1 CLIENTID T ab\rcd\r\n",
    "n_token_bare_lf": b"a1 CLIENTID T\nabc\r\n",
}


def load_corpus(corpus_dir):
    cases = {}
    if corpus_dir and os.path.isdir(corpus_dir):
        for name in sorted(os.listdir(corpus_dir)):
            if name.startswith(("y_", "n_")):
                with open(os.path.join(corpus_dir, name), "rb") as f:
                    cases[name] = f.read()
    return cases


def replay(dc, name, data):
    """Sends data verbatim on a fresh implicit-TLS connection, then a NOOP as
    a fence, and classifies every reply before the fence."""
    c = Raw(dc, tls=True, timeout=10)
    try:
        c.send(data)
        c.send(b"zfence NOOP\r\n")
        replies = []
        closed = False
        while True:
            try:
                ln = c.line()
            except (EOFError, OSError):
                closed = True
                break
            if ln.startswith("zfence "):
                eq(ln, "zfence OK NOOP completed.", "fence")
                break
            replies.append(ln)
    finally:
        c.close()
    check(not any(ln.startswith("+") for ln in replies),
          "server sent a continuation: %r" % replies)
    if name.startswith("y_"):
        tag = data.split(b" ", 1)[0].decode("latin-1")
        eq(replies, [tag + " " + OK_REPLY], "reply to %s" % name)
        check(not closed, "connection closed after a valid command")
    else:
        check(replies, "no reply at all")
        for ln in replies:
            parts = ln.split(" ")
            check(len(parts) >= 2 and parts[1] in ("BAD", "BYE"),
                  "non-BAD reply %r among %r" % (ln, replies))
        check(any(ln.split(" ")[1] == "BAD" for ln in replies), "no BAD in %r" % replies)
    check(dc.alive(), "dovecot died")


def group_corpus(r, dc, corpus_dir):
    cases = load_corpus(corpus_dir)
    source = corpus_dir
    if not cases:
        cases = BUILTIN_CORPUS
        source = "built-in fallback (tests/corpus/imap/ is empty)"
    print("# corpus: %d cases from %s" % (len(cases), source))
    for name, data in sorted(cases.items()):
        r.case("corpus %s" % name, replay, dc, name, data)

    def still_up():
        check(dc.alive(), "dovecot master died")
        c = Raw(dc, tls=True)
        eq(c.cmd("z1", "NOOP"), ["z1 OK NOOP completed."], "NOOP after corpus")
        c.close()
    r.case("server still up after the corpus", still_up)


# --------------------------------------------------------------------------
# Group: capability matrix, plugin disabled and not loaded

def cap_plaintext(dc):
    c = Raw(dc, tls=False)
    try:
        g = greeting_caps(c.greeting)
        check("STARTTLS" in g, "greeting lacks STARTTLS: %r" % g)
        check("CLIENTID" not in g, "plaintext greeting has CLIENTID: %r" % g)
        caps = c.capability()
        check("CLIENTID" not in caps, "plaintext CAPABILITY has CLIENTID: %r" % caps)
        # plaintext loopback is "secured" for Dovecot, yet no CLIENTID
        check("LOGINDISABLED" not in caps, "loopback should be secured: %r" % caps)
    finally:
        c.close()


def cap_starttls(dc):
    c = Raw(dc, tls=False)
    try:
        c.starttls()
        caps = c.capability()
        eq(caps.count("CLIENTID"), 1, "CLIENTID after STARTTLS in %r" % caps)
        eq(caps[-1], "CLIENTID", "CLIENTID appended last")
        # still advertised after a successful CLIENTID (not authenticated yet)
        eq(c.cmd("t1", "CLIENTID UUID " + UUID_TOKEN), ["t1 " + OK_REPLY], "CLIENTID")
        check("CLIENTID" in c.capability("c2"), "CLIENTID gone after CLIENTID")
    finally:
        c.close()


def cap_implicit_tls(dc):
    c = Raw(dc, tls=True)
    try:
        g = greeting_caps(c.greeting)
        eq(g.count("CLIENTID"), 1, "CLIENTID in the implicit TLS greeting %r" % g)
        check("STARTTLS" not in g, "STARTTLS on TLS: %r" % g)
        eq(c.capability().count("CLIENTID"), 1, "CLIENTID in CAPABILITY on implicit TLS")
    finally:
        c.close()


def cap_imaplib_implicit(dc):
    m = imaplib_client(dc, "ssl")
    try:
        # imaplib trusts the greeting's list, as Thunderbird does on 993
        check("CLIENTID" in m.capabilities, "imaplib sees %r" % (m.capabilities,))
    finally:
        m.shutdown()


def cap_after_login(dc):
    c = Raw(dc, tls=True)
    try:
        eq(c.cmd("t1", "CLIENTID UUID " + UUID_TOKEN), ["t1 " + OK_REPLY], "CLIENTID")
        lines = c.cmd("l1", "LOGIN joe password")
        check(lines[-1].startswith("l1 OK "), "LOGIN: %r" % lines)
        check("CLIENTID" not in lines[-1], "CLIENTID in the LOGIN reply: %r" % lines)
        caps = c.capability("c9")
        check("IMAP4rev1" in caps and "CLIENTID" not in caps,
              "post-login CAPABILITY: %r" % caps)
    finally:
        c.close()


def greeting_line(dc, tls):
    c = Raw(dc, tls=tls)
    g = c.greeting
    c.close()
    return g


def group_capability(r, dc, plugin_dir, keep):
    r.case("capability: plaintext greeting and CAPABILITY without CLIENTID", cap_plaintext, dc)
    r.case("capability: after STARTTLS", cap_starttls, dc)
    r.case("capability: implicit TLS greeting and CAPABILITY", cap_implicit_tls, dc)
    r.case("capability: imaplib on implicit TLS sees it in the greeting",
           cap_imaplib_implicit, dc)
    r.case("capability: absent after login", cap_after_login, dc)

    enabled_greeting = {}
    for tls in (False, True):
        try:
            enabled_greeting[tls] = greeting_line(dc, tls)
        except Exception:  # noqa: BLE001 - compared below
            enabled_greeting[tls] = None

    others = {}
    for name, kw in (("disabled", {"enable": "no"}), ("noplugin", {"load_plugin": False})):
        d = Dovecot(plugin_dir, name, keep=keep, **kw)
        others[name] = d
        try:
            d.start()
        except Exception as e:  # noqa: BLE001
            r.case("start dovecot (%s)" % name, lambda e=e: (_ for _ in ()).throw(e))
            continue

        def disabled_case(d=d, name=name):
            for tls in (False, True):
                c = Raw(d, tls=tls)
                try:
                    g = greeting_caps(c.greeting)
                    check("CLIENTID" not in g, "%s greeting: %r" % (name, g))
                    check("CLIENTID" not in c.capability(), "%s CAPABILITY" % name)
                    got = c.cmd("a1", "CLIENTID UUID " + UUID_TOKEN)
                    eq(got, ["a1 " + UNKNOWN_REPLY], "%s CLIENTID" % name)
                finally:
                    c.close()

        def same_as_without(d=d, name=name):
            # the only difference the plugin makes to the greeting is the word
            for tls in (False, True):
                g_other = greeting_line(d, tls)
                g_ours = enabled_greeting[tls]
                check(g_ours is not None, "no greeting from the enabled server")
                want = g_other if not tls else g_other.replace("]", " CLIENTID]", 1)
                eq(g_ours, want, "greeting (tls=%s) vs %s" % (tls, name))

        r.case("capability: %s: no CLIENTID anywhere, CLIENTID is unknown" % name,
               disabled_case)
        r.case("capability: greeting equals the %s server's plus CLIENTID on TLS only" % name,
               same_as_without)
    return others


# --------------------------------------------------------------------------
# Group: command parsing and state

def on_tls(dc):
    return tls_client(dc, "ssl")


def parse_token_cases(dc):
    ok = [
        ("UUID " + UUID_TOKEN, "uuid"),
        ('T "abc"', "quoted string is a 5-char token"),
        ("T {5}", "{5} at end of line is a 3-char token, no literal"),
        ("T {5+}", "{5+} at end of line is a token"),
        ('T (){}%*"\\][', "atom-specials"),
        ("T " + "".join(chr(c) for c in range(0x21, 0x7F)), "all 94 VCHAR"),
        ("ABCDEFGHIJ-12345 x", "16-char type"),
        ("t " + "~" * 128, "128-char token"),
    ]
    for args, what in ok:
        c = on_tls(dc)
        try:
            c.send("p1 CLIENTID %s\r\n" % args)
            # the very next line must be the tagged OK: no "+" continuation
            eq(c.line(), "p1 " + OK_REPLY, what)
            eq(c.cmd("p2", "NOOP"), ["p2 OK NOOP completed."], what + " (then NOOP)")
        finally:
            c.close()


def parse_bad_cases(dc):
    bad = [
        (b"UUID", "missing token"),
        (b"", "no arguments"),
        (b"UUID a b", "extra argument"),
        (b"UUID  a", "double space"),
        (b" UUID a", "leading space"),
        (b"UUID\ta", "TAB separator"),
        (b"UUID a ", "trailing space"),
        (b"ABCDEFGHIJ-123456 x", "17-char type"),
        (b"DEVICE_ID x", "underscore in type"),
        (b"T " + b"x" * 129, "129-char token"),
        (b"T a\x00b", "NUL in token"),
        (b"T ab\x00", "NUL at the end of the token"),
        (b"T a\x7fb", "DEL in token"),
        (b"T a\x80b", "0x80 in token"),
        (b"T a\rb", "bare CR in token"),
        (b"T \"a b\"", "quoted string with a space"),
    ]
    for args, what in bad:
        c = on_tls(dc)
        try:
            c.send(b"b1 CLIENTID " + args + b"\r\n")
            eq(c.line(), "b1 " + UNKNOWN_REPLY, what)
            # not truncated and accepted on a second try: a valid one still works
            eq(c.cmd("b2", "CLIENTID UUID " + UUID_TOKEN), ["b2 " + OK_REPLY], what + " then OK")
        finally:
            c.close()


def parse_second_clientid(dc):
    c = on_tls(dc)
    try:
        eq(c.cmd("s1", "CLIENTID UUID " + UUID_TOKEN), ["s1 " + OK_REPLY], "first")
        eq(c.cmd("s2", "CLIENTID UUID " + UUID_TOKEN), ["s2 " + AGAIN_REPLY], "second")
        eq(c.cmd("s3", "CLIENTID OTHER x"), ["s3 " + AGAIN_REPLY], "third")
    finally:
        c.close()


def parse_after_login(dc):
    m = imaplib_client(dc, "ssl")
    try:
        eq(m.login("joe", "password")[0], "OK", "LOGIN")
        imaplib.Commands["CLIENTID"] = ("NONAUTH", "AUTH", "SELECTED")
        typ, text = imaplib_clientid(m, "UUID", UUID_TOKEN)
        eq(typ, "BAD", "CLIENTID after login: %s" % text)
        m.logout()
    finally:
        imaplib.Commands["CLIENTID"] = ("NONAUTH",)


def parse_before_and_after_starttls(dc):
    c = Raw(dc, tls=False)
    try:
        eq(c.cmd("a1", "CLIENTID UUID " + UUID_TOKEN), ["a1 " + UNKNOWN_REPLY], "before TLS")
        c.starttls("a2")
        eq(c.cmd("a3", "CLIENTID UUID " + UUID_TOKEN), ["a3 " + OK_REPLY], "after STARTTLS")
    finally:
        c.close()


def parse_plaintext_brace(dc):
    # before TLS CLIENTID is an unknown command in every respect, the same as
    # Dovecot's reply to any unknown command with these arguments
    c = Raw(dc, tls=False)
    try:
        a = c.cmd("a1", "CLIENTID UUID abc")
        b = c.cmd("a2", "NOSUCHCMD UUID abc")
        eq([rest_of(x) for x in a], [rest_of(x) for x in b], "plaintext CLIENTID vs unknown")
    finally:
        c.close()


def parse_starttls_injection(dc):
    # CLIENTID pipelined in plaintext behind STARTTLS must never count as
    # sent over TLS (the CVE-2011-0411 pattern)
    c = Raw(dc, tls=False)
    try:
        c.send("i1 STARTTLS\r\ni2 CLIENTID UUID %s\r\n" % UUID_TOKEN)
        ln = c.line()
        check(ln.startswith("i1 OK "), "STARTTLS: %r" % ln)
        check(not c.buf, "plaintext reply after STARTTLS: %r" % c.buf)
        try:
            c.sock = client_ssl_context().wrap_socket(c.sock)
        except socket.timeout:
            raise Failure("the TLS handshake after STARTTLS timed out")
        except (ssl.SSLError, ConnectionError) as e:
            print("# the injected bytes broke the handshake (%s): nothing accepted" % e)
            return
        # from here every error, a timeout included, is a failure
        lines = c.cmd("i3", "NOOP")
        check(not any(x.startswith("i2 OK") for x in lines), "injected CLIENTID: %r" % lines)
        # the injected command did not use up the one CLIENTID either
        eq(c.cmd("i4", "CLIENTID UUID " + UUID_TOKEN), ["i4 " + OK_REPLY], "CLIENTID over TLS")
    finally:
        c.close()


def parse_pipelined(dc):
    c = on_tls(dc)
    try:
        c.send("q1 CLIENTID UUID %s\r\nq2 NOOP\r\nq3 CLIENTID UUID x\r\n" % UUID_TOKEN)
        eq(c.line(), "q1 " + OK_REPLY, "q1")
        eq(c.line(), "q2 OK NOOP completed.", "q2")
        eq(c.line(), "q3 " + AGAIN_REPLY, "q3")
    finally:
        c.close()


def parse_split_packets(dc):
    c = on_tls(dc)
    try:
        for piece in ("r1 CLIENTID", " UU", "ID ab", "c", "\r", "\n"):
            c.send(piece)
            time.sleep(0.05)
        eq(c.line(), "r1 " + OK_REPLY, "split over packets")
    finally:
        c.close()


def parse_long_line(dc):
    c = on_tls(dc)
    try:
        # longer than any valid CLIENTID line, shorter than imap-login's
        # input buffer: BAD before the line ends, the rest is skipped
        c.send("L1 CLIENTID T " + "x" * 700)
        eq(c.line(), "L1 " + UNKNOWN_REPLY, "overlong line answered before its end")
        c.send("y" * 100 + "\r\n")
        eq(c.cmd("L2", "CLIENTID UUID " + UUID_TOKEN), ["L2 " + OK_REPLY], "next command")
    finally:
        c.close()


def parse_buffer_full(dc):
    # past imap-login's input buffer (about 1 kB) Dovecot itself disconnects,
    # as for any other command; the server stays up
    c = on_tls(dc)
    try:
        try:
            c.send("L1 CLIENTID T " + "x" * 3000 + "\r\n")
            lines = []
            while True:
                lines.append(c.line())
        except (EOFError, OSError):
            pass
        check(all(" OK " not in ln for ln in lines), "accepted: %r" % lines)
    finally:
        c.close()
    check(dc.alive(), "dovecot died")
    c = on_tls(dc)
    try:
        eq(c.cmd("L2", "CLIENTID UUID " + UUID_TOKEN), ["L2 " + OK_REPLY], "next connection")
    finally:
        c.close()


def parse_bad_counter(dc):
    # like any invalid command in imap-login: the third one ends the session
    c = on_tls(dc)
    try:
        eq(c.cmd("k1", "CLIENTID UUID"), ["k1 " + UNKNOWN_REPLY], "1st")
        eq(c.cmd("k2", "CLIENTID UUID"), ["k2 " + UNKNOWN_REPLY], "2nd")
        c.send("k3 CLIENTID UUID\r\n")
        eq(c.line(), "* BYE Too many invalid IMAP commands.", "3rd")
    finally:
        c.close()


def group_parse(r, dc):
    r.case("parse: valid tokens incl. atom-specials, quotes, braces", parse_token_cases, dc)
    r.case("parse: malformed commands are BAD, never truncated", parse_bad_cases, dc)
    r.case("parse: second CLIENTID is BAD", parse_second_clientid, dc)
    r.case("parse: CLIENTID after login is BAD", parse_after_login, dc)
    r.case("parse: BAD before STARTTLS, OK after", parse_before_and_after_starttls, dc)
    r.case("parse: plaintext CLIENTID identical to an unknown command", parse_plaintext_brace,
           dc)
    r.case("parse: CLIENTID injected behind STARTTLS is not accepted",
           parse_starttls_injection, dc)
    r.case("parse: pipelined commands", parse_pipelined, dc)
    r.case("parse: command split over packets", parse_split_packets, dc)
    r.case("parse: overlong line", parse_long_line, dc)
    r.case("parse: line past the input buffer", parse_buffer_full, dc)
    r.case("parse: three bad commands end the session", parse_bad_counter, dc)


# --------------------------------------------------------------------------
# Group: forward fields reach auth

def login_raw(c, tag, user, password):
    return c.cmd(tag, "LOGIN %s %s" % (user, password))[-1]


def authenticate_plain(c, tag, user, password):
    ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    return c.cmd(tag, "AUTHENTICATE PLAIN " + ir)[-1]


def authenticate_login(c, tag, user, password):
    c.send("%s AUTHENTICATE LOGIN\r\n" % tag)
    for answer in (user, password):
        ln = c.line()
        check(ln.startswith("+"), "expected a challenge, got %r" % ln)
        c.send(base64.b64encode(answer.encode()).decode() + "\r\n")
    return c.until_tagged(tag)[-1]


def authenticate_cram_md5(c, tag, user, password):
    c.send("%s AUTHENTICATE CRAM-MD5\r\n" % tag)
    ln = c.line()
    check(ln.startswith("+ "), "expected a challenge, got %r" % ln)
    challenge = base64.b64decode(ln[2:])
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    c.send(base64.b64encode(("%s %s" % (user, digest)).encode()).decode() + "\r\n")
    return c.until_tagged(tag)[-1]


def fwd_control(dc):
    # without CLIENTID, bob does not exist: the passdb keys on the fields
    for how in ("ssl", "starttls"):
        c = tls_client(dc, how)
        try:
            ln = login_raw(c, "f1", "bob", "bobpw")
            check(ln.startswith("f1 NO "), "bob without CLIENTID: %r" % ln)
        finally:
            c.close()
    c = tls_client(dc, "ssl")
    try:
        eq(c.cmd("f2", "CLIENTID UUID wrong-" + RUN_ID), ["f2 " + OK_REPLY], "CLIENTID")
        ln = login_raw(c, "f3", "bob", "bobpw")
        check(ln.startswith("f3 NO "), "bob with the wrong token: %r" % ln)
    finally:
        c.close()


def fwd_mech(dc, how, mech):
    c = tls_client(dc, how)
    try:
        eq(c.cmd("f1", "CLIENTID UUID " + BOB_TOKEN), ["f1 " + OK_REPLY], "CLIENTID")
        ln = mech(c, "f2", "bob", "bobpw")
        check(ln.startswith("f2 OK "), "%s over %s: %r" % (mech.__name__, how, ln))
    finally:
        c.close()


def fwd_special_tokens(dc):
    for user, (typ, tok) in SPECIAL_TOKENS.items():
        c = tls_client(dc, "ssl")
        try:
            eq(c.cmd("g1", "CLIENTID %s %s" % (typ, tok)), ["g1 " + OK_REPLY], user)
            ln = login_raw(c, "g2", user, user + "pw")
            check(ln.startswith("g2 OK "), "%s with token %r: %r" % (user, tok, ln))
        finally:
            c.close()


def fwd_imaplib(dc):
    m = imaplib_client(dc, "starttls")
    try:
        eq(imaplib_clientid(m, "UUID", BOB_TOKEN)[0], "OK", "CLIENTID")
        eq(m.login("bob", "bobpw")[0], "OK", "imaplib LOGIN")
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def fwd_no_forgery(dc):
    # ID x-forward-* from an untrusted client must not set the fields
    c = tls_client(dc, "ssl")
    try:
        c.cmd("h1", 'ID ("x-forward-clientid_type" "UUID" "x-forward-clientid_token" "%s")'
              % BOB_TOKEN)
        ln = login_raw(c, "h2", "bob", "bobpw")
        check(ln.startswith("h2 NO "), "forged forward fields accepted: %r" % ln)
    finally:
        c.close()


def group_forward(r, dc):
    r.case("forward: control (no or wrong CLIENTID: bob unknown)", fwd_control, dc)
    for how in ("ssl", "starttls"):
        for mech in (login_raw, authenticate_plain, authenticate_login, authenticate_cram_md5):
            r.case("forward: %s over %s reaches auth" % (mech.__name__, how), fwd_mech, dc,
                   how, mech)
    r.case("forward: tokens with atom-specials arrive intact", fwd_special_tokens, dc)
    r.case("forward: imaplib STARTTLS + CLIENTID + LOGIN", fwd_imaplib, dc)
    r.case("forward: ID x-forward-* cannot forge the fields", fwd_no_forgery, dc)


# --------------------------------------------------------------------------
# Group: libetpan client

def etpan_tls(dc, client, how):
    port = dc.ssl_port if how == "ssl" else dc.port
    res = run_etpan(client, how, port, "UUID", BOB_TOKEN, "bob", "bobpw")
    eq(res.get("connect"), "2" if how == "ssl" else "2", "connect (%r)" % res)
    eq(res.get("has_clientid"), "1", "mailimap_has_clientid (%r)" % res)
    if how == "ssl":
        eq(res.get("greeting_has_clientid"), "1", "greeting caps (%r)" % res)
    eq(res.get("clientid"), "0", "mailimap_clientid (%r)" % res)
    eq(res.get("login"), "0", "mailimap_login as bob (%r)" % res)


def etpan_plain(dc, client):
    res = run_etpan(client, "plain", dc.port, "UUID", BOB_TOKEN, "bob", "bobpw")
    eq(res.get("has_clientid"), "0", "mailimap_has_clientid in plaintext (%r)" % res)
    check(res.get("clientid") not in (None, "0"), "CLIENTID accepted in plaintext (%r)" % res)
    check(res.get("login") not in (None, "0"), "bob logged in without CLIENTID (%r)" % res)


def group_etpan(r, dc, client):
    if not client or not os.access(client, os.X_OK):
        r.case("libetpan client", lambda: (_ for _ in ()).throw(Skip("client not built")))
        return
    r.case("libetpan: STARTTLS, CAPABILITY, CLIENTID, LOGIN", etpan_tls, dc, client, "starttls")
    r.case("libetpan: implicit TLS, CLIENTID, LOGIN", etpan_tls, dc, client, "ssl")
    r.case("libetpan: plaintext: no capability, CLIENTID refused", etpan_plain, dc, client)


# --------------------------------------------------------------------------
# Group: settings -- TLS terminated by a proxy, invalid values, doveconf -n

def proxy_v2_header(ssl_flag):
    """A PROXY protocol v2 header from 192.0.2.10:40000 to 127.0.0.1:143,
    with an SSL TLV whose client field says TLS when ssl_flag is set."""
    sub = b"TLSv1.3"
    ssl_value = bytes([0x01 if ssl_flag else 0x00]) + b"\0\0\0\0"
    ssl_value += bytes([0x21]) + len(sub).to_bytes(2, "big") + sub
    tlv = bytes([0x20]) + len(ssl_value).to_bytes(2, "big") + ssl_value
    addr = bytes([192, 0, 2, 10, 127, 0, 0, 1]) + (40000).to_bytes(2, "big") + \
        (143).to_bytes(2, "big")
    body = addr + tlv
    return b"\r\n\r\n\0\r\nQUIT\n" + bytes([0x21, 0x11]) + len(body).to_bytes(2, "big") + body


def via_haproxy(d, ssl_flag):
    return Raw(d, tls=False, port=d.haproxy_port, preamble=proxy_v2_header(ssl_flag))


def expect_offered(c, offered, what):
    g = greeting_caps(c.greeting)
    eq("CLIENTID" in g, offered, "%s: CLIENTID in greeting %r" % (what, g))
    caps = c.capability("pc")
    eq("CLIENTID" in caps, offered, "%s: CLIENTID in CAPABILITY %r" % (what, caps))
    got = c.cmd("p1", "CLIENTID UUID " + BOB_TOKEN)
    eq(got, ["p1 " + (OK_REPLY if offered else UNKNOWN_REPLY)], what + ": CLIENTID")
    if offered:
        ln = login_raw(c, "p2", "bob", "bobpw")
        check(ln.startswith("p2 OK "), "%s: forward fields: %r" % (what, ln))


def proxy_default(d):
    for ssl_flag in (True, False):
        c = via_haproxy(d, ssl_flag)
        try:
            expect_offered(c, False, "default, haproxy ssl=%s" % ssl_flag)
        finally:
            c.close()
    c = Raw(d, tls=False)
    try:
        expect_offered(c, False, "default, plaintext from login_trusted_networks")
    finally:
        c.close()


def proxy_trust_haproxy(d):
    c = via_haproxy(d, True)
    try:
        expect_offered(c, True, "trust haproxy, haproxy ssl=1")
    finally:
        c.close()
    c = via_haproxy(d, False)
    try:
        expect_offered(c, False, "trust haproxy, haproxy ssl=0")
    finally:
        c.close()
    c = Raw(d, tls=False)
    try:
        expect_offered(c, False, "trust haproxy, plaintext from login_trusted_networks")
    finally:
        c.close()


def proxy_trust_networks(d):
    c = Raw(d, tls=False)
    try:
        expect_offered(c, True, "trust trusted_networks, plaintext from a trusted network")
    finally:
        c.close()


def settings_invalid(plugin_dir, keep, env):
    d = Dovecot(plugin_dir, "invalid", keep=keep, env=env)
    try:
        try:
            d.start(timeout=6)
            started = True
        except RuntimeError:
            started = False
        log = d.logs_bytes().decode("utf-8", "replace")
        check(not started, "imap-login came up with %r" % (env,))
        key = sorted(env)[0]
        check("clientid: %s=" % key in log and "refusing to start" in log,
              "no clear error for %r in the log:\n%s" % (env, log[-2000:]))
    finally:
        d.cleanup()


def settings_doveconf(d):
    out = subprocess.run(["doveconf", "-n", "-c", d.path("dovecot.conf")],
                         capture_output=True, check=True, timeout=60).stdout.decode()
    check(re.search(r"^import_environment = .*CLIENTID_IMAP_TRUST_PROXY_TLS=haproxy", out,
                    re.M), "doveconf -n does not show the setting:\n" + out)
    check(re.search(r"login_plugins = .*\bclientid\b", out),
          "doveconf -n does not show login_plugins:\n" + out)


def group_settings(r, dc, plugin_dir, keep):
    # dc: haproxy listener and login_trusted_networks, nothing trusted for CLIENTID
    r.case("settings: default trusts neither HAProxy TLS nor trusted networks",
           proxy_default, dc)
    servers = []
    for name, env, trusted, fn in (
            ("haproxy", {"CLIENTID_IMAP_TRUST_PROXY_TLS": "haproxy"}, "127.0.0.1",
             proxy_trust_haproxy),
            ("trustednet", {"CLIENTID_IMAP_TRUST_PROXY_TLS": "trusted_networks"},
             "127.0.0.1", proxy_trust_networks)):
        d = Dovecot(plugin_dir, name, keep=keep, env=env, trusted_networks=trusted,
                    haproxy=True)
        servers.append(d)
        try:
            d.start()
        except Exception as e:  # noqa: BLE001
            r.case("start dovecot (%s)" % name, lambda e=e: (_ for _ in ()).throw(e))
            continue
        r.case("settings: CLIENTID_IMAP_TRUST_PROXY_TLS=%s" % env[
            "CLIENTID_IMAP_TRUST_PROXY_TLS"], fn, d)
        if name == "haproxy":
            r.case("settings: visible in doveconf -n", settings_doveconf, d)
    for env in ({"CLIENTID_IMAP_ENABLE": "maybe"},
                {"CLIENTID_IMAP_TRUST_PROXY_TLS": "everything"}):
        r.case("settings: invalid %s refuses to start" % sorted(env)[0], settings_invalid,
               plugin_dir, keep, env)
    return servers


# --------------------------------------------------------------------------
# Log check

def tokens_used():
    toks = [UUID_TOKEN, BOB_TOKEN, "23bf83be-aad7-46aa-9e0f-39191ccf402f"]
    toks += [tok for _typ, tok in SPECIAL_TOKENS.values() if len(tok) >= 6]
    return toks


def check_logs(servers):
    data = b""
    for d in servers:
        data += d.logs_bytes()
    # the logs are really there and really read: they name the users
    check(b"imap-login:" in data, "no imap-login lines in the logs")
    for tok in tokens_used():
        check(tok.encode() not in data, "raw token %r found in the logs" % tok)
        check(base64.b64encode(tok.encode()) not in data, "base64 token %r in logs" % tok)


def check_valgrind(dc):
    logs = [f for f in dc.log_files() if os.path.basename(f).startswith("valgrind.")]
    check(logs, "no valgrind logs: imap-login did not run under valgrind")
    bad = []
    for f in logs:
        with open(f, "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
        if text.strip():
            bad.append("%s:\n%s" % (f, text[-3000:]))
    check(not bad, "valgrind reported:\n" + "\n".join(bad))


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True,
                    choices=["draft", "corpus", "capability", "parse", "forward", "etpan",
                             "settings"])
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--corpus", default="")
    ap.add_argument("--etpan-client", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--auth-debug", action="store_true")
    ap.add_argument("--extra-conf", default="",
                    help="lines appended to the scratch dovecot.conf, e.g. log_debug=...")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    ap.add_argument("--valgrind", action="store_true",
                    help="run imap-login (and so the plugin) under valgrind; any error fails")
    a = ap.parse_args()

    if a.skip:
        print("SKIP: " + a.skip)
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: the Dovecot end-to-end tests start dovecot and need root")
        return SKIP
    if not os.access(DOVECOT, os.X_OK):
        print("SKIP: %s not found (install dovecot-core and dovecot-imapd)" % DOVECOT)
        return SKIP
    if not os.path.exists("/usr/lib/dovecot/imap-login"):
        print("SKIP: imap-login not found (install dovecot-imapd)")
        return SKIP
    if not os.path.isfile(os.path.join(a.plugin_dir, PLUGIN_FILE)):
        print("SKIP: %s not built in %r" % (PLUGIN_FILE, a.plugin_dir))
        return SKIP
    if shutil.which("openssl") is None:
        print("SKIP: openssl not found")
        return SKIP

    r = Runner()
    servers = []
    if a.group == "settings":
        dc = Dovecot(a.plugin_dir, a.group, keep=a.keep, trusted_networks="127.0.0.1",
                     haproxy=True)
    else:
        dc = Dovecot(a.plugin_dir, a.group, auth_debug=a.auth_debug, keep=a.keep,
                     extra_conf=a.extra_conf.replace("\\n", "\n"), valgrind=a.valgrind)
    servers.append(dc)
    try:
        r.case("start dovecot", dc.start)
        if not dc.alive():
            return r.summary()
        if a.group == "draft":
            group_draft(r, dc)
        elif a.group == "corpus":
            group_corpus(r, dc, a.corpus)
        elif a.group == "capability":
            servers += group_capability(r, dc, a.plugin_dir, a.keep).values()
        elif a.group == "parse":
            group_parse(r, dc)
        elif a.group == "forward":
            group_forward(r, dc)
        elif a.group == "etpan":
            group_etpan(r, dc, a.etpan_client)
        elif a.group == "settings":
            servers += group_settings(r, dc, a.plugin_dir, a.keep)
        r.case("dovecot still running", lambda: check(dc.alive(), "dovecot died"))
        for d in servers:
            d.stop()
        r.case("no raw token in any log", check_logs, servers)
        if a.valgrind:
            r.case("valgrind: no errors in imap-login", check_valgrind, dc)
        if a.keep:
            print("# scratch kept: " + " ".join(d.scratch for d in servers))
    finally:
        for d in servers:
            d.cleanup()
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
