#!/usr/bin/env python3
"""Hostile clients against the live servers: a real Dovecot with the clientid
login plugin and the patched Exim, started by the harness package's
fixtures (harness.dovecot, harness.exim).

usage: hostile.py --plugin-dir DIR --verdict PATH [--exim PATH] [--full]
                  [--lines N] [--seed N] [--skip REASON] [--keep]

Phases, each against both servers:
  random     random and mutated CLIENTID lines (over TLS, a tenth in clear);
  slowloris  lines sent a few bytes at a time over many connections at once,
             and half lines left hanging;
  huge       1 MB lines (with and without the verb, of NULs, in clear and TLS);
  nul        NUL bytes in every part of a line;
  starttls   CLIENTID before, after and pipelined with STARTTLS in one packet.
Every reply is checked against what an oracle says of that line: for IMAP
the ABNF written again in Python (abnf.py, checked first against the
hand-labelled corpus), and every IMAP line on which the core validator
(verdict-cli) disagrees with it is a failure; for SMTP the core validator
(the rules of tests/corpus/README.md, the replies of DESIGN.md section 1),
which shares no code with the Exim patch's own check. After each phase
both servers must still be running and serve a good login (CLIENTID, then
LOGIN / AUTH PLAIN). At the end no accepted token
may appear in any log, Exim's panic log must be empty and Dovecot's log must
hold no panic, fatal error or killed process.

The Exim runs with smtp_max_synprot_errors, smtp_max_unknown_commands and
smtp_accept_max_nonmail raised, so that one session takes many bad lines, and
smtp_accept_max (20 connections by default) raised for the slow clients; the
"limits" phase checks the default limits on a second Exim. With --full,
Dovecot's default_process_limit (100 login processes) is raised likewise.

The modules beside this script: generate.py (the lines), oracle.py (what
each must get, and the tally), imap_clients.py and smtp_clients.py (the raw
clients and the random phase's workers), phases.py and starttls.py (the
phases), servers.py (the Exims and the log checks), abnf.py (the ABNF).

Exit status: 0 pass, 1 fail, 77 skipped (with the reason printed).
"""


import argparse
import os
import random
import sys
import time
import traceback

import abnf
from generate import Gen, load_corpus_args
from harness import exim as ex
from harness.dovecot import DOVECOT, PLUGIN_FILE, Dovecot
from harness.results import record
from harness.runner import first_missing, skip_exit
from imap_clients import Imap
from oracle import Tally, Verdicts
from phases import phase_huge, phase_limits, phase_nul, phase_random, phase_slowloris
from servers import check_logs, start_exim
from smtp_clients import Smtp
from starttls import phase_starttls_imap, phase_starttls_smtp

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--verdict", default="")
    ap.add_argument("--exim", default="")
    ap.add_argument("--corpus", default=os.path.join(REPO, "tests", "corpus"))
    ap.add_argument("--full", action="store_true",
                    help="the long run: 100,000 lines, 150 slow clients over 60 s")
    ap.add_argument("--lines", type=int, default=0,
                    help="random lines, both servers together (default 10000; --full 100000)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--phases", default="random,slowloris,huge,nul,starttls,limits",
                    help="comma-separated phases to run")
    ap.add_argument("--skip", default="")
    ap.add_argument("--keep", action="store_true")
    return ap.parse_args()


def exim_binary(a):
    """The patched Exim: --exim, $CLIENTID_EXIM or build-exim's cache."""
    return ex.find_exim(argparse.Namespace(exim=a.exim or None, build_exim=None))


def missing(a, exim_bin):
    """Why the run cannot happen here, or None."""
    return first_missing([
        (not a.skip, a.skip),
        (os.geteuid() == 0, "the hostile-client tests start Dovecot and Exim and need root"),
        (os.path.isfile(os.path.join(a.plugin_dir, PLUGIN_FILE)),
         "%s not built in %r" % (PLUGIN_FILE, a.plugin_dir)),
        (os.access(DOVECOT, os.X_OK), "%s not found" % DOVECOT),
        (exim_bin and os.access(exim_bin, os.X_OK),
         "patched Exim not built (exim-module/build-exim fast, or CLIENTID_EXIM)"),
        (os.access(a.verdict, os.X_OK), "verdict-cli not built (%r)" % a.verdict),
    ])


