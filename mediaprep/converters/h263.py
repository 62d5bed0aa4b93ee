"""The H.263 quantiser search: 3gp for the oldest handsets, under a byte budget.

ffmpeg's one-pass rate control for H.263 overspends at the start of a clip (a 1.2 s clip asked
for 16 kbit/s came out at 20 kB, eight times over), and its two-pass control aborts at low rates.
A constant quantiser spends evenly: the file shrinks steadily from 2 (finest) to 31 (coarsest),
so a few encodes find the finest quantiser that fits. A 5 s cut of the benchmark's landscape clip
at 30 kB did not fit at all (the rate control dropped to 128x96 and was still over); the search
fits it at 176x144 (benchmarks/video_legacy.py).
"""

from __future__ import annotations

import math

# The frame sizes H.263 has (SQCIF, QCIF, CIF, 4CIF), as phones decode it.
H263_SIZES = ((128, 96), (176, 144), (352, 288), (704, 576))
FINEST, COARSEST = 2, 31
ENOUGH = 3  # finer only makes the file bigger: a small clip is not inflated
# Picture bytes fall about as q ** -SLOPE (QCIF footage, quantisers 4 to 31); a first guess only.
SLOPE = 0.75
AIM = 0.98  # of the budget: a quantiser's size is exact, so only a little is left for the rounding


def first_quantiser(bits_per_pixel: float) -> int:
    """A first quantiser for what the budget gives each pixel of each frame."""
    # Quantiser 16 spent ~0.12 bits per pixel and frame on the benchmark's panning photographs.
    return _clamp(round(16 * (0.12 / max(bits_per_pixel, 1e-6)) ** (1 / SLOPE)), ENOUGH, COARSEST)


def next_quantiser(tried: dict[int, int], budget: int, fixed: float) -> int | None:
    """The quantiser to try next, or None when the search is over.

    ``tried`` maps each quantiser encoded to its file's bytes; ``fixed`` is what does not depend on
    the quantiser (the sound, the headers). Done when the finest fitting quantiser is known: the
    one just coarser is over, or it is ENOUGH, or even COARSEST is over.
    """
    over = [q for q, size in tried.items() if size > budget]
    fits = [q for q, size in tried.items() if size <= budget]
    if fits and min(fits) <= ENOUGH:
        return None
    if over and max(over) >= COARSEST:
        return None
    want = max(1.0, budget * AIM - fixed)
    if fits and over:
        lo, hi = max(over), min(fits)
        if hi - lo <= 1:
            return None
        # Picture bytes against quantiser are close to a straight line on log-log axes.
        v_lo, v_hi = (max(1.0, tried[q] - fixed) for q in (lo, hi))
        if v_lo <= v_hi:
            return lo + 1
        at = math.log(lo) + (math.log(want) - math.log(v_lo)) * math.log(hi / lo) / math.log(v_hi / v_lo)
        return _clamp(math.ceil(math.exp(at)), lo + 1, hi - 1)
    q = max(over) if over else min(fits)
    guess = q * (max(1.0, tried[q] - fixed) / want) ** (1 / SLOPE)
    if over:
        return _clamp(math.ceil(guess), q + 1, COARSEST)
    return _clamp(math.floor(guess), ENOUGH, q - 1)


def _clamp(q: int, low: int, high: int) -> int:
    return max(low, min(high, q))
