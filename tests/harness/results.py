"""Case-level results for make test's final summary (tests/summary).

Every harness reports each case it runs with record(). When the environment
names a results file (CLIENTID_RESULTS, set by make test), one line per case
is appended to it: STATUS <tab> SUITE <tab> CASE <tab> REASON, with STATUS one
of PASS, FAIL or SKIP. Lines are short single writes in append mode, so
harnesses running side by side do not interleave them. Without the variable
nothing is written, and a harness run by hand behaves as before.
"""

import os
import sys

STATUSES = ("PASS", "FAIL", "SKIP")


def _clean(text):
    return " ".join(str(text).split())


def record(status, case, reason="", suite=None):
    """Appends one case's result to $CLIENTID_RESULTS (when set). suite
    defaults to $CLIENTID_SUITE, else the running script's name."""
    if status not in STATUSES:
        raise ValueError("status must be one of %s" % (STATUSES,))
    path = os.environ.get("CLIENTID_RESULTS")
    if not path:
        return
    if suite is None:
        suite = os.environ.get("CLIENTID_SUITE") or \
            os.path.splitext(os.path.basename(sys.argv[0]))[0]
    line = "%s\t%s\t%s\t%s\n" % (status, _clean(suite), _clean(case), _clean(reason))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    finally:
        os.close(fd)
