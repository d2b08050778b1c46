"""SMTP client steps the Exim suites share, on an smtplib.SMTP connection:
the SASL exchanges of AUTH PLAIN and LOGIN, one message through MAIL, RCPT
and DATA, and a QUIT that does not mind a closed connection."""

import base64
import smtplib
import time

from harness.runner import expect

# The four ways to send one AUTH: the mechanism, and -IR for an initial
# response on the AUTH line.
SASL_WAYS = ("PLAIN-IR", "PLAIN", "LOGIN-IR", "LOGIN")

# The check names of send_message()'s four replies, as the patch suite
# (tests/e2e/exim) records them.
MESSAGE_STEPS = ("MAIL FROM", "RCPT TO", "DATA", "end of data")


def b64(s):
    """s (latin-1) in base64, as SASL sends it."""
    return base64.b64encode(s.encode("latin-1")).decode("ascii")


def sasl_lines(user, password, how):
    """The client's lines of one AUTH exchange as smtplib docmd() (verb,
    argument) pairs; how is one of SASL_WAYS."""
    if how == "PLAIN-IR":
        return [("AUTH", "PLAIN " + b64(f"\0{user}\0{password}"))]
    if how == "PLAIN":
        return [("AUTH", "PLAIN"), (b64(f"\0{user}\0{password}"), "")]
    if how == "LOGIN-IR":
        return [("AUTH", "LOGIN " + b64(user)), (b64(password), "")]
    if how == "LOGIN":
        return [("AUTH", "LOGIN"), (b64(user), ""), (b64(password), "")]
    raise ValueError(f"unknown SASL way {how!r}")


def sasl(s, user, password, how):
    """Sends the lines of sasl_lines() until a reply that is not 334: the
    replies, each as (code, text, seconds that reply took)."""
    replies = []
    for verb, arg in sasl_lines(user, password, how):
        t0 = time.monotonic()
        code, text = s.docmd(verb, arg)
        replies.append((code, text, time.monotonic() - t0))
        if code != 334:
            break
    return replies


def send_message(s, subject, sender="sender@example.net", recipient="receiver@example.com",
                 body="body", steps=MESSAGE_STEPS):
    """One message from sender to recipient; each of the four replies (MAIL,
    RCPT, DATA, end of data) is an expect() check named by steps."""
    expect(s.docmd("MAIL", f"FROM:<{sender}>"), 250, steps[0])
    expect(s.docmd("RCPT", f"TO:<{recipient}>"), 250, steps[1])
    expect(s.docmd("DATA"), 354, steps[2])
    s.send(f"Subject: {subject}\r\n\r\n{body}\r\n.\r\n".encode())
    expect(s.getreply(), 250, steps[3])


def unknown_reply(s):
    """The reply the server gives to a command it does not know."""
    return s.docmd("XYZZYCMD", "foo bar")


def quit_quietly(s):
    """QUIT, when the server has not already closed the connection."""
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass
