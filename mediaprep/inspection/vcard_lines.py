"""Real vCards mended where vobject would misread them, before it parses them.

- A bare comma in a single-text value (``FN:Smith, John``, ``NOTE:a, b``): vCard 3.0 wants it
  escaped, many exporters write it bare, and vobject keeps only the text before it
  (skarim/vobject#140). Such commas are escaped, so the value arrives whole; list-valued
  properties (CATEGORIES) and structured ones (N, ADR, ORG) keep theirs as separators.
- A quoted-printable soft line break (Android's vCard 2.1: ``=`` ends the line and the value goes
  on at the next line's first column): joined back into one line, which vobject can read.

Each logical line stays on the physical line it started on (blank lines fill the gap), so a parse
error still names the line of the file.
"""

from __future__ import annotations

import io
from typing import Any

_STRUCTURED_OR_LIST = frozenset({"N", "ADR", "ORG", "CATEGORIES", "GEO", "BEGIN", "END", "VERSION"})


def mended(text: str) -> str:
    from vobject.base import ParseError, getLogicalLines, parseLine

    out: list[str] = []
    for line, start in getLogicalLines(io.StringIO(text), allowQP=True):
        line = line.replace("=\n", "")  # the only newline getLogicalLines leaves is a soft break's
        try:
            name, params, value, _ = parseLine(line)
        except ParseError:
            pass  # left for vobject to report
        else:
            if value and _single_text(name, params):
                line = line[: len(line) - len(value)] + _commas_escaped(value)
        out.extend([""] * (start - 1 - len(out)))
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def _single_text(name: str, params: list[Any]) -> bool:
    if name.upper() in _STRUCTURED_OR_LIST:
        return False
    # parseLine gives [name, value, ...] lists; base64 data has no commas to mind.
    values = {str(v).upper() for param in params for v in param}
    return not values & {"B", "BASE64"}


def _commas_escaped(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if ch == "," and not escaped:
            out.append("\\")
        escaped = ch == "\\" and not escaped
        out.append(ch)
    return "".join(out)
