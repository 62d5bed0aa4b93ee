import random

from mediaprep.converters.h263 import COARSEST, ENOUGH, first_quantiser, next_quantiser


def search(size_at, budget: int, fixed: int = 0, start: int = 10) -> tuple[int | None, int]:
    """Drive the search as the converter does: (the finest fitting quantiser or None, encodes)."""
    tried: dict[int, int] = {}
    q: int | None = start
    while q is not None:
        assert q not in tried and ENOUGH <= q <= COARSEST
        tried[q] = size_at(q)
        q = next_quantiser(tried, budget, fixed)
    fits = [q for q, size in tried.items() if size <= budget]
    return (min(fits) if fits else None), len(tried)


def test_the_search_ends_at_the_finest_quantiser_that_fits_in_a_few_encodes():
    counts = [_one_search(random.Random(seed)) for seed in range(300)]
    assert max(counts) <= 7 and sum(counts) / len(counts) <= 4


def _one_search(rng: random.Random) -> int:
    fixed = rng.choice([0, 3000, 8000])
    scale, slope = rng.uniform(20_000, 400_000), rng.uniform(0.4, 1.3)
    # Bytes fall with the quantiser, but not smoothly: real encodes wobble by a few per cent.
    wobble = {q: rng.uniform(0.97, 1.03) for q in range(ENOUGH, COARSEST + 1)}
    sizes = {q: fixed + scale * q**-slope * wobble[q] for q in range(ENOUGH, COARSEST + 1)}
    for q in range(COARSEST - 1, ENOUGH - 1, -1):
        sizes[q] = max(sizes[q], sizes[q + 1] + 1)  # an encoder's size never rises with the quantiser
    budget = int(rng.uniform(fixed + 2000, 2 * sizes[ENOUGH]))
    found, encodes = search(lambda q: int(sizes[q]), budget, fixed, first_quantiser(rng.uniform(0.02, 0.5)))
    fitting = [q for q in sizes if sizes[q] <= budget]
    assert found == (min(fitting) if fitting else None), (scale, slope, fixed, budget)
    return encodes


def test_a_small_clip_is_not_inflated_past_a_fine_quantiser():
    found, _ = search(lambda q: 1000 + 50_000 // q, budget=10_000_000)
    assert found == ENOUGH
