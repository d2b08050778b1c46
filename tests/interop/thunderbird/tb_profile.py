"""A Thunderbird profile that needs no UI, and what it trusts.

- TestCA: a throwaway CA and server certificates with a subjectAltName
  (NSS refuses a certificate without one for the host name it dialled).
- make_profile(): prefs for one IMAP account and its SMTP server, the
  CLIENTID prefs, the test CA in cert9.db, and the saved password in
  logins.json, encrypted with NSS SDR through Thunderbird's own libnss3
  (the system NSS is older) in a child process, so no NSS state stays in
  ours. Nothing asks for a password then.
- Catcher: the HTTP(S) proxy every profile points at. It answers 403 and
  records every request: anything it receives was an attempt to leave
  the machine.

`python3 tb_profile.py sdr PROFILE` is the child: it reads "user\\npassword"
on stdin and prints the two base64 SDR blobs.
"""

import base64
import ctypes
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import uuid

TB_LIB = "/usr/lib/thunderbird"
HOST = "localhost"  # what Thunderbird dials; the certificate names it


# --------------------------------------------------------------------------
# Certificates

class TestCA:
    def __init__(self, directory):
        self.dir = directory
        self.key = os.path.join(directory, "ca.key")
        self.pem = os.path.join(directory, "ca.pem")
        # Debian's openssl.cnf makes a -x509 request a CA (v3_ca:
        # basicConstraints critical CA:TRUE), which is what NSS wants
        self._run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                   "-subj", "/CN=clientid test CA %s" % uuid.uuid4().hex[:8],
                   "-keyout", self.key, "-out", self.pem])

    @staticmethod
    def _run(cmd):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd[:2]), p.stderr.strip()[-500:]))

    def make_cert(self, directory, cn):
        """The harnesses' make_cert(directory, cn): key.pem and cert.pem in
        directory, signed by this CA, for HOST and 127.0.0.1 whatever cn."""
        key = os.path.join(directory, "key.pem")
        cert = os.path.join(directory, "cert.pem")
        csr = os.path.join(directory, "server.csr")
        ext = os.path.join(directory, "server.ext")
        with open(ext, "w") as f:
            f.write("[v3]\nbasicConstraints = CA:FALSE\n"
                    "keyUsage = critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = DNS:%s,IP:127.0.0.1\n" % HOST)
        self._run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                   "-subj", "/CN=" + HOST, "-keyout", key, "-out", csr])
        self._run(["openssl", "x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key,
                   "-CAcreateserial", "-days", "2", "-extfile", ext, "-extensions", "v3",
                   "-out", cert])


# --------------------------------------------------------------------------
# The proxy that catches every attempt to go out

class Catcher:
    def __init__(self):
        self.requests = []
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _refuse(self):
                catcher.requests.append("%s %s" % (self.command, self.path))
                self.send_error(403, "clientid test: no network")

            do_GET = do_POST = do_PUT = do_HEAD = do_CONNECT = do_OPTIONS = _refuse

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def split(self):
        """(how many requests were for the catcher itself, i.e. Remote
        Settings as services.settings.server says; the others: requests for
        another host)."""
        own = ("127.0.0.1:%d" % self.port, "localhost:%d" % self.port)
        mine = [r for r in self.requests
                if r.split()[1].split("://", 1)[-1].split("/", 1)[0] in own]
        return len(mine), [r for r in self.requests if r not in mine]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# The profile

def _js(v):
    return json.dumps(v)


