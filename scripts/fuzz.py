"""Mutation fuzzing of the library entry points: every input must end in a result or a coded error.

    .venv/bin/python scripts/fuzz.py [--seed N] [--count N] [--kinds pictures,objects,cards,av,messages]
                                     [--keep CODE,...]

Each case is a fixture with random bytes changed, cut out or inserted (pictures, vCards, calendars,
PDFs, clips and sounds), a fixture message with random values put in its fields, or (cards) a vCard
or calendar written from a grammar of what real and careless writers do (scripts/card_grammar.py).
It goes through ``mediaprep.convert`` (or ``mediaprep.check`` for messages); a converted card or
calendar must also read back. Printed: how many cases ended
in each result or error code, then any exception outside the error tree (kept under
out/fuzz/ to replay) and any case slower than 10 s. ``--keep`` also keeps the cases that ended in
the given codes, with their messages (to see, say, what made a tool fail). Exit status 1 when an
exception escaped.
A tool for finding bugs, not a test: the cases are random, so CI does not run it.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import random
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mediaprep  # noqa: E402
from scripts.card_grammar import generated

MEDIA = ROOT / "fixtures" / "media"
FILES = {
    "pictures": ["photo.jpg", "phone-rotated.jpg", "alpha.png", "animated.gif", "still.gif", "photo.webp",
                 "photo.tiff", "photo.heic", "scan.bmp"],
    "objects": ["contact.vcf", "event.ics", "flyer.pdf"],
    "av": ["clip.mp4", "clip.3gp", "audio-only.mp4", "no-audio.mp4", "vfr.mp4", "speech.wav", "speech.mp3"],
}
PROFILES = [None, "clicksend", "sinch", "legacy-30k"]
ODD_VALUES = [None, True, 0, -1, 1e308, "", "x" * 5000, "../media/photo.jpg", "/etc/passwd", "-rf",
              "http://127.0.0.1:1/x.jpg", "a\u0000b", "a\ud800", [], {}, [1, 2], "\U0001f600" * 100,
              "../broken/truncated.jpg"]
OUT = ROOT / "out" / "fuzz"


def mutated_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 3, 10, 50])):
        if not out:
            break
        pos = rng.randrange(len(out))
        op = rng.random()
        if op < 0.6:
            out[pos] = rng.randrange(256)
        elif op < 0.8:
            del out[pos : pos + rng.randrange(1, 200)]
        else:
            out[pos:pos] = rng.randbytes(rng.randrange(1, 50))
    if out and rng.random() < 0.2:
        out = out[: rng.randrange(len(out))]
    return bytes(out)


def mutated_message(obj, rng: random.Random):
    if isinstance(obj, dict):
        return {k: rng.choice(ODD_VALUES) if rng.random() < 0.06 else mutated_message(v, rng) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [mutated_message(x, rng) for x in obj]
        return items + [rng.choice(ODD_VALUES)] if rng.random() < 0.2 else items
    return rng.choice(ODD_VALUES) if rng.random() < 0.05 else obj


def one_case(kind: str, rng: random.Random) -> tuple[str, bytes, object]:
    """(label, bytes to keep for a replay, a callable that runs the case)."""
    if kind == "messages":
        source = rng.choice(sorted((ROOT / "fixtures" / "messages").glob("*.json")))
        text = json.dumps(mutated_message(json.loads(source.read_text()), rng))
        profile = rng.choice(["clicksend", "sinch", "sinch-xml", "infobip", "twilio+att-long-code", "legacy-30k"])
        return source.name, text.encode(), lambda: mediaprep.check(
            mediaprep.parse_message(text, base_dir=source.parent), profile)
    if kind == "cards":
        label, text = generated(rng)
        budget = rng.choice([2000, 20000, 300000])
        return label, text, lambda: _reads_back(mediaprep.convert(text, budget=budget))
    name = rng.choice(FILES[kind])
    data = mutated_bytes((MEDIA / name).read_bytes(), rng)
    profile = rng.choice(PROFILES)
    budget = rng.choice([300000, 30000]) if profile is None else None
    return name, data, lambda: mediaprep.convert(data, profile=profile, budget=budget)


def _reads_back(result) -> None:
    info = mediaprep.inspect(result.data)
    if not info.ok:
        raise AssertionError(f"the converted {result.mime} does not read back: {info.error.message}")


def keep(data: bytes, seed: int, i: int, label: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    kept = OUT / f"case-{seed}-{i}-{label}"
    kept.write_bytes(data)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--kinds", default="pictures,objects,cards,messages", help="also: av (slow: ffmpeg per case)")
    parser.add_argument("--keep", default="", metavar="CODES", help="also keep cases ending in these error codes")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)  # pypdf logs every damaged cross-reference table it repairs
    rng = random.Random(args.seed)
    kinds = args.kinds.split(",")
    seen: collections.Counter[str] = collections.Counter()
    escaped = 0
    for i in range(args.count):
        kind = rng.choice(kinds)
        label, data, run = one_case(kind, rng)
        start = time.monotonic()
        try:
            run()
            seen["ok"] += 1
        except mediaprep.MediaprepError as exc:
            seen[exc.code] += 1
            if exc.code in args.keep.split(","):
                print(f"{exc.code}: {exc.message}; kept {keep(data, args.seed, i, label)}")
        except Exception as exc:  # exactly what this tool looks for
            escaped += 1
            kept = keep(data, args.seed, i, label)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"ESCAPED {type(exc).__name__}: {exc} at {Path(where.filename).name}:{where.lineno}; kept {kept}")
        if time.monotonic() - start > 10:
            print(f"SLOW case {i} ({kind}): {time.monotonic() - start:.1f} s")
    for code, n in seen.most_common():
        print(f"{n:6d} {code}")
    print(f"{escaped} escaped the error tree in {args.count} cases")
    sys.exit(1 if escaped else 0)


if __name__ == "__main__":
    main()
