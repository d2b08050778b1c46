"""How a test script reports: TAP-style case lines and the summary's records.

Three styles, all recorded through results.record():
- Runner.case(name, fn): one "ok N - name" line, and one record, per case.
- verify()/expect(): one "  ok: what" line, and one record, per check; a
  failure raises Failure for the caller's group to report.
- Tally.check(ok, what): one PASS/FAIL line, and one record, per check; the
  run goes on after a failure.
Exit status of a script: 0 all passed, 1 a failure, SKIP (77) when it cannot
run here (skip_exit prints why first).
"""

import traceback

from harness.results import record

SKIP = 77


class Failure(AssertionError):
    """A check that did not hold: reported without a traceback."""


class Skip(Exception):
    """Raised by a case that cannot run here; the message says why."""


def check(cond, msg):
    """Raises Failure(msg) unless cond."""
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    """Raises Failure naming what, got and want, unless got == want."""
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


def verify(cond, what):
    """check(), then prints and records the check as passed."""
    check(cond, what)
    print(f"  ok: {what}")
    record("PASS", what)


def expect(reply, code, what):
    """verify() for an smtplib reply (code, text): the text on success."""
    got = reply[0]
    text = reply[1].decode("latin-1") if isinstance(reply[1], bytes) else reply[1]
    if got != code:
        raise Failure(f"{what}: expected {code}, got {got} {text!r}")
    print(f"  ok: {what} -> {got} {text.splitlines()[0] if text else ''}")
    record("PASS", what)
    return text


def skip_exit(reason):
    """Prints the skip line and returns SKIP, for `return skip_exit(...)`."""
    print("SKIP: " + reason)
    return SKIP


def first_missing(requirements):
    """requirements: (holds, reason) pairs. The reason of the first that does
    not hold, or None: the shared preamble of every suite's main()."""
    for holds, reason in requirements:
        if not holds:
            return reason
    return None


class Tally:
    """Check-and-continue counting (the package test, Thunderbird): each
    check prints one PASS or FAIL line and is recorded; a failure does not
    stop the run. passed and failed are the counts so far."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, why=""):
        """Counts, prints and records one check; returns ok."""
        if ok:
            self.passed += 1
            print("PASS: " + what, flush=True)
        else:
            self.failed += 1
            print("FAIL: " + what + (" (%s)" % why if why else ""), flush=True)
        record("PASS" if ok else "FAIL", what, why)
        return ok


class Runner:
    """Counts and reports cases; summary() gives the exit status."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.skipped = 0

    def case(self, name, fn, *args):
        self.n += 1
        try:
            fn(*args)
            print("ok %d - %s" % (self.n, name), flush=True)
            record("PASS", name)
        except Skip as e:
            self.skipped += 1
            print("ok %d - %s # SKIP %s" % (self.n, name, e), flush=True)
            record("SKIP", name, e)
        except Exception as e:  # noqa: BLE001 - report every failure as such
            self._failed(name, e, traceback.format_exc())

    def fail(self, name, e, tb=""):
        """Reports a case that failed outside case() (a whole group, a
        server that did not start): one more case, failed."""
        self.n += 1
        self._failed(name, e, tb)

    def _failed(self, name, e, tb):
        self.failed += 1
        print("not ok %d - %s" % (self.n, name), flush=True)
        record("FAIL", name, e)
        for ln in ("%s: %s" % (type(e).__name__, e)).splitlines():
            print("#   " + ln)
        if tb and not isinstance(e, Failure):
            for ln in tb.splitlines():
                print("#   " + ln)

    def summary(self):
        print("# %d cases: %d passed, %d failed, %d skipped" %
              (self.n, self.n - self.failed - self.skipped, self.failed, self.skipped))
        return 1 if self.failed else 0