def account_prefs(acct):
    """prefs for acct: a dict with user, email, imap_port, smtp_port, tls
    ("starttls" or "implicit"), token (or None: CLIENTID off), and
    optionally imap_host, smtp_host (default HOST)."""
    imap_socket = 2 if acct["tls"] == "starttls" else 3
    on = acct["token"] is not None
    return {
        "mail.accountmanager.accounts": "account1,account2",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": "server2",
        "mail.account.account1.identities": "id1",
        "mail.account.account1.server": "server1",
        "mail.account.account2.server": "server2",
        "mail.identity.id1.fullName": "Anna Test",
        "mail.identity.id1.useremail": acct["email"],
        "mail.identity.id1.smtpServer": "smtp1",
        "mail.identity.id1.valid": True,
        "mail.identity.id1.fcc": False,  # no copy to Sent: the SMTP step alone
        "mail.identity.id1.compose_html": False,
        "mail.server.server1.type": "imap",
        "mail.server.server1.name": "clientid test",
        "mail.server.server1.hostname": acct.get("imap_host", HOST),
        "mail.server.server1.port": acct["imap_port"],
        "mail.server.server1.socketType": imap_socket,
        "mail.server.server1.authMethod": 3,
        "mail.server.server1.userName": acct["user"],
        # the test logs in when it says so (a modal prompt at start-up
        # would block Marionette)
        "mail.server.server1.login_at_startup": False,
        "mail.server.server1.check_new_mail": False,
        "mail.server.server1.clientidEnabled": on,
        "mail.server.server1.clientid": acct["token"] or "",
        "mail.server.server2.type": "none",
        "mail.server.server2.hostname": "Local Folders",
        "mail.server.server2.name": "Local Folders",
        "mail.server.server2.userName": "nobody",
        "mail.smtpservers": "smtp1",
        "mail.smtp.defaultserver": "smtp1",
        "mail.smtpserver.smtp1.hostname": acct.get("smtp_host", HOST),
        "mail.smtpserver.smtp1.port": acct["smtp_port"],
        "mail.smtpserver.smtp1.try_ssl": 2 if acct["tls"] == "starttls" else 3,
        "mail.smtpserver.smtp1.authMethod": 3,
        "mail.smtpserver.smtp1.username": acct["user"],
        "mail.smtpserver.smtp1.clientidEnabled": on,
        "mail.smtpserver.smtp1.clientid": acct["token"] or "",
    }


def quiet_prefs(catcher_port, marionette_port):
    now = int(time.time())
    prefs = {
        # online, whatever the machine's network looks like
        "offline.startup_state": 2,
        "offline.autoDetect": False,
        "network.manage-offline-status": False,
        # every HTTP(S) request to the catcher, which counts it
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": catcher_port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": catcher_port,
        "network.proxy.share_proxy_settings": True,
        "network.proxy.no_proxies_on": "",
        "network.proxy.allow_hijacking_localhost": True,
        "network.connectivity-service.enabled": False,
        "network.captive-portal-service.enabled": False,
        "network.dns.disablePrefetch": True,
        "network.prefetch-next": False,
        "security.OCSP.enabled": 0,
        "security.remote_settings.crlite_filters.enabled": False,
        "services.settings.server": "http://127.0.0.1:%d/v1" % catcher_port,
        "app.update.enabled": False,
        "app.update.auto": False,
        "app.update.checkInstallTime": False,
        "extensions.update.enabled": False,
        "extensions.getAddons.cache.enabled": False,
        "extensions.systemAddon.update.enabled": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "toolkit.telemetry.enabled": False,
        "toolkit.telemetry.unified": False,
        "browser.safebrowsing.malware.enabled": False,
        "browser.safebrowsing.phishing.enabled": False,
        "browser.safebrowsing.downloads.enabled": False,
        "browser.safebrowsing.provider.mozilla.updateURL": "",
        "browser.region.network.url": "",
        "browser.region.update.enabled": False,
        "geo.enabled": False,
        "mail.shell.checkDefaultClient": False,
        "mail.provider.suppress_dialog_on_startup": True,
        "mail.startup.enabledMailCheckOnce": True,
        "mailnews.start_page.enabled": False,
        "mail.rights.version": 1,
        "mail.inappnotifications.enabled": False,
        "mail.spotlight.firstRunDone": True,
        "mail.winsearch.firstRunDone": True,
        "mailnews.auto_config.addons_url": "",
        "mail.cloud_files.enabled": False,
        "mail.biff.show_alert": False,
        "mail.biff.play_sound": False,
        "mail.tabs.drawInTitlebar": False,
        "mailnews.database.global.indexer.enabled": False,
        "calendar.timezone.useSystemTimezone": True,
        "marionette.port": marionette_port,
        "browser.dom.window.dump.enabled": True,
        "toolkit.startup.max_resumed_crashes": -1,
        "browser.sessionstore.resume_from_crash": False,
    }
    for timer in ("addon-background-update-timer", "background-update-timer",
                  "blocklist-background-update-timer", "xpi-signature-verification",
                  "rs-experiment-loader-timer", "search-engine-update-timer",
                  "region-update-timer", "telemetry_modules_ping",
                  "services-settings-poll-changes"):
        prefs["app.update.lastUpdateTime." + timer] = now
    return prefs


