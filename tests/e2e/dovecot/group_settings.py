"""Group settings: TLS terminated by a proxy (HAProxy's PROXY v2 header,
login_trusted_networks) and CLIENTID_IMAP_TRUST_PROXY_TLS, invalid
settings that must stop imap-login, and doveconf -n."""

import re
import subprocess

from harness import dovecot_suite
from harness.dovecot import BOB_TOKEN, Dovecot
from harness.imap import OK_REPLY, UNKNOWN_REPLY, Raw, greeting_caps, login_raw
from harness.runner import check, eq

INVALID = ({"CLIENTID_IMAP_ENABLE": "maybe"},
           {"CLIENTID_IMAP_TRUST_PROXY_TLS": "everything"})


def first_server(a):
    """The group's main server: a haproxy listener and login_trusted_networks,
    nothing trusted for CLIENTID."""
    return Dovecot(a.plugin_dir, a.group, keep=a.keep, trusted_networks="127.0.0.1",
                   haproxy=True)


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


def connect(d, how):
    """'haproxy-ssl' / 'haproxy-plain': through the haproxy listener with
    the TLV's TLS flag set or not; 'plain': plaintext from a trusted network."""
    if how == "plain":
        return Raw(d, tls=False)
    return Raw(d, tls=False, port=d.haproxy_port,
               preamble=proxy_v2_header(how == "haproxy-ssl"))


def expect_offered(d, how, offered, what):
    """On a connection of kind how: CLIENTID offered (greeting, CAPABILITY,
    the command, the forward fields) or not at all."""
    with connect(d, how) as c:
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
        expect_offered(d, "haproxy-ssl" if ssl_flag else "haproxy-plain", False,
                       "default, haproxy ssl=%s" % ssl_flag)
    expect_offered(d, "plain", False, "default, plaintext from login_trusted_networks")


def proxy_trust_haproxy(d):
    expect_offered(d, "haproxy-ssl", True, "trust haproxy, haproxy ssl=1")
    expect_offered(d, "haproxy-plain", False, "trust haproxy, haproxy ssl=0")
    expect_offered(d, "plain", False, "trust haproxy, plaintext from login_trusted_networks")


def proxy_trust_networks(d):
    expect_offered(d, "plain", True, "trust trusted_networks, plaintext from a trusted network")


# (server name, environment, case): one server each, trusting 127.0.0.1
TRUSTING = (
    ("haproxy", {"CLIENTID_IMAP_TRUST_PROXY_TLS": "haproxy"}, proxy_trust_haproxy),
    ("trustednet", {"CLIENTID_IMAP_TRUST_PROXY_TLS": "trusted_networks"},
     proxy_trust_networks),
)


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


def run(r, dc, a):
    """The default's case on dc, then a server per TRUSTING entry (returned
    for the log check) and a refused start per INVALID entry."""
    r.case("settings: default trusts neither HAProxy TLS nor trusted networks",
           proxy_default, dc)
    servers = []
    for name, env, fn in TRUSTING:
        d = Dovecot(a.plugin_dir, name, keep=a.keep, env=env, trusted_networks="127.0.0.1",
                    haproxy=True)
        servers.append(d)
        if not dovecot_suite.start(r, "start dovecot (%s)" % name, d):
            continue
        r.case("settings: CLIENTID_IMAP_TRUST_PROXY_TLS=%s" % env[
            "CLIENTID_IMAP_TRUST_PROXY_TLS"], fn, d)
        if name == "haproxy":
            r.case("settings: visible in doveconf -n", settings_doveconf, d)
    for env in INVALID:
        r.case("settings: invalid %s refuses to start" % sorted(env)[0], settings_invalid,
               a.plugin_dir, a.keep, env)
    return servers
