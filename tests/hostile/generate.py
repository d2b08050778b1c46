"""What the hostile clients send: random and mutated CLIENTID arguments from
a seeded generator, and the grammar corpus's arguments to mutate."""

import os

TYPE_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
VCHARS = bytes(range(0x21, 0x7F))
# bytes that sit on the grammar's edges
EDGE_BYTES = b"\x00 \t\r\x0b\x0c\x7f\x80\xff\x01\x1f!~{}\"()%*\\[]-_.+:;=,"
MAX_LINE = 400           # random lines stay below the plugin's 512-byte limit


class Gen:
    """Random and mutated CLIENTID arguments, from a seeded generator."""

    def __init__(self, rng, corpus_args):
        self.rng = rng
        self.corpus_args = corpus_args
        self.fresh_tokens = set()   # accepted random tokens: must never be logged

    def type_(self):
        r = self.rng
        if r.random() < 0.3:
            return r.choice([b"UUID", b"uuid", b"IMEI", b"X-Vendor-1", b"-"])
        n = r.choice([1, 16, 17]) if r.random() < 0.2 else r.randint(1, 12)
        return bytes(r.choice(TYPE_CHARS) for _ in range(n))

    def token(self):
        r = self.rng
        n = r.choice([1, 127, 128, 129]) if r.random() < 0.2 else r.randint(1, 48)
        return bytes(r.choice(VCHARS) for _ in range(n))

    def mutate(self, b):
        r = self.rng
        b = bytearray(b)
        for _ in range(r.randint(1, 3)):
            op = r.randrange(8)
            pos = r.randint(0, len(b))
            if op == 0 and b:
                b[min(pos, len(b) - 1)] = r.choice(EDGE_BYTES)
            elif op == 1:
                b[pos:pos] = bytes([r.choice(EDGE_BYTES)])
            elif op == 2 and b:
                del b[min(pos, len(b) - 1)]
            elif op == 3:
                b[pos:pos] = b" " * r.randint(1, 3)
            elif op == 4:
                b += r.choice([b" ", b"\t", b" \t ", b"\r", b"\x0b", b" x"])
            elif op == 5:
                b[pos:] = b[pos:pos + r.randint(0, 4)]
            elif op == 6:
                b += bytes(r.choice(VCHARS) for _ in range(r.randint(1, 140)))
            else:
                b = bytearray(b.swapcase())
        return bytes(b).replace(b"\n", b"")[:MAX_LINE]

    def args(self):
        """(args, fresh): fresh when built from new random type and token."""
        r = self.rng
        x = r.random()
        if x < 0.4:
            return self.type_() + b" " + self.token(), True
        if x < 0.85:
            return self.mutate(self.type_() + b" " + self.token()), False
        return self.mutate(r.choice(self.corpus_args)), False

    def verb(self):
        """The verb, rarely mutated (then not a CLIENTID command at all)."""
        r = self.rng
        v = r.choice([b"CLIENTID", b"clientid", b"ClientId"])
        if r.random() < 0.03:
            m = self.mutate(v).replace(b" ", b"") or b"X"
            return m, m.upper() != b"CLIENTID"
        return v, False

    def ending(self):
        return b"\n" if self.rng.random() < 0.1 else b"\r\n"


def load_corpus_args(corpus_dir):
    """The argument part of every line of the grammar corpus."""
    out = []
    for proto in ("imap", "smtp"):
        d = os.path.join(corpus_dir, proto)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read().split(b"\n", 1)[0].rstrip(b"\r")
            if proto == "imap":
                data = data.split(b" ", 1)[-1]
            out.append(data[9:] if data[:8].upper() == b"CLIENTID" else data)
    return [a for a in out if a]