def run_phases(a, imap, smtp, exims, verdicts, gens, tally, lines, slow):
    """Every phase --phases names, each followed by a good login on both
    servers and its line of totals."""
    phases = [
        ("random", lambda: phase_random(imap, smtp, verdicts, gens, lines, tally)),
        ("slowloris", lambda: phase_slowloris(imap, smtp, verdicts, gens[0], tally, *slow)),
        ("huge", lambda: phase_huge(imap, smtp, tally)),
        ("nul", lambda: phase_nul(imap, smtp, verdicts, tally)),
        ("starttls", lambda: (phase_starttls_imap(imap, tally),
                              phase_starttls_smtp(smtp, tally))),
        ("limits", lambda: phase_limits(exims[1], tally)),
    ]
    for name, fn in phases:
        if name not in a.phases.split(","):
            print("# phase %-9s not run (--phases)" % name)
            continue
        t = time.time()
        fn()
        imap.good_login(tally, name)
        smtp.good_login(tally, name)
        c = tally.counts.get(name, [0, 0])
        print("# phase %-9s %6d checks passed, %d failed (%.1f s)" % (name, c[0], c[1],
                                                                     time.time() - t))
        sys.stdout.flush()


def run(a, exim_bin, seed, lines, slow, tally):
    """Starts the servers, runs the oracle check, the phases and the log
    checks; every failure, the run's own included, lands in tally."""
    corpus_args = load_corpus_args(a.corpus)
    gens = [Gen(random.Random(seed + k), corpus_args) for k in range(4)]
    verdicts = Verdicts(a.verdict)
    dc = Dovecot(a.plugin_dir, "hostile", keep=a.keep,
                 extra_conf="default_process_limit = 1000\n" if a.full else "")
    exims = []
    try:
        wrong = abnf.check_corpus(os.path.join(a.corpus, "imap"))
        tally.expect("oracle", not wrong, "abnf.py disagrees with the IMAP corpus: %s" % wrong)
        dc.start()
        exims.append(start_exim(exim_bin, limits=True))
        exims.append(start_exim(exim_bin, limits=False))
        imap, smtp = Imap(dc), Smtp(exims[0])
        imap.good_login(tally, "start")
        smtp.good_login(tally, "start")
        run_phases(a, imap, smtp, exims, verdicts, gens, tally, lines, slow)
        tokens = set()
        for g in gens:
            tokens |= g.fresh_tokens
        dc.stop()
        for e in exims:
            e.stop()
        check_logs(dc, exims, tokens, tally, random.Random(seed))
        tally.expect("oracle", not verdicts.disagree,
                     "the C validator and abnf.py disagree on %d IMAP lines, first %r"
                     % (len(verdicts.disagree), verdicts.disagree[:3]))
    except (Exception, KeyboardInterrupt):  # noqa: BLE001
        traceback.print_exc()
        tally.add("harness", False, "the run stopped early")
    finally:
        verdicts.close()
        dc.cleanup()
        for e in exims:
            e.stop()
            e.cleanup(a.keep)


def report(tally, lines, seconds, seed):
    """Prints the counts, notes and failures, records one result per phase;
    the exit status."""
    for k in sorted(tally.stats):
        print("# count %-62s %6d" % (k, tally.stats[k]))
    for n in tally.notes:
        print("# note: " + n)
    for f in tally.failures:
        print("FAIL " + f)
    total_ok = sum(c[0] for c in tally.counts.values())
    for name in sorted(tally.counts):
        c = tally.counts[name]
        print("hostile %-9s passed=%d failed=%d" % (name, c[0], c[1]))
        # one result per phase: its thousands of line checks are its detail
        record("FAIL" if c[1] else "PASS", "phase " + name,
               "%d of %d checks failed" % (c[1], c[0] + c[1]) if c[1] else "")
    print("BENCH hostile lines=%d checks=%d failed=%d seconds=%.0f seed=%d" % (
        lines, total_ok + tally.failed(), tally.failed(), seconds, seed))
    if tally.failed():
        print("FAIL: hostile clients: %d of %d checks failed" % (tally.failed(),
                                                                 total_ok + tally.failed()))
        return 1
    print("PASS: hostile clients: all %d checks passed; Dovecot and Exim stayed up" % total_ok)
    return 0


def main():
    a = parse_args()
    exim_bin = exim_binary(a) if not a.skip else ""
    why = missing(a, exim_bin)
    if why:
        return skip_exit(why)
    lines = a.lines or (100000 if a.full else 10000)
    slow = (150, 60.0) if a.full else (24, 6.0)
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    print("# hostile: seed %d (--seed to repeat), %d random lines, %d slow clients per server"
          % (seed, lines, slow[0]))
    tally = Tally()
    t0 = time.time()
    run(a, exim_bin, seed, lines, slow, tally)
    return report(tally, lines, time.time() - t0, seed)


if __name__ == "__main__":
    sys.exit(main())
