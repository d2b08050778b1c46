"""What reaches the logs: every error path that logs command text, with
tokens that must not leak (Exim.check_logs() looks for each in clear)."""

import time

from harness.exim import Exim
from harness.runner import expect, verify
from harness.smtp import b64


def group_logs(opts):
    """Every error path that logs command text, with tokens that must not leak."""
    with Exim(opts.exim).running(opts.keep) as ex:
        toks = {
            "clear": "cleartext-secret-91",
            "malformed": "malformed-secret-92",
            "dup": "duplicate-secret-93",
            "after-auth": "afterauth-secret-94",
            "nul": "nulbyte-secret-95",
        }
        s = ex.plain()
        s.ehlo("x")
        expect(ex.clientid(s, "UUID", toks["clear"]), 500, "CLIENTID in clear")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["malformed"]))
        expect(s.docmd("CLIENTID", f"UUID {toks['malformed']} extra"), 501, "extra argument")
        expect(ex.clientid(s, "UUID", "first-secret-90"), 250, "CLIENTID")
        expect(ex.clientid(s, "UUID", toks["dup"]), 503, "duplicate")
        s.quit()
        s = ex.starttls()
        expect(s.docmd("AUTH", "PLAIN " + b64("\0alice\0wonderland")), 235, "AUTH")
        expect(ex.clientid(s, "UUID", toks["after-auth"]), 503, "after AUTH")
        s.quit()
        s = ex.starttls()
        ex.tokens.add(("UUID", toks["nul"]))
        s.send(f"CLIENTID UUID {toks['nul']}\0\r\n".encode())
        expect(s.getreply(), 501, "NUL byte")
        s.quit()
        # Too many errors: the drop line repeats the last command.
        s = ex.starttls()
        for i in range(4):
            ex.tokens.add(("UUID", f"toomany-secret-{i}x"))
            r = s.docmd("CLIENTID", f"UUID toomany-secret-{i}x y")
        verify(r[0] == 501, "synprot errors counted, connection dropped with 501")
        s.close()
        # Pipelined CLIENTID without PIPELINING: a sync error logs next input.
        s = ex.starttls()
        ex.tokens.add(("UUID", "pipelined-secret-96"))
        s.send(b"NOOP\r\nCLIENTID UUID pipelined-secret-96\r\n")
        r = s.getreply()
        verify(r[0] in (250, 554), f"pipelined input handled ({r[0]})")
        s.close()
        time.sleep(0.5)
        log = ex.mainlog()
        verify("CLIENTID UUID ***" in log, "redacted form 'CLIENTID UUID ***' is logged")
