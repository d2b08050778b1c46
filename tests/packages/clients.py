"""The package test's clients against the installed servers, with TLS
checked against the certificates the servers use (not
harness.net.client_ssl_context, which accepts any), and clientidctl on
the installed store."""

import base64
import contextlib
import imaplib
import os
import poplib
import smtplib
import ssl

from harness.imap import imaplib_clientid
from machine import DEVICE_TYPE, DOVECOT_CERT, PASSWORD, SUBMISSION, USER, Fatal, run

EXIM_CERT = "/etc/exim4/exim.crt"
DEVICE_HELO = "device.example.net"


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # self-signed for the host's own name
    return ctx


def imap_starttls(m):
    """STARTTLS on an imaplib connection, Dovecot's certificate checked."""
    m.starttls(ssl_context=tls_context(os.path.realpath(DOVECOT_CERT)))


def smtp_starttls(s, helo):
    """STARTTLS on an smtplib connection, Exim's certificate checked; EHLO
    helo again."""
    s.starttls(context=tls_context(EXIM_CERT))
    s.ehlo(helo)


def smtp_quit(s):
    """QUIT, whatever state the session is in."""
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass


@contextlib.contextmanager
def submission(tls=True):
    """An smtplib session on the submission port after EHLO and, with tls,
    STARTTLS and EHLO again; QUIT when the block ends."""
    s = smtplib.SMTP("127.0.0.1", SUBMISSION, timeout=30)
    try:
        s.ehlo(DEVICE_HELO)
        if tls:
            smtp_starttls(s, DEVICE_HELO)
        yield s
    finally:
        smtp_quit(s)


def pop3_login(password=PASSWORD):
    """STLS, USER, PASS on port 110 (POP3 never sends CLIENTID): the PASS
    reply, '+OK ...' or the error text."""
    p = poplib.POP3("127.0.0.1", 110, timeout=20)
    try:
        p.stls(context=tls_context(os.path.realpath(DOVECOT_CERT)))
        p.user(USER)
        try:
            reply = p.pass_(password).decode("latin-1")
            p.quit()
            return reply
        except poplib.error_proto as e:
            return str(e).strip("b'\"")
    finally:
        p.close()


def imap_login(token, password=PASSWORD, expect_clientid=True):
    """STARTTLS, CAPABILITY, [CLIENTID], LOGIN on port 143: (clientid offered,
    LOGIN reply: 'OK' or the NO text)."""
    m = imaplib.IMAP4("127.0.0.1", 143, timeout=20)
    try:
        imap_starttls(m)
        typ, caps = m.capability()
        offered = b"CLIENTID" in caps[0].split()
        if token is not None and offered:
            typ, text = imaplib_clientid(m, DEVICE_TYPE, token)
            if typ != "OK":
                return offered, "CLIENTID refused: %s %s" % (typ, text)
        try:
            typ, _ = m.login(USER, password)
            m.logout()
            return offered, typ
        except imaplib.IMAP4.error as e:
            return offered, str(e).strip("b'\"")
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def smtp_submit(token, password=PASSWORD, subject="test"):
    """EHLO, STARTTLS, EHLO, [CLIENTID], AUTH PLAIN, and on success a
    message to the user: (clientid offered, (AUTH code, text), accepted)."""
    with submission() as s:
        offered = s.has_extn("clientid")
        if token is not None and offered:
            code, text = s.docmd("CLIENTID", "%s %s" % (DEVICE_TYPE, token))
            if code != 250:
                return offered, (code, "CLIENTID refused: " + text.decode()), False
        if not s.has_extn("auth"):
            return offered, (0, "AUTH not offered"), False
        auth = base64.b64encode(("\0%s\0%s" % (USER, password)).encode()).decode()
        code, text = s.docmd("AUTH", "PLAIN " + auth)
        if code != 235:
            return offered, (code, text.decode()), False
        try:
            s.sendmail("%s@localhost" % USER, ["%s@localhost" % USER],
                       "Subject: %s\r\n\r\nfrom the clientid full-stack test\r\n" % subject)
        except smtplib.SMTPException as e:
            return offered, (code, "message refused: %s" % e), False
        return offered, (code, text.decode()), True


def smtp_auth_login(password):
    """AUTH LOGIN after STARTTLS on the submission port: (code, text)."""
    with submission() as s:
        code, text = s.docmd("AUTH", "LOGIN")
        if code == 334:
            code, text = s.docmd(base64.b64encode(USER.encode()).decode())
        if code == 334:
            code, text = s.docmd(base64.b64encode(password.encode()).decode())
        return code, text.decode()


def smtp_local_delivery(subject):
    """Port 25, no AUTH: a message for the local user (what any MTA serves)."""
    s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
    try:
        s.ehlo("peer.example.net")
        offered = False
        if s.has_extn("starttls"):
            smtp_starttls(s, "peer.example.net")
            offered = s.has_extn("clientid")
        s.sendmail("someone@localhost", ["%s@localhost" % USER],
                   "Subject: %s\r\n\r\nplain delivery\r\n" % subject)
        return offered, True
    except (smtplib.SMTPException, OSError) as e:
        return False, "%s: %s" % (type(e).__name__, e)
    finally:
        smtp_quit(s)


def observed_replies():
    """What a client sees from both servers, without CLIENTID: the replies
    that installing the packages must not change."""
    out = {}
    with submission(tls=False) as s:
        out["smtp ehlo before tls"] = sorted(s.esmtp_features)
        smtp_starttls(s, DEVICE_HELO)
        out["smtp ehlo"] = sorted("%s %s" % kv for kv in s.esmtp_features.items())
    for name, pw in (("right", PASSWORD), ("wrong", "not-" + PASSWORD)):
        _, auth, sent = smtp_submit(None, password=pw, subject="replies")
        out["smtp auth plain, %s password" % name] = [auth[0], auth[1], sent]
        out["smtp auth login, %s password" % name] = list(smtp_auth_login(pw))
    m = imaplib.IMAP4("127.0.0.1", 143, timeout=20)
    try:
        out["imap capability before tls"] = sorted(m.capabilities)
        imap_starttls(m)
        out["imap capability"] = sorted(m.capability()[1][0].decode().split())
    finally:
        m.shutdown()
    for name, pw in (("right", PASSWORD), ("wrong", "not-" + PASSWORD)):
        out["imap login, %s password" % name] = imap_login(None, password=pw)[1]
        out["pop3 login, %s password" % name] = pop3_login(password=pw)
    return out


def ctl(*args, stdin=None):
    p = run(["clientidctl"] + list(args), check=False, input=stdin)
    if p.returncode != 0:
        raise Fatal("clientidctl %s: exit %d: %s" % (" ".join(args), p.returncode, p.stdout))
    return p.stdout


def fingerprint(token):
    return ctl("fingerprint", DEVICE_TYPE, stdin=token + "\n").strip()[:12]


def device_states():
    rows = {}
    for ln in ctl("list", USER).splitlines()[1:]:
        f = ln.split()
        if len(f) >= 2:
            rows[f[0]] = f[1]
    return rows
