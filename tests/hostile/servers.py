"""The servers of the hostile run and the last checks on their logs."""

from harness import exim as ex
from harness.templates import render

MAX_TOKEN_SEARCH = 3000


def start_exim(binary, limits):
    """A started harness Exim; with limits, the main options of
    templates/hostile-exim-limits.conf raised so that one session takes
    many bad lines and many slow clients connect at once."""
    e = ex.Exim(binary)
    if limits:
        limits_conf = render("hostile-exim-limits.conf")
        with open(e.conf) as f:
            conf = f.read()
        # main options, before the first ACL setting of the harness's file
        conf = conf.replace("\nacl_smtp_clientid = ",
                            "\n" + limits_conf + "acl_smtp_clientid = ", 1)
        if limits_conf not in conf:
            raise RuntimeError("the Exim harness's configuration changed: no acl_smtp_clientid")
        with open(e.conf, "w") as f:
            f.write(conf)
    return e.start()


def check_logs(dc, exims, tokens, tally, rng):
    """The "logs" checks once both servers stopped: Dovecot's log has
    imap-login lines and no panic, fatal error or killed process; no Exim
    panic log; no accepted token (a sample of at most MAX_TOKEN_SEARCH,
    drawn with rng) in any log."""
    dlog = dc.logs_bytes()
    tally.expect("logs", b"imap-login:" in dlog, "no imap-login lines in Dovecot's log")
    for bad in (b"Panic:", b"Fatal:", b"killed with signal", b"dumped core"):
        tally.expect("logs", bad not in dlog, "Dovecot log holds %r" % bad)
    for e in exims:
        logs = e.logs()
        tally.expect("logs", not logs.get("paniclog"), "Exim paniclog: %r" %
                     logs.get("paniclog", b"")[:500])
    # the logs are really there and really read
    tally.expect("logs", b"CLIENTID" in exims[0].logs().get("mainlog", b""),
                 "Exim mainlog has no CLIENTID lines (log_selector = +all)")
    logs = [dlog] + [d for e in exims for d in e.logs().values()]
    # each search reads every log: a sample bounds the time of long runs
    sample = sorted(tokens)
    if len(sample) > MAX_TOKEN_SEARCH:
        sample = rng.sample(sample, MAX_TOKEN_SEARCH)
    leaked = [t for t in sample if any(t in d for d in logs)]
    tally.expect("logs", not leaked, "accepted tokens found in logs: %r" % leaked[:5])
    print("# log check: %d of %d accepted random tokens searched for in %d logs (%d kB)" % (
        len(sample), len(tokens), len(logs), sum(len(d) for d in logs) // 1024))
