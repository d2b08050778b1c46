"""Group parse: the CLIENTID command's arguments and state on a real
imap-login: valid and malformed arguments, a second CLIENTID, CLIENTID
after login or before TLS, injection behind STARTTLS, pipelining, split
packets, overlong lines and the bad-command counter."""

import imaplib
import socket
import ssl
import time

from harness.dovecot import UUID_TOKEN
from harness.dovecot_suite import check_alive, run_cases
from harness.imap import AGAIN_REPLY, OK_REPLY, UNKNOWN_REPLY, Raw, imaplib_clientid, \
    imaplib_session, rest_of, tls_client
from harness.net import client_ssl_context
from harness.runner import Failure, check, eq

# (arguments, what): each must be answered OK at once, no continuation
VALID = [
    ("UUID " + UUID_TOKEN, "uuid"),
    ('T "abc"', "quoted string is a 5-char token"),
    ("T {5}", "{5} at end of line is a 3-char token, no literal"),
    ("T {5+}", "{5+} at end of line is a token"),
    ('T (){}%*"\\][', "atom-specials"),
    ("T " + "".join(chr(c) for c in range(0x21, 0x7F)), "all 94 VCHAR"),
    ("ABCDEFGHIJ-12345 x", "16-char type"),
    ("t " + "~" * 128, "128-char token"),
]

