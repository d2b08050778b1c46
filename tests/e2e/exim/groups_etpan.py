"""libetpan's mailesmtp_clientid(), the reference client side of CLIENTID
(etpan-smtp-clientid.c), against the patched Exim."""

from harness.exim import CIDONLY_TOKEN, UUID, Exim
from harness.imap import run_etpan
from harness.runner import Skip, verify


def etpan(opts, ex, mode, port, token, user, password):
    """One run of the libetpan client (its token kept for the log check):
    its key=value results, printed on one line."""
    ex.tokens.add(("UUID", token))
    kv = run_etpan(opts.etpan_client, mode, port, "UUID", token, user, password)
    print("  " + " ".join(f"{k}={v}" for k, v in kv.items() if k))
    return kv


def group_etpan(opts):
    """libetpan's mailesmtp_clientid() against the patched Exim."""
    if not opts.etpan_client:
        raise Skip("the libetpan client was not built (libetpan-dev missing)")
    with Exim(opts.exim).running(opts.keep) as ex:
        for mode, port in (("starttls", ex.port_plain), ("ssl", ex.port_tls)):
            kv = etpan(opts, ex, mode, port, UUID, "cidonly", "s3cret")
            verify(kv.get("has_clientid") == "1", f"{mode}: libetpan sees CLIENTID in EHLO")
            verify(kv.get("clientid") == "0", f"{mode}: mailesmtp_clientid() succeeds")
            verify(kv.get("clientid2", "0") != "0", f"{mode}: a second CLIENTID fails (503)")
            verify(kv.get("auth") not in (None, "0"),
                   f"{mode}: AUTH as cidonly refused with another token")
        kv = etpan(opts, ex, "starttls", ex.port_plain, CIDONLY_TOKEN, "cidonly", "s3cret")
        verify(kv.get("clientid") == "0" and kv.get("auth") == "0",
               "AUTH as cidonly accepted with its token")
        kv = etpan(opts, ex, "plain", ex.port_plain, "plain-etpan-token", "alice", "wonderland")
        verify(kv.get("has_clientid") == "0", "plain: no CLIENTID in EHLO")
        verify(kv.get("clientid") not in (None, "0"), "plain: mailesmtp_clientid() fails")
