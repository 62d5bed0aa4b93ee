"""Real vCards mended where vobject would misread them, before it parses them.

- A bare comma in a single-text value (``FN:Smith, John``, ``NOTE:a, b``): vCard 3.0 wants it
  escaped, many exporters write it bare, and vobject keeps only the text before it
  (skarim/vobject#140). Such commas are escaped, so the value arrives whole; list-valued
  properties (CATEGORIES) and structured ones (N, ADR, ORG) keep theirs as separators.
- A quoted-printable soft line break (Android's vCard 2.1: ``=`` ends the line and the value goes
  on at the next line's first column): joined back into one line, which vobject can read.
- Base64 data the other ways it is written: vCard 2.1's lines unindented up to a blank line
  (vobject takes each for a property), and a ``data:`` URI inside a value marked base64 (some
  CardDAV clients; vobject failed the whole file on its "padding"). Both become one plain value.
- A text value too long for any contact (MAX_TEXT_CHARS) is refused here, before vobject reads it.

Each logical line stays on the physical line it started on (blank lines fill the gap), so a parse
error still names the line of the file.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ..errors import InputTooLarge

_STRUCTURED_OR_LIST = frozenset({"N", "ADR", "ORG", "CATEGORIES", "GEO", "BEGIN", "END", "VERSION"})
_BASE64 = re.compile(r"[A-Za-z0-9+/]+=*")
_DATA_URI_PREFIX = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)
_BARE_COMMA = re.compile(r"(?<!\\)((?:\\\\)*),")
# vobject reads a text value a character at a time in Python (4 million took 6 s): a longer one is
# no contact's, and is refused before it is read.
MAX_TEXT_CHARS = 1_000_000


def mended(text: str) -> str:
    from vobject.base import ParseError, getLogicalLines, parseLine

    out: list[str] = []
    base64_open = False
    for line, start in getLogicalLines(io.StringIO(text), allowQP=True):
        line = line.replace("=\n", "")  # the only newline getLogicalLines leaves is a soft break's
        if base64_open and _BASE64.fullmatch(line):
            out[-1] += line  # vCard 2.1's base64 goes on unindented to a blank line
            continue
        base64_open = False
        try:
            name, params, value, _ = parseLine(line)
        except ParseError:
            pass  # left for vobject to report
        else:
            if _base64(params):
                base64_open = True
                prefix = _DATA_URI_PREFIX.match(value)
                if prefix:  # a data: URI given as base64 data too
                    line = line[: len(line) - len(value)] + value[prefix.end() :]
            elif len(value) > MAX_TEXT_CHARS:
                raise InputTooLarge(f"the vCard's {name} is {len(value)} characters long, over the "
                                    f"{MAX_TEXT_CHARS} a contact's text may have")
            elif value and name.upper() not in _STRUCTURED_OR_LIST:
                line = line[: len(line) - len(value)] + _commas_escaped(value)
        out.extend([""] * (start - 1 - len(out)))
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def _base64(params: list[Any]) -> bool:
    # parseLine gives [name, value, ...] lists (a bare 2.1 parameter is [value]).
    return bool({str(v).upper() for param in params for v in param} & {"B", "BASE64"})


def _commas_escaped(value: str) -> str:
    # A comma after an even run of backslashes (none, or escaped backslashes) is bare.
    return _BARE_COMMA.sub(r"\1\\,", value)
