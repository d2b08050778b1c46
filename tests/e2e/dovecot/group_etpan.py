"""Group etpan: libetpan's mailimap_clientid() (etpan-clientid.c) against
the plugin, on STARTTLS, implicit TLS and plaintext."""

import os

from harness.dovecot import BOB_TOKEN
from harness.imap import run_etpan
from harness.runner import Skip, check, eq


def etpan_tls(dc, client, how):
    port = dc.ssl_port if how == "ssl" else dc.port
    res = run_etpan(client, how, port, "UUID", BOB_TOKEN, "bob", "bobpw")
    eq(res.get("connect"), "2", "connect (%r)" % res)
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


def client_not_built():
    raise Skip("client not built")


def run(r, dc, a):
    """The cases with the client a.etpan_client (one skipped case when it is
    not built); no other server."""
    client = a.etpan_client
    if not client or not os.access(client, os.X_OK):
        r.case("libetpan client", client_not_built)
        return []
    r.case("libetpan: STARTTLS, CAPABILITY, CLIENTID, LOGIN", etpan_tls, dc, client, "starttls")
    r.case("libetpan: implicit TLS, CLIENTID, LOGIN", etpan_tls, dc, client, "ssl")
    r.case("libetpan: plaintext: no capability, CLIENTID refused", etpan_plain, dc, client)
    return []