# (arguments, what): each must be the unknown-command BAD
MALFORMED = [
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


def on_tls(dc):
    return tls_client(dc, "ssl")


def parse_token_cases(dc):
    for args, what in VALID:
        with on_tls(dc) as c:
            c.send("p1 CLIENTID %s\r\n" % args)
            # the very next line must be the tagged OK: no "+" continuation
            eq(c.line(), "p1 " + OK_REPLY, what)
            eq(c.cmd("p2", "NOOP"), ["p2 OK NOOP completed."], what + " (then NOOP)")


def parse_bad_cases(dc):
    for args, what in MALFORMED:
        with on_tls(dc) as c:
            c.send(b"b1 CLIENTID " + args + b"\r\n")
            eq(c.line(), "b1 " + UNKNOWN_REPLY, what)
            # not truncated and accepted on a second try: a valid one still works
            eq(c.cmd("b2", "CLIENTID UUID " + UUID_TOKEN), ["b2 " + OK_REPLY], what + " then OK")


def parse_second_clientid(dc):
    with on_tls(dc) as c:
        eq(c.cmd("s1", "CLIENTID UUID " + UUID_TOKEN), ["s1 " + OK_REPLY], "first")
        eq(c.cmd("s2", "CLIENTID UUID " + UUID_TOKEN), ["s2 " + AGAIN_REPLY], "second")
        eq(c.cmd("s3", "CLIENTID OTHER x"), ["s3 " + AGAIN_REPLY], "third")


def parse_after_login(dc):
    try:
        with imaplib_session(dc, "ssl") as m:
            eq(m.login("joe", "password")[0], "OK", "LOGIN")
            imaplib.Commands["CLIENTID"] = ("NONAUTH", "AUTH", "SELECTED")
            typ, text = imaplib_clientid(m, "UUID", UUID_TOKEN)
            eq(typ, "BAD", "CLIENTID after login: %s" % text)
            m.logout()
    finally:
        imaplib.Commands["CLIENTID"] = ("NONAUTH",)


def parse_before_and_after_starttls(dc):
    with Raw(dc, tls=False) as c:
        eq(c.cmd("a1", "CLIENTID UUID " + UUID_TOKEN), ["a1 " + UNKNOWN_REPLY], "before TLS")
        c.starttls("a2")
        eq(c.cmd("a3", "CLIENTID UUID " + UUID_TOKEN), ["a3 " + OK_REPLY], "after STARTTLS")


def parse_plaintext_brace(dc):
    # before TLS CLIENTID is an unknown command in every respect, the same as
    # Dovecot's reply to any unknown command with these arguments
    with Raw(dc, tls=False) as c:
        a = c.cmd("a1", "CLIENTID UUID abc")
        b = c.cmd("a2", "NOSUCHCMD UUID abc")
        eq([rest_of(x) for x in a], [rest_of(x) for x in b], "plaintext CLIENTID vs unknown")


def parse_starttls_injection(dc):
    # CLIENTID pipelined in plaintext behind STARTTLS must never count as
    # sent over TLS (the CVE-2011-0411 pattern)
    with Raw(dc, tls=False) as c:
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


def parse_pipelined(dc):
    with on_tls(dc) as c:
        c.send("q1 CLIENTID UUID %s\r\nq2 NOOP\r\nq3 CLIENTID UUID x\r\n" % UUID_TOKEN)
        eq(c.line(), "q1 " + OK_REPLY, "q1")
        eq(c.line(), "q2 OK NOOP completed.", "q2")
        eq(c.line(), "q3 " + AGAIN_REPLY, "q3")


def parse_split_packets(dc):
    with on_tls(dc) as c:
        for piece in ("r1 CLIENTID", " UU", "ID ab", "c", "\r", "\n"):
            c.send(piece)
            time.sleep(0.05)
        eq(c.line(), "r1 " + OK_REPLY, "split over packets")


def parse_long_line(dc):
    with on_tls(dc) as c:
        # longer than any valid CLIENTID line, shorter than imap-login's
        # input buffer: BAD before the line ends, the rest is skipped
        c.send("L1 CLIENTID T " + "x" * 700)
        eq(c.line(), "L1 " + UNKNOWN_REPLY, "overlong line answered before its end")
        c.send("y" * 100 + "\r\n")
        eq(c.cmd("L2", "CLIENTID UUID " + UUID_TOKEN), ["L2 " + OK_REPLY], "next command")


def parse_buffer_full(dc):
    # past imap-login's input buffer (about 1 kB) Dovecot itself disconnects,
    # as for any other command; the server stays up
    lines = []
    with on_tls(dc) as c:
        try:
            c.send("L1 CLIENTID T " + "x" * 3000 + "\r\n")
            while True:
                lines.append(c.line())
        except (EOFError, OSError):
            pass
        check(all(" OK " not in ln for ln in lines), "accepted: %r" % lines)
    check_alive(dc)
    with on_tls(dc) as c:
        eq(c.cmd("L2", "CLIENTID UUID " + UUID_TOKEN), ["L2 " + OK_REPLY], "next connection")


def parse_bad_counter(dc):
    # like any invalid command in imap-login: the third one ends the session
    with on_tls(dc) as c:
        eq(c.cmd("k1", "CLIENTID UUID"), ["k1 " + UNKNOWN_REPLY], "1st")
        eq(c.cmd("k2", "CLIENTID UUID"), ["k2 " + UNKNOWN_REPLY], "2nd")
        c.send("k3 CLIENTID UUID\r\n")
        eq(c.line(), "* BYE Too many invalid IMAP commands.", "3rd")


# (case name, case): each run on the group's one server
CASES = [
    ("parse: valid tokens incl. atom-specials, quotes, braces", parse_token_cases),
    ("parse: malformed commands are BAD, never truncated", parse_bad_cases),
    ("parse: second CLIENTID is BAD", parse_second_clientid),
    ("parse: CLIENTID after login is BAD", parse_after_login),
    ("parse: BAD before STARTTLS, OK after", parse_before_and_after_starttls),
    ("parse: plaintext CLIENTID identical to an unknown command", parse_plaintext_brace),
    ("parse: CLIENTID injected behind STARTTLS is not accepted",
     parse_starttls_injection),
    ("parse: pipelined commands", parse_pipelined),
    ("parse: command split over packets", parse_split_packets),
    ("parse: overlong line", parse_long_line),
    ("parse: line past the input buffer", parse_buffer_full),
    ("parse: three bad commands end the session", parse_bad_counter),
]


def run(r, dc, a):
    """The group's cases on dc; no other server."""
    return run_cases(r, dc, CASES)
