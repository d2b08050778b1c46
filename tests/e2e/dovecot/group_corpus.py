"""Group corpus: the grammar corpus (tests/corpus/imap/), each file replayed
verbatim on its own implicit-TLS connection."""

import os

from harness.dovecot_suite import check_alive
from harness.imap import OK_REPLY, Raw
from harness.runner import check, eq

# used when the corpus folder is empty or not given
BUILTIN_CORPUS = {
    "y_uuid": b"a1 CLIENTID UUID 23bf83be-aad7-46aa-9e0f-39191ccf402f\r\n",
    "y_lowercase_verb_and_type": b"a1 clientid uuid abc\r\n",
    "y_quoted_token": b'a1 CLIENTID T "abc"\r\n',
    "y_brace_token_at_eol": b"a1 CLIENTID T {5}\r\n",
    "y_atom_specials": b'a1 CLIENTID T (){}%*"\\][\r\n',
    "y_type_16": b"a1 CLIENTID ABCDEFGHIJ-12345 x\r\n",
    "y_token_128": b"a1 CLIENTID T " + b"x" * 128 + b"\r\n",
    "n_missing_token": b"a1 CLIENTID UUID\r\n",
    "n_no_args": b"a1 CLIENTID\r\n",
    "n_extra_arg": b"a1 CLIENTID UUID abc def\r\n",
    "n_double_space": b"a1 CLIENTID UUID  abc\r\n",
    "n_tab_separator": b"a1 CLIENTID UUID\tabc\r\n",
    "n_type_17": b"a1 CLIENTID ABCDEFGHIJ-123456 x\r\n",
    "n_type_underscore": b"a1 CLIENTID DEVICE_ID x\r\n",
    "n_token_129": b"a1 CLIENTID T " + b"x" * 129 + b"\r\n",
    "n_token_nul": b"a1 CLIENTID T ab\x00cd\r\n",
    "n_token_del": b"a1 CLIENTID T ab\x7fcd\r\n",
    "n_token_8bit": b"a1 CLIENTID T ab\xc3\xa9cd\r\n",
    "n_token_bare_cr": b"a1 CLIENTID T ab\rcd\r\n",
    "n_token_bare_lf": b"a1 CLIENTID T\nabc\r\n",
}


def load_corpus(corpus_dir):
    """{name: bytes} of the y_* and n_* files in corpus_dir ({} when none)."""
    cases = {}
    if corpus_dir and os.path.isdir(corpus_dir):
        for name in sorted(os.listdir(corpus_dir)):
            if name.startswith(("y_", "n_")):
                with open(os.path.join(corpus_dir, name), "rb") as f:
                    cases[name] = f.read()
    return cases


def replies_before_fence(dc, data):
    """Sends data verbatim on a fresh implicit-TLS connection, then a NOOP as
    a fence: every reply line before the fence, and whether the server
    closed the connection first."""
    replies = []
    with Raw(dc, tls=True, timeout=10) as c:
        c.send(data)
        c.send(b"zfence NOOP\r\n")
        while True:
            try:
                ln = c.line()
            except (EOFError, OSError):
                return replies, True
            if ln.startswith("zfence "):
                eq(ln, "zfence OK NOOP completed.", "fence")
                return replies, False
            replies.append(ln)


def replay(dc, name, data):
    """y_* must get exactly the tagged OK, n_* only BAD (or BYE) with at
    least one BAD; never a continuation, and the server stays up."""
    replies, closed = replies_before_fence(dc, data)
    check(not any(ln.startswith("+") for ln in replies),
          "server sent a continuation: %r" % replies)
    if name.startswith("y_"):
        tag = data.split(b" ", 1)[0].decode("latin-1")
        eq(replies, [tag + " " + OK_REPLY], "reply to %s" % name)
        check(not closed, "connection closed after a valid command")
    else:
        check(replies, "no reply at all")
        for ln in replies:
            parts = ln.split(" ")
            check(len(parts) >= 2 and parts[1] in ("BAD", "BYE"),
                  "non-BAD reply %r among %r" % (ln, replies))
        check(any(ln.split(" ")[1] == "BAD" for ln in replies), "no BAD in %r" % replies)
    check_alive(dc)


def still_up(dc):
    check(dc.alive(), "dovecot master died")
    with Raw(dc, tls=True) as c:
        eq(c.cmd("z1", "NOOP"), ["z1 OK NOOP completed."], "NOOP after corpus")


def run(r, dc, a):
    """One case per corpus file of a.corpus; no other server."""
    cases = load_corpus(a.corpus)
    source = a.corpus
    if not cases:
        cases = BUILTIN_CORPUS
        source = "built-in fallback (tests/corpus/imap/ is empty)"
    print("# corpus: %d cases from %s" % (len(cases), source))
    for name, data in sorted(cases.items()):
        r.case("corpus %s" % name, replay, dc, name, data)
    r.case("server still up after the corpus", still_up, dc)
    return []
