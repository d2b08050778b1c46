"""The package test's cross-protocol scenario on the activated servers: a
device learned over IMAP is known over SMTP, an unknown one is refused on
both with the wrong-password reply and approved; then a policy service that
cannot start must take no protocol down."""

import os
import uuid

from clients import ctl, device_states, fingerprint, imap_login, pop3_login, smtp_submit
from machine import (DOVECOT_LOG, IMAP_FAIL, PASSWORD, SMTP_FAIL, SUBMISSION, USER, run,
                     service, step, wait_port)


def scenario(res):
    step("The scenario: learn over IMAP, known over SMTP, unknown refused, approve")
    laptop, phone = str(uuid.uuid4()), str(uuid.uuid4())
    fp_laptop, fp_phone = fingerprint(laptop), fingerprint(phone)

    offered, reply = imap_login(laptop)
    res.check(offered, "IMAP: CLIENTID is offered after STARTTLS")
    res.check(reply == "OK", "IMAP, mode learn: the laptop logs in", reply)
    res.check(device_states().get(fp_laptop) == "trusted",
              "clientidctl list: the laptop %s is trusted" % fp_laptop, str(device_states()))

    ctl("policy", USER, "mode=enforce")
    offered, auth, sent = smtp_submit(laptop, subject="laptop")
    res.check(offered, "SMTP: CLIENTID is offered after STARTTLS on %d" % SUBMISSION)
    res.check(auth[0] == 235 and sent, "SMTP, mode enforce: the laptop, learned over IMAP, "
              "authenticates and submits", str(auth))

    _, wrong_imap = imap_login(laptop, password="not-" + PASSWORD)
    _, wrong_smtp, _ = smtp_submit(laptop, password="not-" + PASSWORD)
    res.check(wrong_imap == IMAP_FAIL and wrong_smtp == SMTP_FAIL,
              "a wrong password gets %r / %d %s" % (IMAP_FAIL, SMTP_FAIL[0], SMTP_FAIL[1]),
              "%r / %r" % (wrong_imap, wrong_smtp))
    _, reply = imap_login(phone)
    res.check(reply == wrong_imap, "IMAP: the unknown phone with the right password gets "
              "the wrong-password reply", reply)
    _, auth, sent = smtp_submit(phone, subject="phone")
    res.check(auth == wrong_smtp and not sent, "SMTP: the unknown phone with the right "
              "password gets the wrong-password reply", str(auth))
    states = device_states()
    res.check(states.get(fp_phone) == "pending" and states.get(fp_laptop) == "trusted",
              "clientidctl list: the phone %s is pending" % fp_phone, str(states))

    ctl("approve", USER, fp_phone)
    _, reply = imap_login(phone)
    res.check(reply == "OK", "IMAP: the approved phone logs in", reply)
    _, auth, sent = smtp_submit(phone, subject="phone approved")
    res.check(auth[0] == 235 and sent, "SMTP: the approved phone submits", str(auth))
    return laptop, phone


def policy_service_cannot_start(res, laptop):
    """A policy service that cannot start (a typo in clientid.conf) must not
    take every protocol down: Exim's Dovecot SASL (protocol smtp), POP3 and
    IMAP go on, decided by the password alone, as 96-clientid-policy.conf
    documents (Dovecot 2.3 applies auth_policy_reject_on_fail of the
    after-auth check site-wide), and Dovecot's log names the error."""
    reply = pop3_login()
    res.check(reply.startswith("+OK"), "POP3 with the policy active: no CLIENTID, "
              "require_clientid = no, the password decides", reply)
    step("The policy service cannot start (a broken clientid.conf)")
    conf = "/etc/clientid/clientid.conf"
    saved = open(conf).read()
    log_at = os.path.getsize(DOVECOT_LOG) if os.path.exists(DOVECOT_LOG) else 0
    try:
        with open(conf, "a") as f:
            f.write("\n[policy]\nmode = typo\n")
        p = run(["clientidctl", "-c", conf, "check"], check=False)
        res.check(p.returncode != 0 and "typo" in p.stdout, "clientidctl rejects the "
                  "broken clientid.conf", p.stdout.strip())
        service("dovecot", "restart")
        res.must(wait_port(143), "Dovecot restarted with a clientid.conf the service refuses")
        _, reply = imap_login(laptop)
        res.check(reply == "OK", "IMAP goes on too: the password alone decides while the "
                  "service is down (auth_policy_reject_on_fail = no)", reply)
        _, reply = imap_login(laptop, password="not-" + PASSWORD)
        res.check(reply == IMAP_FAIL, "a wrong password is still refused", reply)
        reply = pop3_login()
        res.check(reply.startswith("+OK"), "POP3 goes on too (it never sends CLIENTID; the "
                  "password alone decides)", reply)
        reply = pop3_login(password="not-" + PASSWORD)
        res.check(not reply.startswith("+OK"), "POP3: a wrong password is still refused",
                  reply)
        # Exim loaded clientid.conf in its daemon (the preload) and keeps it.
        _, auth, sent = smtp_submit(None, subject="policy service down")
        res.check(auth[0] == 235 and sent, "Exim's logins through Dovecot SASL (protocol smtp, "
                  "no CLIENTID) go on: the policy fails open for them", str(auth))
        log = ""
        if os.path.exists(DOVECOT_LOG):
            with open(DOVECOT_LOG, errors="replace") as f:
                f.seek(log_at)
                log = f.read()
        res.check("clientid-policy" in log and "typo" in log, "Dovecot's log has the "
                  "service's error, naming the setting", log[-1500:])
    finally:
        with open(conf, "w") as f:
            f.write(saved)
    service("dovecot", "restart")
    res.must(wait_port(143), "Dovecot restarted with clientid.conf fixed")
    _, reply = imap_login(laptop)
    res.check(reply == "OK", "fixed: the laptop logs in over IMAP again", reply)
