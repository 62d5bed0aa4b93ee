import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from mediaprep import convert
from mediaprep.inspection.image import pillow_warnings

from .conftest import MEDIA

# One of each kind the library converts in-process (pictures, an animation, objects) and two that go
# through ffmpeg, at a tight budget and a loose one.
FILES = ["photo.jpg", "alpha.png", "photo.heic", "animated.gif", "contact.vcf", "event.ics", "flyer.pdf",
         "speech.mp3", "clip.mp4"]
JOBS = [(name, budget) for name in FILES for budget in (30000, 250000)]


def _converted(job: tuple[str, int]) -> bytes:
    name, budget = job
    return convert(MEDIA / name, budget=budget).data


def test_conversions_on_several_threads_give_each_file_what_it_gets_alone():
    # A server calls the library from many threads at once; what is shared between calls (libmagic,
    # Pillow's encoder buffer, the JPEG search's worker) must not leak from one into another.
    alone = [_converted(job) for job in JOBS]
    filters = list(warnings.filters)
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(_converted, JOBS * 2))
    assert together == alone * 2
    assert warnings.filters == filters  # the host's warning filters, as they were


def test_calls_that_overlap_keep_their_warning_filters_until_the_last_leaves():
    # As two threads' calls overlap: the first in leaves first. With catch_warnings, the second lost
    # its decompression-bomb error when the first left, and put the first's filters back for good.
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as a host has them; this suite makes every warning an error
        filters = list(warnings.filters)
        first, second = pillow_warnings(), pillow_warnings()
        first.__enter__()
        second.__enter__()
        try:
            first.__exit__(None, None, None)
            with pytest.raises(Image.DecompressionBombWarning):
                warnings.warn("a picture of 100 MP", Image.DecompressionBombWarning)
        finally:
            second.__exit__(None, None, None)  # so that a failure here leaves no filter held for other tests
        assert warnings.filters == filters
