"""A second, independent IMAP oracle: draft-yu-imap-client-id's ABNF, as
DESIGN.md section 1 reads it, written in Python with no code shared with
the C validator (core/grammar.c) that the plugin calls.

    clientid        = tag SP "CLIENTID" SP client-id-type SP client-id-token
    client-id-type  = 1*16 (ALPHA / DIGIT / "-")
    client-id-token = 1*128 VCHAR          ; raw 0x21-0x7E, never a literal

The verb is case-insensitive; exactly one SP separates the parts; nothing
may follow the token but the line's CR. The hostile tests expect this
oracle's verdict from Dovecot, and count every line on which it and the C
validator's verdict (verdict-cli) disagree as a failure.
"""

import os
import re

_IMAP = re.compile(rb"[^ ]+ [Cc][Ll][Ii][Ee][Nn][Tt][Ii][Dd] "
                   rb"[A-Za-z0-9-]{1,16} [\x21-\x7e]{1,128}\r?\Z")


def imap_ok(line):
    """line: one IMAP line without its LF (it may end in the CR of CRLF).
    True when the server must answer OK, False when BAD."""
    return _IMAP.match(line) is not None


def check_corpus(corpus_dir):
    """The hand-labelled corpus (tests/corpus/imap) against this oracle: a
    y_ file is one line that must be accepted; every line of an n_ file must
    be rejected (a bare LF splits it). Returns the names that disagree."""
    wrong = []
    for name in sorted(os.listdir(corpus_dir)):
        if not name.startswith(("y_", "n_")):
            continue
        with open(os.path.join(corpus_dir, name), "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if name.startswith("y_"):
            ok = len(lines) == 1 and imap_ok(lines[0])
        else:
            ok = not any(imap_ok(ln) for ln in lines)
        if not ok:
            wrong.append(name)
    return wrong
