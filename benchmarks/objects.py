"""Validating many small objects: 1000 vCards, calendars and PDFs through inspect and convert.

    .venv/bin/python benchmarks/objects.py [--count 1000]

The objects are made here, varied (names with accents, folded notes, recurring events with time
zones, PDFs of 1 to 3 pages from pypdf), and each is inspected and then normalised or checked with
the Sinch profile, as an upload flow would. Target (issue 5): 1000 objects in under 10 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_objects(count: int) -> list[tuple[str, bytes]]:
    from pypdf import PdfWriter

    pdfs = []
    for pages in (1, 2, 3):
        writer = PdfWriter()
        for _ in range(pages):
            writer.add_blank_page(595, 842)
        buf = io.BytesIO()
        writer.write(buf)
        pdfs.append(buf.getvalue())
    names = ["Ada Okafor", "Jürgen Müller", "Siobhán Ní Bhriain", "Zhang Wei", "Ana María López"]
    objects = []
    for i in range(count):
        n = names[i % len(names)]
        if i % 5 in (0, 1):
            given, family = n.split(" ", 1)
            objects.append(("contact", (
                f"BEGIN:VCARD\r\nVERSION:{'2.1' if i % 2 else '3.0'}\r\nN:{family};{given};;;\r\n"
                + ("" if i % 3 == 0 else f"FN:{n}\r\n")
                + f"TEL;TYPE=CELL:+1555{i:07d}\r\nEMAIL:user{i}@example.com\r\n"
                + f"NOTE:{'Met at the opening; likes espresso and long walks. ' * 3}\r\nEND:VCARD\r\n"
            ).encode()))
        elif i % 5 in (2, 3):
            rrule = "RRULE:FREQ=WEEKLY;COUNT=1000000\r\n" if i % 4 == 0 else ""
            uid = "" if i % 3 == 0 else f"UID:event-{i}@example.com\r\n"
            objects.append(("calendar", (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
                "BEGIN:VTIMEZONE\r\nTZID:Europe/Amsterdam\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
                "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
                f"BEGIN:VEVENT\r\n{uid}DTSTART;TZID=Europe/Amsterdam:20261212T19{i % 60:02d}00\r\n"
                f"SUMMARY:Table for {n}\r\n{rrule}END:VEVENT\r\nEND:VCALENDAR\r\n"
            ).encode()))
        else:
            objects.append(("pdf", pdfs[i % 3]))
    return objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    import mediaprep
    from mediaprep.profiles import load_profile

    profile = load_profile("sinch")
    objects = make_objects(args.count)
    per_kind: dict[str, list[float]] = {}
    failures = 0
    start = time.perf_counter()
    for kind, data in objects:
        t = time.perf_counter()
        info = mediaprep.inspect(data)
        ok = info.ok and info.kind == kind
        if ok:
            mediaprep.convert(data, profile=profile)
        failures += not ok
        per_kind.setdefault(kind, []).append(time.perf_counter() - t)
    total = time.perf_counter() - start

    print(f"{len(objects)} objects inspected and normalised/checked in {total:.2f} s ({failures} failures)")
    for kind, times in sorted(per_kind.items()):
        print(f"  {kind:<9} {len(times):>5}  median {statistics.median(times) * 1000:.2f} ms  "
              f"max {max(times) * 1000:.2f} ms")
    print(f"target: 1000 objects in under 10 s -> {'PASS' if total * 1000 / len(objects) < 10 else 'MISS'}")


if __name__ == "__main__":
    main()
