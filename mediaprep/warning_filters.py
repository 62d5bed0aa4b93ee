"""Warning filters held while mediaprep's calls run, on any number of threads.

warnings.catch_warnings swaps the process-wide filter list on entry and puts back the list it found
on leaving. With calls on several threads (a server), the call leaving first put back the list from
before both, taking the other call's filters away in the middle of its decode, and the call leaving
last put its own filters back for good: after 200 conversions on 4 threads, 2 runs in 3 left the
decompression-bomb error and the silenced TIFF warnings in the host's filters. Here a filter goes in
when the first call that needs it starts and comes out when the last one ends. While any such call
runs, its filters apply to the whole process: Python before 3.14 has no filters per thread.
"""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Filter:
    """One warnings filter, as warnings.filterwarnings takes it."""

    action: str
    category: type[Warning]
    message: str = ""  # a regular expression, matched case-insensitively at the message's start
    module: str = ""  # a regular expression, matched at the start of the warning module's name

    def entry(self) -> tuple:
        """As it stands in warnings.filters."""
        message = re.compile(self.message, re.IGNORECASE) if self.message else None
        module = re.compile(self.module) if self.module else None
        return (self.action, message, self.category, module, 0)


_lock = threading.Lock()
_holders: Counter[Filter] = Counter()  # the calls inside held() for each filter
_added: set[Filter] = set()  # held filters that were not in the list already (the host's own stay)


@contextlib.contextmanager
def held(*filters: Filter) -> Iterator[None]:
    """The filters, in front of the process's own, until the last call holding them leaves."""
    with _lock:
        for f in filters:
            if not _holders[f] and f.entry() not in warnings.filters:
                warnings.filterwarnings(f.action, f.message, f.category, f.module)
                _added.add(f)
            _holders[f] += 1
    try:
        yield
    finally:
        with _lock:
            for f in filters:
                _holders[f] -= 1
                if _holders[f]:
                    continue
                del _holders[f]
                if f in _added:
                    _added.discard(f)
                    with contextlib.suppress(ValueError):  # a catch_warnings of the host's took it out
                        warnings.filters.remove(f.entry())
