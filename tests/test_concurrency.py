from concurrent.futures import ThreadPoolExecutor

from mediaprep import convert

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
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(_converted, JOBS * 2))
    assert together == alone * 2
