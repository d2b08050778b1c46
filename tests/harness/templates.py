"""Server configurations as files: templates/<name>, with @key@ filled in.

The files keep the servers' own syntax (braces, %-variables, $-expansions)
untouched; only @key@ (lower case, digits, _) is replaced, and a key left
without a value is an error, not an empty string.
"""

import os
import re

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
_KEY = re.compile(r"@([a-z0-9_]+)@")


def fill(text, **values):
    """text with every @key@ replaced by str(values[key])."""
    def one(m):
        if m.group(1) not in values:
            raise KeyError("template key @%s@ has no value" % m.group(1))
        return str(values[m.group(1)])
    return _KEY.sub(one, text)


def render(template, **values):
    """templates/<template> filled with values."""
    with open(os.path.join(DIR, template), encoding="utf-8") as f:
        return fill(f.read(), **values)
