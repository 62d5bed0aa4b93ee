"""Animated GIF under a byte budget: fewer colours, a smaller size, then fewer frames.

Levels are tried from the least visible loss to the most: the colour count
first (256 to 32), then the size, then every second or third frame (the
dropped frames' time goes to the frame kept, so the animation runs as long as
before). The first level in that order that fits is found by bisection over the
sizes (see _first_that_fits): a few encodes per frame step.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from ..errors import CorruptInput
from ..inspection.gif_frames import colour_table_size, skip_sub_blocks
from ..inspection.image import CORRUPT_IMAGE_CODE, frame_limit, frame_times, shown_ms
from ..inspection.spans import without_spans
from ..profiles import ImageTarget
from ..settings import Settings
from .jpeg import ladder
from .picture import resize_long_side, size_at_long_side

# A frame whose neighbouring pixels differ by less than this (grey levels, on average) shows nothing.
BLANK_DETAIL = 1.0
MEASURED_FRAMES = 64  # frames of a long animation looked at for the one that shows most
COLOURS = (256, 128, 64, 32)
FRAME_STEPS = (1, 2, 3)
# Past this many encodes a level not yet made counts as over: the search still ends on one that fits
# (the smallest, made second, at worst). Without it a 1600 px animation on a ladder down to 320 px,
# fitting only with every 3rd frame, could take 11 (2, then 1 and 1 for the other frame steps, 4 to
# bisect ten sizes, 3 colour counts), each a pass over every frame kept.
MAX_ENCODES = 10
PALETTE_FRAMES = 8  # frames the shared palette is made from
# Frames are held decoded (RGB, and their alpha where they have any) at the working size; past this
# many pixels they are held smaller, down to half the size, and past it even so frames are dropped.
MAX_HELD_PIXELS = 120_000_000
OPAQUE, HALF_COVERED = 255, 128
_Frame = tuple[Image.Image, "Image.Image | None"]  # flattened on white, and its alpha if not all opaque
# Application extensions that only say how often the animation loops (Netscape's and its copy).
LOOP_EXTENSIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


def fit_animation(
    im: Image.Image, n_frames: int, budget: int, target: ImageTarget, settings: Settings,
    seconds: float | None = None,
) -> tuple[tuple[bytes, int, int, int, int, list[str]] | None, str]:
    """(gif bytes, width, height, frames kept, encodes, notes), or None and why it could not fit.
    ``n_frames``: the first frames, those of them starting within ``seconds`` when a length is
    asked for (frames_within); the last is cut short at it."""
    limit = frame_limit(im, settings)
    if n_frames > limit:
        return None, f"{n_frames} frames of {im.width}x{im.height}, over the {limit} frame limit for that size"
    notes: list[str] = []
    full_long = min(max(im.size), target.long_side_for(im.size))
    # An APNG's default image may be a still for viewers without APNG, not a frame of the animation.
    first = 1 if im.format == "PNG" and im.info.get("default_image") else 0
    animated = range(first, n_frames)
    # Past MAX_HELD_PIXELS the frames are held smaller, down to the half size the levels reach with
    # every frame kept, and only then are frames dropped: the levels' own order.
    work_long = full_long
    held = len(animated) * math.prod(size_at_long_side(im.size, full_long))
    if held > MAX_HELD_PIXELS:
        work_long = math.ceil(full_long * max(0.5, math.sqrt(MAX_HELD_PIXELS / held)))
        while work_long - 1 >= full_long / 2 and len(animated) * math.prod(size_at_long_side(im.size, work_long)) > MAX_HELD_PIXELS:
            work_long -= 1
    work_size = size_at_long_side(im.size, work_long)
    pre_step = max(1, -(-len(animated) * work_size[0] * work_size[1] // MAX_HELD_PIXELS))
    try:
        frames, durations, partly = _load(im, animated, work_size, pre_step)
    except Exception as exc:
        raise _damaged_frame(exc) from None
    if seconds is not None:
        durations[-1] = min(durations[-1], int(seconds * 1000) - sum(durations[:-1]))
    if work_long < full_long:
        notes.append(f"{len(animated)} frames held at {work_size[0]}x{work_size[1]} to bound memory")
    if pre_step > 1:
        notes.append(f"kept 1 frame in {pre_step} of {len(animated)} to bound memory")
    if partly:
        notes.append("partly transparent pixels made clear or drawn on white (GIF has no partial transparency)")
    # None: a GIF without Netscape's extension, which plays once. Pillow reads no count from AVIF,
    # whose sequences browsers loop for ever.
    loop = im.info.get("loop", None if im.format == "GIF" else 0)

    sizes = ladder(work_long, min(target.min_long_side, work_long))
    made: dict[tuple[int, int, int], bytes] = {}

    def fits(level: tuple[int, int, int]) -> bool:
        if level not in made:
            if len(made) >= MAX_ENCODES:
                return False
            made[level] = _encode(frames, durations, level, loop)
        return len(made[level]) <= budget

    level = _first_that_fits(sizes, full_long, fits)
    if level is not None:
        return _result(made[level], level, frames, len(made), notes, pre_step), ""
    return None, f"no level down to {sizes[-1]} px, 32 colours and every 3rd frame fits in {budget} bytes"


def _first_that_fits(
    sizes: list[int], full_long: int, fits: Callable[[tuple[int, int, int]], bool]
) -> tuple[int, int, int] | None:
    """The first level (size, colours, frame step) in the order of least visible loss that fits.

    Bytes fall as colours, size or frames go, so at each frame step the largest size that fits
    with the fewest colours is found by bisection, then the most colours that fit at that size. The
    smallest size is tried first, at each step and of all: an animation that cannot fit, as most
    made from video cannot in 250 kB, costs two encodes.
    A model that skipped the levels it predicted to be over skipped levels that fit: on four of
    five animations made from video footage it sent one frame in three, or 128 colours at a
    smaller size, where one frame in two at 32 colours fitted; on a panned photograph (the tests')
    it sent the first frame alone, where one frame in three fitted.
    """
    if fits((sizes[0], COLOURS[0], FRAME_STEPS[0])):
        return sizes[0], COLOURS[0], FRAME_STEPS[0]
    fewest = COLOURS[-1]
    if not fits((sizes[-1], fewest, FRAME_STEPS[-1])):
        return None  # the smallest of all levels
    for step in FRAME_STEPS:
        allowed = [s for s in sizes if step == FRAME_STEPS[-1] or s >= full_long * 0.5]
        if not fits((allowed[-1], fewest, step)):
            continue  # nothing at this frame step fits
        lo, hi = 0, len(allowed) - 1  # allowed[hi] fits
        while lo < hi:
            mid = (lo + hi) // 2
            if fits((allowed[mid], fewest, step)):
                hi = mid
            else:
                lo = mid + 1
        colours = fewest
        for more in reversed(COLOURS[:-1]):
            if not fits((allowed[lo], more, step)):
                break
            colours = more
        return allowed[lo], colours, step
    return None


def frames_within(im: Image.Image, n_frames: int, seconds: float) -> int | None:
    """None when the whole animation runs at most ``seconds`` (its frames timed as browsers show
    them); else how many frames start before then."""
    limit = seconds * 1000
    try:
        # When each frame starts, and last when the animation ends; a frame is read only once the
        # one before it has started in time.
        for i, start in enumerate(itertools.accumulate(frame_times(im, n_frames), initial=0)):
            if i < n_frames and start >= limit:
                return i
        im.seek(0)
    except Exception as exc:
        raise _damaged_frame(exc) from None
    return None if start <= limit else n_frames


def still_frame(im: Image.Image, n_frames: int, settings: Settings) -> int:
    """The frame of an animation sent as a still picture: its first, which its maker chose to open
    on, unless that is one colour (a fade in from black, a greeting whose text is yet to be
    written); then the frame that shows most, of those within frame_limit."""
    try:
        im.seek(0)
        if n_frames <= 1 or im.getcolors(1) is None:
            return 0
        limit = min(n_frames, frame_limit(im, settings))
        step = max(1, limit // MEASURED_FRAMES)
        best, most = 0, BLANK_DETAIL
        for i in range(step, limit, step):
            im.seek(i)
            if (detail := _detail(im)) > most:
                best, most = i, detail
    except Exception as exc:
        raise _damaged_frame(exc) from None
    return best


def _damaged_frame(exc: Exception) -> CorruptInput:
    # Pillow reports a damaged later frame with several exception types; all mean "damaged".
    return CorruptInput(f"a frame of the animation is damaged: {exc}", provider_code=CORRUPT_IMAGE_CODE)


def _detail(frame: Image.Image) -> float:
    """How much a frame shows: the mean step in grey between neighbouring pixels, flattened on
    white as it would be sent, at about 256 pixels across."""
    small = frame.convert("RGBA")
    if (factor := max(small.size) // 256) > 1:
        small = small.reduce(factor)
    if min(small.size) < 2:
        return 0.0
    rgba = np.asarray(small, dtype=np.float32)
    alpha = rgba[..., 3:] / 255
    grey = (rgba[..., :3] * alpha + 255 * (1 - alpha)) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _load(
    im: Image.Image, frame_numbers: range, size: tuple[int, int], step: int
) -> tuple[list[_Frame], list[int], bool]:
    """The frames kept, their durations, and whether any is partly transparent somewhere."""
    frames: list[_Frame] = []
    durations: list[int] = []
    partly = False
    for n, i in enumerate(frame_numbers):
        im.seek(i)
        im.load()  # AVIF reports a frame's duration once the frame is loaded
        duration = shown_ms(im.info.get("duration"))
        if n % step:
            durations[-1] += duration
            continue
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=alpha)
        see_through = alpha if alpha.getextrema()[0] < OPAQUE else None
        partly = partly or (see_through is not None and any(see_through.histogram()[1:OPAQUE]))
        if flat.size != size:
            flat = flat.resize(size, Image.Resampling.LANCZOS)
            see_through = see_through.resize(size, Image.Resampling.LANCZOS) if see_through else None
        frames.append((flat, see_through))
        durations.append(duration)
    return frames, durations, partly


def _encode(frames: list[_Frame], durations: list[int], level: tuple[int, int, int], loop: int | None) -> bytes:
    size, colours, step = level
    kept = frames[::step]
    kept_durations = [sum(durations[i : i + step]) for i in range(0, len(frames), step)]

    def at_size(picture: Image.Image) -> Image.Image:
        return picture if max(picture.size) == size else resize_long_side(picture, size)

    transparent = any(a is not None for _, a in kept)
    # A see-through pixel takes an entry of its own after the colours (GIF has no partial
    # transparency: a pixel at least half covered is drawn, flattened on white as before). An opaque
    # animation keeps that entry free for Pillow's optimize, which writes each frame's pixels
    # unchanged from the frame before as that clear entry (long runs, which LZW packs): a photo
    # ground with a subject moving went from 925 to 367 kB, the same pixels shown.
    sample = {i: at_size(kept[i][0]) for i in _palette_sample(len(kept))}  # resized once, used twice
    palette = _shared_palette(list(sample.values()), colours - 1)
    # Right after the colours the picture has, so it is inside the colour table a decoder reads
    # (the level's count, fewer than that where the frames have fewer colours).
    entries = palette.getpalette() or []
    # Frame by frame, so that only the indexed frames are held at this level's size: with a resized
    # copy, a mask and its array of every frame at once, a 200-frame animation with alpha held at
    # 774 px peaked at 1358 MiB; it peaks at 917 so.
    indexed: list[Image.Image] = []
    clear, uncovers, before = None, False, None
    for n, (flat, alpha) in enumerate(kept):
        # One palette for all frames: no per-frame colour tables, and no colour flicker between frames.
        resized = sample.pop(n) if n in sample else at_size(flat)
        picture = resized.quantize(palette=palette, dither=Image.Dither.NONE)
        if transparent:
            mask = clear_pixels(at_size(alpha)) if alpha is not None else None
            clear = add_clear_entry(picture, entries, mask)
            # A frame drawn over the one before (disposal 1) can add drawn pixels but not clear one,
            # so where a drawn pixel turns clear (a ball crossing the canvas) each frame is drawn whole
            # on a cleared canvas (disposal 2). Where none does (a face blinking in a fixed outline),
            # only what changes is written, as for an opaque animation: 610 kB drawn whole, 55 kB so.
            now = np.asarray(mask, dtype=bool) if mask is not None else None
            if n and now is not None and not uncovers:
                uncovers = bool((now if before is None else now & ~before).any())
            before = now
        indexed.append(picture)
    extra = {"transparency": clear, "disposal": 2 if uncovers else 1} if transparent else {}
    buf = io.BytesIO()
    indexed[0].save(
        buf, "GIF", save_all=True, append_images=indexed[1:], duration=kept_durations, loop=loop,
        optimize=not uncovers, **extra,
    )
    return buf.getvalue()


def clear_pixels(alpha: Image.Image) -> Image.Image:
    """The mask of the pixels a GIF shows clear: those less than half covered. GIF has no partial
    transparency; the rest are drawn, flattened on white."""
    return alpha.point(lambda a: 255 if a < HALF_COVERED else 0)


def add_clear_entry(picture: Image.Image, entries: list[int], clear: Image.Image | None) -> int:
    """Gives ``picture`` the palette ``entries`` and one entry more after them, white, on the pixels
    ``clear`` marks (see clear_pixels); returns that entry, for the GIF's transparency. In place."""
    entry = len(entries) // 3
    picture.putpalette(entries + [255, 255, 255])
    if clear is not None:
        picture.paste(entry, mask=clear)
    return entry


def _palette_sample(frames: int) -> list[int]:
    # Eight frames spread over the whole animation, the last among them: a colour that comes in at
    # the end (a heart drawn last, a fade in's full picture) is in the palette.
    count = min(PALETTE_FRAMES, frames)
    return [round(i * (frames - 1) / max(1, count - 1)) for i in range(count)]


def _shared_palette(sample: list[Image.Image], colours: int) -> Image.Image:
    w, h = sample[0].size
    sheet = Image.new("RGB", (w * len(sample), h))
    for i, f in enumerate(sample):
        sheet.paste(f, (i * w, 0))
    return sheet.quantize(colours, method=Image.Quantize.MEDIANCUT)


def _result(data, level, frames, encodes, notes, pre_step):
    _, colours, step = level
    im = Image.open(io.BytesIO(data))
    kept = len(frames[::step])
    if colours < 256:
        notes.append(f"colours reduced to {colours}")
    if step > 1:
        notes.append(f"1 frame in {step * pre_step} kept, timing preserved")
    return data, im.width, im.height, kept, encodes, notes


def without_metadata(data: bytes) -> bytes | None:
    """The GIF without its comments and application data (XMP, ICC, editors' own), every picture,
    its timing and the loop count kept byte for byte.

    None when the file is for the full path to judge: its blocks do not run whole to the trailer at
    the very end (cut short, or bytes after it), or it holds a block that is drawn (plain text) or
    unknown.
    """
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    pos = 13 + colour_table_size(data[10])
    dropped: list[tuple[int, int]] = []
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:
            return without_spans(data, dropped) if pos == len(data) - 1 else None
        if block == 0x21 and pos + 1 < len(data):
            label, start = data[pos + 1], pos
            if label not in (0xF9, 0xFE, 0xFF):  # plain text (0x01) is drawn; others are unknown
                return None
            pos = skip_sub_blocks(data, pos + 2)
            if label == 0xFE or (label == 0xFF and data[start + 3 : start + 14] not in LOOP_EXTENSIONS):
                dropped.append((start, pos))
        elif block == 0x2C and pos + 10 <= len(data):
            flags = data[pos + 9]
            pos = skip_sub_blocks(data, pos + 10 + colour_table_size(flags) + 1)  # descriptor, colours, LZW size
        else:
            return None
    return None  # no trailer: cut short

