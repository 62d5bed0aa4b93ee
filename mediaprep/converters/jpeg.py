"""Choosing JPEG dimensions, quality and chroma subsampling together under a byte budget.

The common tools only lower the quality at a fixed size (ImageMagick
jpeg:extent, imgproxy) or walk a dimension ladder at a fixed quality (Android,
Signal). Here each candidate size gets the highest quality that fits, and the
pair a person would find closest to the source wins: SSIM on luma with both
shown at phone size (mediaprep.quality). The search climbs from a predicted
size towards the better neighbour until the score falls, then tries the size
half a step from the best towards its better neighbour. The prediction comes
from one probe encode: busy pictures win with more pixels at lower quality.
The "fast" effort (Settings.image_effort) stops there and takes that size.

Speed: the source is decoded once, at reduced size where the format allows (see
picture.decode and useful_long_side). A size's quality is predicted from the
last size's, and the bytes of an encode are close to a straight line in the
log of libjpeg's quantiser scale ("fineness"), so a size costs two or three
encodes. Pillow releases the GIL while it resizes, and while it encodes into a
file descriptor (each encode goes to an anonymous in-memory file), so two worker
threads build the metric's reference, resize the sizes the search will visit
next, search the climb's start's neighbours while the start is searched, and
finish the best so far while the half steps are tried (same pixels; ~8 %, then
1-5 %, 5-11 % and 3-10 % less time on the benchmark photographs). Every encode has
optimised Huffman tables: libjpeg's standard tables waste ~5 % at high quality
and ~16 % at low quality, so a search on plain encodes misjudges which size can
afford which quality. The chosen encode is made progressive (same pixels, ~2-8 %
smaller: mozjpeg's lossless scan optimisation, or over a megapixel Pillow's
standard scans where they do nearly as well in a third of the time), and the
room that frees buys further quality steps; legacy profiles keep the baseline
encode. Either way the last step is filled in quarter
qualities, so the reported quality can be 66.75.

Chroma is quantised 15 quality steps coarser than luma (as in cjpeg's
``-quality 85,70``): the eye resolves colour far less finely than brightness,
so those bytes buy more as luma detail. For the same reason colour is halved
both ways (4:2:0) unless the picture reaches the quality cap with bytes to
spare; then it keeps full resolution (4:4:4).
"""

from __future__ import annotations

import io
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import mozjpeg_lossless_optimization
from PIL import Image, ImageFile

from ..errors import CannotFit
from ..profiles import ImageTarget
from ..quality import Likeness
from .picture import resize_long_side

MAX_QUALITY = 95  # above this libjpeg spends bytes a phone screen cannot show
STEP = 0.84  # one ladder step: ~70 % of the pixels
FRACTIONS = (0.5, 0.25)  # the last whole quality step, halved twice
HIGH_QUALITY = 90  # a size that fits at this quality gains nothing from going smaller
CHROMA_OFFSET = 15
SUBSAMPLING = {2: "4:2:0", 0: "4:4:4"}
# Bits per pixel of a photograph at the lowest useful quality; sizes needing fewer never win.
MIN_USEFUL_BPP = 0.3
# d log(bytes) / d fineness before two encodes of a size measure it: 0.4-1.0 on the benchmark
# photographs at 700 and 1600 px over qualities 15-95, mostly 0.55-0.8. Against the quality number
# the same slope varies fivefold, so a search stepping in quality needed one or two more encodes.
FINENESS_SLOPE = 0.65
# From this many pixels the progressive scans are Pillow's own (libjpeg-turbo's standard script,
# 25 ms per MP) instead of mozjpeg's optimised ones (75 ms per MP), which are only 0.2-1 % smaller
# where the standard script saves 2-5 %: at 250000 bytes on the benchmark that was 17 % of the time
# for -0.0002 mean SSIM. Where it saves less (dense, low-quality encodes; on small pictures it can
# even come out larger than the baseline), mozjpeg saves ~1.2 % more and runs instead.
PROGRESSIVE_PIXELS = 1_000_000
PROGRESSIVE_ENOUGH = 0.98  # Pillow's progressive encode is kept at most this share of the baseline