def sdr_encrypt(profile, user, password):
    """(encryptedUsername, encryptedPassword) under profile's key4.db."""
    env = dict(os.environ, LD_LIBRARY_PATH=TB_LIB)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "sdr", profile],
                       input="%s\n%s\n" % (user, password), capture_output=True, text=True,
                       env=env, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("SDR encryption failed: " + p.stderr.strip()[-500:])
    u, pw = p.stdout.split()
    return u, pw


def _sdr_child(profile):
    user, password = sys.stdin.read().split("\n")[:2]

    class SECItem(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("data", ctypes.c_void_p),
                    ("len", ctypes.c_uint)]

    nss = ctypes.CDLL(os.path.join(TB_LIB, "libnss3.so"))
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    if nss.NSS_InitReadWrite(("sql:" + profile).encode()) != 0:
        raise SystemExit("NSS_InitReadWrite failed")
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    nss.PK11_Authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    slot = nss.PK11_GetInternalKeySlot()
    if nss.PK11_Authenticate(slot, 1, None) != 0:
        raise SystemExit("PK11_Authenticate failed")
    nss.PK11SDR_Encrypt.argtypes = [ctypes.POINTER(SECItem)] * 3 + [ctypes.c_void_p]
    nss.SECITEM_FreeItem.argtypes = [ctypes.POINTER(SECItem), ctypes.c_int]
    out = []
    for text in (user, password):
        raw = text.encode()
        buf = ctypes.create_string_buffer(raw, len(raw))
        keyid, data, result = SECItem(0, None, 0), SECItem(0, ctypes.cast(buf, ctypes.c_void_p),
                                                          len(raw)), SECItem(0, None, 0)
        if nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(result),
                               None) != 0:
            raise SystemExit("PK11SDR_Encrypt failed")
        out.append(base64.b64encode(ctypes.string_at(result.data, result.len)).decode())
        nss.SECITEM_FreeItem(ctypes.byref(result), 0)
    nss.PK11_FreeSlot(slot)
    nss.NSS_Shutdown()
    print(" ".join(out))


def make_profile(profile, trust, acct, password, catcher_port, marionette_port):
    """A fresh profile folder for acct (see account_prefs); trust: a list of
    (PEM file, certutil trust flags): "C,," for a CA, "P,," for a server's
    own self-signed certificate."""
    os.makedirs(profile, mode=0o700)
    prefs = quiet_prefs(catcher_port, marionette_port)
    prefs.update(account_prefs(acct))
    with open(os.path.join(profile, "user.js"), "w") as f:
        for k, v in sorted(prefs.items()):
            f.write("user_pref(%s, %s);\n" % (_js(k), _js(v)))
    db = "sql:" + profile
    cmds = [["certutil", "-N", "--empty-password", "-d", db]]
    for i, (pem, flags) in enumerate(trust):
        cmds.append(["certutil", "-A", "-t", flags, "-n", "clientid-test-%d" % i, "-i", pem,
                     "-d", db])
    for cmd in cmds:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd[:2]), p.stderr.strip()))
    eu, ep = sdr_encrypt(profile, acct["user"], password)
    now = int(time.time() * 1000)
    logins = []
    for i, scheme in enumerate(("imap", "smtp"), 1):
        origin = "%s://%s" % (scheme, acct.get(scheme + "_host", HOST))
        logins.append({
            "id": i, "hostname": origin, "httpRealm": origin, "formSubmitURL": None,
            "usernameField": "", "passwordField": "", "encryptedUsername": eu,
            "encryptedPassword": ep, "guid": "{%s}" % uuid.uuid4(), "encType": 1,
            "timeCreated": now, "timeLastUsed": now, "timePasswordChanged": now,
            "timesUsed": 1})
    with open(os.path.join(profile, "logins.json"), "w") as f:
        json.dump({"nextId": 3, "logins": logins, "potentiallyVulnerablePasswords": [],
                   "dismissedBreachAlertsByLoginGUID": {}, "version": 3}, f)
    return profile


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "sdr":
    _sdr_child(sys.argv[2])