# Luma: mozjpeg's table tuned for MS-SSIM on the Kodak image set (its -quant-table 2). With
# libjpeg-turbo's encoder it gave +0.002 mean SSIM at 30 kB and +0.0003 at 250 kB on the benchmark
# photographs against the Annex K table; mozjpeg's default (Robidoux, table 3) and its PSNR-HVS
# table (4) lost 0.001-0.004 there. Chroma: JPEG's Annex K table (mozjpeg's table 2 for chroma
# spends more on colour and lost 0.004). Both in natural order.
_LUMA = [
    12, 17, 20, 21, 30, 34, 56, 63, 18, 20, 20, 26, 28, 51, 61, 55,
    19, 20, 21, 26, 33, 58, 69, 55, 26, 26, 26, 30, 46, 87, 86, 66,
    31, 33, 36, 40, 46, 96, 100, 73, 40, 35, 46, 62, 81, 100, 111, 91,
    46, 66, 76, 86, 102, 121, 120, 101, 68, 90, 90, 96, 113, 102, 105, 103,
]  # fmt: skip
_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
           24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32  # fmt: skip


def _scaled(table: list[int], quality: float) -> list[int]:
    # libjpeg's quality scaling without its integer division, so it continues between whole
    # qualities and the last fill can take fractions of a step (a whole step is ~3 % of the bytes
    # at low quality).
    scale = _scale(quality)
    return [max(1, min(255, int((v * scale + 50) // 100))) for v in table]


def _scale(quality: float) -> float:
    # From 99.75 up every table entry is 1 either way; the floor keeps fineness finite at 100.
    return 5000 / quality if quality < 50 else max(0.5, 200 - 2 * quality)


def fineness(quality: float) -> float:
    """Minus the log of libjpeg's quantiser scale: log(bytes) is close to linear in it."""
    return -math.log(_scale(quality))


def quality_at(value: float) -> float:
    """The quality of a fineness (the inverse of ``fineness``)."""
    scale = math.exp(-value)
    return 5000 / scale if scale > 100 else (200 - scale) / 2


def qtables(quality: float) -> list[list[int]]:
    # Coarser chroma, but never below quality 20 unless the luma is lower still.
    chroma = max(quality - CHROMA_OFFSET, min(quality, 20))
    return [_scaled(_LUMA, quality), _scaled(_CHROMA, chroma)]


def _jpeg(im: Image.Image, quality: float, subsampling: int, *, progressive: bool = False) -> bytes:
    """One encode with optimised Huffman tables (progressive: libjpeg-turbo's standard scans)."""
    tables = qtables(quality) if im.mode != "L" else qtables(quality)[:1]
    options = {"subsampling": subsampling, "optimize": True, "progressive": progressive, "qtables": tables}
    # An optimised encode must fit Pillow's buffer whole, which it sizes from the pixel count; a strip
    # a few pixels wide is coded in 16-pixel blocks, and its JPEG can be larger than that. Such a
    # strip gets room at once: a try that overflows leaves libjpeg's "Suspension not allowed here"
    # on stderr, in the CLI's output and a server's log.
    blocks = -(-im.width // 16) * 16 * -(-im.height // 16) * 16
    if blocks <= 2 * im.width * im.height:
        try:
            return _saved(im, options)
        except OSError:
            pass  # overflowed all the same (noise at a high quality): with room, below
    # MAXBLOCK is the floor Pillow gives every buffer: raised for this encode, under a lock.
    with _BUFFER_LOCK:
        floor, ImageFile.MAXBLOCK = ImageFile.MAXBLOCK, max(ImageFile.MAXBLOCK, 8 * blocks)
        try:
            return _saved(im, options)
        finally:
            ImageFile.MAXBLOCK = floor


_BUFFER_LOCK = threading.Lock()


def _saved(im: Image.Image, options: dict) -> bytes:
    # Pillow holds the GIL while it encodes into a Python buffer and lets go of it while it encodes
    # into a file descriptor, so encodes into an anonymous in-memory file run in parallel with the
    # search's other threads and with other conversions (two encodes on two threads: ~1.8x).
    fd = _memory_file()
    if fd is None:
        buf = io.BytesIO()
        im.save(buf, "JPEG", **options)
        return buf.getvalue()
    with open(fd, "w+b") as file:
        im.save(file, "JPEG", **options)
        file.seek(0)
        return file.read()


def _memory_file() -> int | None:
    try:
        return os.memfd_create("mediaprep-jpeg", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or a sandbox that refuses the call
        return None


def useful_long_side(budget: int, aspect: float) -> int:
    """The largest long side that could ever win at this budget (aspect = long / short)."""
    pixels = budget * 8 / MIN_USEFUL_BPP
    return int(math.sqrt(pixels * aspect))


@dataclass(frozen=True)
class JpegFit:
    data: bytes
    width: int
    height: int
    quality: float
    subsampling: str | None
    encodes: int
    score: float
    sizes_tried: int


@dataclass
class _Candidate:
    image: Image.Image
    quality: int
    subsampling: int
    data: bytes
    score: float = 0.0


class _Search:
    def __init__(
        self, source: Image.Image, budget: int, target: ImageTarget, pool: ThreadPoolExecutor, *, scored: bool = True
    ) -> None:
        self.source = source
        self.pool = pool
        self.budget = budget
        self.target = target
        # A Future: the reference is built on the worker thread while the probe encodes.
        self.metric: Future | None = pool.submit(Likeness, source) if scored else None
        # The slope learned at each size searched: the start of a nearby size's search.
        self.slopes: dict[int, float] = {}
        self.scaled: dict[int, Image.Image] = {}
        self.pending: dict[int, Future] = {}
        self.results: dict[int, _Candidate | None] = {}
        self.cache: dict[tuple, bytes] = {}
        self.probe: tuple[int, int] | None = None  # (long side, bytes at quality 75)

    def image_at(self, long_side: int) -> Image.Image:
        if long_side >= max(self.source.size):
            return self.source
        if long_side not in self.scaled:
            pending = self.pending.pop(long_side, None)
            self.scaled[long_side] = pending.result() if pending else resize_long_side(self.source, long_side)
        return self.scaled[long_side]

    def prefetch(self, *long_sides: int) -> None:
        for side in long_sides:
            if side < max(self.source.size) and side not in self.scaled and side not in self.pending:
                self.pending[side] = self.pool.submit(resize_long_side, self.source, side)

    def encode(self, im: Image.Image, quality: float, subsampling: int) -> bytes:
        key = (im.size, quality, subsampling)
        if key not in self.cache:
            self.cache[key] = _jpeg(im, quality, subsampling)
        return self.cache[key]

    @property
    def encodes(self) -> int:
        return len(self.cache)

    def best_quality(self, im: Image.Image, subsampling: int, guess: int, slope: float) -> _Candidate | None:
        """The highest quality whose encode fits, found by interpolating log(bytes) against log(scale)."""
        cand, self.slopes[max(im.size)] = self._searched(im, subsampling, guess, slope)
        return cand

    def _searched(self, im: Image.Image, subsampling: int, guess: int, slope: float) -> tuple[_Candidate | None, float]:
        lo_q = self.target.min_quality
        limit = self.budget
        # Encodes already made of these pixels (the probe) are points on the curve too.
        # (A snapshot: the other thread's size may be adding its own encodes.)
        sizes = {key[1]: data for key, data in list(self.cache.items())
                 if key[0] == im.size and key[2] == subsampling and float(key[1]).is_integer()}
        fit = max((q for q, d in sizes.items() if len(d) <= limit), default=None)
        over = min((q for q, d in sizes.items() if len(d) > limit), default=None)
        q = max(lo_q, min(MAX_QUALITY, guess))
        if fit is not None and over is not None:
            q, _ = self._next_quality(q, len(sizes[fit]), limit, fit, over, sizes, slope)
        for _ in range(12):
            if q not in sizes:
                sizes[q] = self.encode(im, q, subsampling)
            size = len(sizes[q])
            if size <= limit:
                fit = max(q, fit or q)
            else:
                over = min(q, over or q)
            if fit is not None and (fit == MAX_QUALITY or (over is not None and over - fit <= 1)):
                break
            if over == lo_q:
                return None, slope
            q, slope = self._next_quality(q, size, limit, fit, over, sizes, slope)
        if fit is None:
            return None, slope
        return _Candidate(im, fit, subsampling, sizes[fit]), slope

    def _next_quality(self, q, size, limit, fit, over, sizes, slope) -> tuple[int, float]:
        """The next quality to try, and the slope (refined from ``sizes`` when it stepped by it)."""
        if fit is not None and over is not None:
            # Interpolate inside the bracket; never repeat an endpoint.
            s_fit, s_over = len(sizes[fit]), len(sizes[over])
            t = math.log(limit / s_fit) / math.log(s_over / s_fit) if s_over > s_fit else 0.5
            x = fineness(fit) + t * (fineness(over) - fineness(fit))
            return max(fit + 1, min(over - 1, math.floor(quality_at(x)))), slope
        slope = _learned_slope(sizes, slope)
        aim = quality_at(fineness(q) + math.log(limit / size) / slope)
        # Aim just inside the limit: a fitting first point makes the next one a bracket.
        nxt = math.floor(aim) if aim > q else math.floor(aim) - 1
        nxt = max(q - 30, min(q + 30, nxt))
        if over is not None:
            return max(self.target.min_quality, min(over - 1, nxt)), slope
        assert fit is not None
        return min(MAX_QUALITY, max(fit + 1, nxt)), slope

    def start(self, long_side: int) -> tuple[int, float]:
        """Where a size's quality search starts: a quality, and the slope to step from it by."""
        slope = self.slopes[min(self.slopes, key=lambda s: abs(s - long_side))] if self.slopes else FINENESS_SLOPE
        return self._guess(long_side, slope), slope

    def _guess(self, long_side: int, slope: float) -> int:
        done = [c for c in self.results.values() if c is not None]
        if not done:
            if self.probe is None:
                return 75
            side, size = self.probe
            expected = size * (long_side / side) ** 1.8
            return math.floor(quality_at(fineness(75) + math.log(self.budget / expected) / slope))
        nearest = min(done, key=lambda c: abs(max(c.image.size) - long_side))
        pixel_ratio = (long_side / max(nearest.image.size)) ** 2
        # Fewer pixels leave room for more bytes per pixel: raise the quality by what that buys.
        return round(quality_at(fineness(nearest.quality) - math.log(pixel_ratio) * 0.9 / slope))

    def evaluate(self, long_side: int, start: tuple[int, float] | None = None) -> _Candidate | None:
        if long_side in self.results:
            return self.results[long_side]
        im = self.image_at(long_side)
        cand = self.best_quality(im, 2, *(start or self.start(long_side)))
        if cand is not None:
            self.score(cand)
        self.results[long_side] = cand
        return cand

    def score(self, cand: _Candidate) -> float:
        decoded = Image.open(io.BytesIO(cand.data))
        assert self.metric is not None, "a search without scoring scored a candidate"
        cand.score = self.metric.result().score(decoded)
        return cand.score


def _learned_slope(sizes: dict[int, bytes], slope: float) -> float:
    """The secant through the two measured qualities nearest each other (else ``slope``)."""
    qs = sorted(sizes)
    pairs = [(b - a, a, b) for a, b in zip(qs, qs[1:])]
    if not pairs:
        return slope
    _, a, b = min(pairs)
    if len(sizes[b]) <= len(sizes[a]):
        return slope
    return min(1.5, max(0.25, math.log(len(sizes[b]) / len(sizes[a])) / (fineness(b) - fineness(a))))


def ladder(longest: int, shortest: int, step: float = STEP, *, to_floor: bool = True) -> list[int]:
    """Sizes from ``longest`` down by ``step``; with ``to_floor``, ending at ``shortest`` itself, so
    the floor is always tried (the steps alone could stop up to a step above it, and a picture that
    fits only at the floor was refused as fitting nowhere down to it)."""
    sizes = []
    s = float(longest)
    while round(s) >= shortest:
        sizes.append(round(s))
        s *= step
    if to_floor and sizes and sizes[-1] > shortest:
        sizes.append(shortest)
    return sizes or [longest]


def aim_quality(bits_per_pixel: float) -> int:
    """The quality the best pair tends to land on, from the bits per pixel at quality 75.

    Busy pictures (foliage, gravel, crowds) win with more pixels at low quality, smooth ones
    with fewer at high quality: on the benchmark photographs, 0.3-0.75 bpp at quality 75 won
    near 55-95, 1.0-1.2 near 30-60 and over 1.4 near 15-30. Only the start of the search
    depends on it: a good start saves one or two sizes.
    """
    if bits_per_pixel <= 0.75:
        return 75
    return max(20, round(75 - (bits_per_pixel - 0.75) * 90))


def _start_size(search: _Search, sizes: list[int]) -> int:
    """The ladder size where the best quality should land, from one probe encode."""
    probe_side = sizes[0]
    im = search.image_at(probe_side)
    probe = search.encode(im, 75, 2)
    search.probe = (probe_side, len(probe))
    aim = aim_quality(len(probe) * 8 / (im.width * im.height))
    # aim_quality's figures were calibrated with 2 % more bytes per quality step; kept, so the start
    # size stays where they put it.
    at_aim = len(probe) * math.exp(0.02 * (aim - 75))
    # Bytes grow a little slower than pixels (detail per pixel falls as the picture shrinks).
    wanted = probe_side * (search.budget * 0.9 / at_aim) ** (1 / 1.8)
    return min(sizes, key=lambda s: abs(math.log(s / wanted)))


def fit_jpeg(source: Image.Image, budget: int, target: ImageTarget, effort: str = "best") -> JpegFit:
    """The best-looking JPEG of ``source`` (upright RGB or L pixels) that is at most ``budget`` bytes.

    ``effort="fast"`` takes the size the probe predicts (or the first smaller one where anything
    fits) without scoring sizes against each other: 60-65 % of the time, a little less SSIM.
    """
    # Decoding leaves a picture up to 1.3x the size it needs as it is; the profile's limit still
    # holds (legacy-30k's 640 px is what its handsets decode: an 800x600 PNG came out 733x550).
    longest = min(max(source.size), target.long_side_for(source.size))
    floor = min(target.min_long_side, longest)
    sizes = ladder(longest, floor)
    # The floor that ends the ladder is for when nothing fits above it or the climb goes down to it;
    # the start is one of the steps. (Taken as a start, a floor close under the last step drew the
    # climb into a dip it then stopped at: a diagram at 6000 bytes went 349 px wide instead of 388.)
    steps = ladder(longest, floor, to_floor=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        search = _Search(source, budget, target, pool, scored=effort != "fast")
        i = sizes.index(_start_size(search, steps))
        if effort == "fast":
            best = _first_that_fits(search, sizes, i)
        else:
            # The climb searches both neighbours of its start on the workers while the start is
            # searched here: their resizes (Lanczos, 20-60 ms each) are queued there first.
            search.prefetch(*(sizes[j] for j in (i - 1, i + 1) if 0 <= j < len(sizes)))
            best = _climb(search, sizes, i)
        if best is None:
            # What the floors cost, so the caller knows by how much to raise the budget. It is this decode's:
            # the source is decoded for the budget, so at another budget it can differ by a few bytes.
            floor_image = search.image_at(sizes[-1])
            floor_bytes = len(search.encode(floor_image, target.min_quality, 2))  # cached where the search made it
            raise CannotFit(
                f"no JPEG of at least {floor} px and quality {target.min_quality} fits in "
                f"{budget} bytes: at those floors ({floor_image.width}x{floor_image.height}, quality "
                f"{target.min_quality}) it is {floor_bytes} bytes; raise the budget to a little over that or "
                "lower the profile's image floors",
                floor_bytes=floor_bytes,
            )
        halves = _half_steps(search, sizes, best, floor, longest) if effort != "fast" else []
        # A half step seldom wins at large budgets (at 250000 bytes, 1 of the 10 tried on the benchmark
        # photographs), and the finish depends on the best alone: the best so far is finished on the
        # worker while they are tried, and finished again only if one of them wins.
        ahead = (best, pool.submit(_finished, search, best)) if halves else None
        for between in halves:
            cand = search.evaluate(between)
            if cand is not None and cand.score > best.score:
                best = cand
        chosen, data, quality = ahead[1].result() if ahead and ahead[0] is best else _finished(search, best)
    # Counted once every encode is made (a finish ahead that lost included), whichever thread ended first.
    w, h = chosen.image.size
    shown = int(quality) if float(quality).is_integer() else quality
    chroma = SUBSAMPLING[chosen.subsampling] if chosen.image.mode != "L" else None  # grey has no colour to subsample
    return JpegFit(data, w, h, shown, chroma, search.encodes, chosen.score, len(search.results))


def _first_that_fits(search: _Search, sizes: list[int], i: int) -> _Candidate | None:
    """The predicted size's best encode, or the first smaller size's where nothing fits there."""
    for side in sizes[i:]:
        cand = search.best_quality(search.image_at(side), 2, *search.start(side))
        search.results[side] = cand
        if cand is not None:
            return cand
    return None


def _climb(search: _Search, sizes: list[int], i: int) -> _Candidate | None:
    here = _evaluated_alongside(search, sizes, i, (i + 1, i - 1))
    # Nothing fits here: go smaller until something does.
    while here is None and i + 1 < len(sizes):
        i += 1
        here = _evaluated_alongside(search, sizes, i, (i + 1,))
    if here is None:
        return None
    best, best_i = here, i
    for direction in (-1, +1):  # -1: larger sizes, +1: smaller
        j = best_i + direction
        while 0 <= j < len(sizes):
            if direction == +1 and best.quality >= HIGH_QUALITY:
                break  # smaller pictures cannot gain quality any more
            cand = search.evaluate(sizes[j])
            if cand is None or cand.score <= best.score:
                break
            best, best_i = cand, j
            j += direction
        if best_i != i and direction == -1:
            break  # climbing up paid off; the smaller side is known to be worse
    return best


def _evaluated_alongside(search: _Search, sizes: list[int], i: int, others: tuple[int, ...]) -> _Candidate | None:
    """Size ``i``'s candidate, with the ladder's sizes at ``others`` evaluated on the workers meanwhile.

    The climb nearly always needs its start's neighbours (on the benchmark photographs it went on to
    the smaller 38 times in 40, and scores the larger wherever there is one), and the encodes,
    resizes, decodes and the metric let go of the GIL.
    """
    # Every search starts from what is known now, so none depends on which ends first.
    starts = {j: search.start(sizes[j]) for j in (i, *others) if 0 <= j < len(sizes)}
    ahead = [search.pool.submit(search.evaluate, sizes[j], start) for j, start in starts.items() if j != i]
    here = search.evaluate(sizes[i], starts[i])
    for future in ahead:
        future.result()
    return here


def _half_steps(search: _Search, sizes: list[int], best: _Candidate, floor: int, longest: int) -> list[int]:
    """Sizes half a ladder step from the best, on the side of its better neighbour only."""
    if best.quality >= MAX_QUALITY:
        return []
    side = max(best.image.size)
    i = sizes.index(side)  # the climb only visits ladder sizes
    larger, smaller = round(side / math.sqrt(STEP)), round(side * math.sqrt(STEP))
    steps: dict[int, float | None] = {}
    if larger <= longest:
        steps[larger] = _score_of(search, sizes[i - 1] if i > 0 else None)
    if smaller >= floor and best.quality < HIGH_QUALITY:  # smaller pictures cannot gain quality any more
        steps[smaller] = _score_of(search, sizes[i + 1] if i + 1 < len(sizes) else None)
    if len(steps) == 2 and None not in steps.values():
        # The score falls off more slowly towards the better neighbour: the peak leans that way.
        return [max(steps, key=lambda k: steps[k])]
    return list(steps)


def _score_of(search: _Search, long_side: int | None) -> float | None:
    """The score of a size if it was evaluated (-1 where nothing fitted), else None."""
    if long_side is None or long_side not in search.results:
        return None
    cand = search.results[long_side]
    return cand.score if cand is not None else -1.0


def _maybe_full_chroma(search: _Search, best: _Candidate) -> _Candidate:
    """Full-resolution colour (4:4:4) where it costs no luma quality: at the quality cap, with room.

    4:4:4 changes no luma sample, so the luma metric can never prefer it at a lower quality (a
    search that let it compete found it never won, on any benchmark photograph at 100-600 kB).
    At the cap the bytes left over buy sharper colour edges instead. Profiles for old handsets
    (baseline only) keep 4:2:0, the one layout every decoder has.
    """
    if best.quality < MAX_QUALITY or best.image.mode == "L" or not search.target.progressive:
        return best
    data = search.encode(best.image, best.quality, 0)
    if len(data) > search.budget:
        return best
    return _Candidate(best.image, best.quality, 0, data, best.score)


def _finished(search: _Search, best: _Candidate) -> tuple[_Candidate, bytes, float]:
    """The candidate sent (``best``, or it in 4:4:4), its final encode and that encode's quality."""
    best = _maybe_full_chroma(search, best)
    if search.target.progressive:  # mozjpeg's output is progressive; legacy profiles want baseline
        data, quality = _polish(search, best)
    else:
        quality = _affordable_step(search, best, 1.0)
        data = search.encode(best.image, quality, best.subsampling)
    return best, data, quality


def _polish(search: _Search, best: _Candidate) -> tuple[bytes, float]:
    """Progressive scans, and the quality steps the bytes they save can buy.

    Each progressive encode costs several plain ones (mozjpeg's 50-80 ms per megapixel), so the
    step is chosen from the saving it usually makes, and the saving one really made corrects it
    (three at most); if none of them fits, the best encode made progressive as it is always does.
    """
    pixels = best.image.width * best.image.height
    saving = expected_saving(len(best.data) * 8 / pixels) + (0.007 if pixels >= PROGRESSIVE_PIXELS else 0)
    tried: dict[float, bytes] = {}
    for _ in range(3):
        step = _affordable_step(search, best, saving)
        fit = [q for q, data in tried.items() if len(data) <= search.budget]
        over = [q for q, data in tried.items() if len(data) > search.budget]
        if over:  # the saving varies a little from step to step: stay under a step that overflowed
            step = min(step, min(over) - FRACTIONS[-1])
        if step in tried or (fit and step <= max(fit)):
            break
        plain = search.encode(best.image, step, best.subsampling)  # cached: best.data at its own quality
        tried[step] = _made_progressive(best, plain, step)
        saving = len(tried[step]) / len(plain)
    fitting = [q for q, data in tried.items() if len(data) <= search.budget]
    if fitting:
        return tried[max(fitting)], max(fitting)
    return _made_progressive(best, best.data, best.quality), best.quality


def _made_progressive(best: _Candidate, plain: bytes, quality: float) -> bytes:
    """``plain`` (the baseline encode of ``best``'s pixels at ``quality``) with progressive scans."""
    if best.image.width * best.image.height >= PROGRESSIVE_PIXELS:
        data = _jpeg(best.image, quality, best.subsampling, progressive=True)
        if len(data) <= len(plain) * PROGRESSIVE_ENOUGH:
            return data
    return _lossless(plain)


def _affordable_step(search: _Search, best: _Candidate, saving: float) -> float:
    """The highest quality, in quarter steps from the best's up, whose plain encode times ``saving`` fits.

    Whole steps first, then halving the last one: the quarter steps fill the ~1.5 % of the budget
    a whole step leaves on average (+0.0007 mean SSIM at 30 kB on the benchmark photographs).
    """
    def fits(quality: float) -> bool:
        return len(search.encode(best.image, quality, best.subsampling)) * saving <= search.budget

    step: float = best.quality
    while step < MAX_QUALITY and fits(step + 1):
        step += 1
    for fraction in FRACTIONS:
        if step + fraction < MAX_QUALITY and fits(step + fraction):
            step += fraction
    return step


def expected_saving(bits_per_pixel: float) -> float:
    """mozjpeg's usual size ratio (optimised / plain) for an encode at this density.

    Measured on the benchmark photographs at 600-1600 px and qualities 15-95: 0.97 on average
    at 0.3-1 bpp, 0.96 at 1-1.5, 0.95 at 1.5-2.5 and 0.92 above 4, with a spread of about 0.02.
    """
    if bits_per_pixel <= 1.2:
        return 0.97
    return max(0.92, 0.97 - 0.017 * (bits_per_pixel - 1.2))


def _lossless(data: bytes) -> bytes:
    try:
        smaller = mozjpeg_lossless_optimization.optimize(data)
    except ValueError:  # mozjpeg refused the stream; the plain encode is valid as it is
        return data
    return smaller if len(smaller) < len(data) else data
