"""Images: pass through what already fits and is clean, otherwise re-encode under the budget."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from ..errors import CannotFit, MediaprepError, NotAllowed
from ..inspection import icc_tags, png_metadata, webp_chunks
from ..inspection.image import (
    ANIMATIONS,
    DROPPED,
    GROWN_CANVAS,
    WRONG_CHECKSUMS,
    damaged,
    frame_count,
    frame_limit,
    open_image,
    orientation,
    pillow_warnings,
    shown_picture,
)
from ..inspection.jpeg_segments import without_metadata
from ..profiles import ImageTarget
from ..quality import Likeness
from ..settings import Settings
from . import Converted, colour_codes, gif
from .gif import HALF_COVERED, fit_animation, frames_within, still_frame
from .jpeg import JpegFit, fit_jpeg, useful_long_side
from .palette import ScaledGif, drawn_colours, lossless_gif, scaled_gif
from .picture import (
    FLATTENED,
    colours_as_sent,
    decode,
    first_picture_notes,
    upright_alpha,
)

# Formats sent as they are where the profile takes them (their metadata cut out losslessly).
AS_IT_IS = frozenset({"image/jpeg", "image/gif", "image/png", "image/webp"})


def convert_image(
    data: bytes,
    mime: str,
    budget: int,
    target: ImageTarget,
    verdict: str | None,
    accepts: frozenset[str],
    settings: Settings,
    max_seconds: float | None = None,
) -> Converted:
    """``max_seconds``: the longest an animation may run (it is trimmed); a still has no length."""
    im = open_image(data, mime, settings)
    try:
        with pillow_warnings():
            frames = frame_count(im)
    except MediaprepError:
        raise
    except Exception as exc:
        raise damaged(exc) from None
    source_long = max(im.size)
    base: dict[str, Any] = {"source_mime": mime, "source_bytes": len(data), "budget": budget, "kind": "image"}

    trims = mime in ANIMATIONS and frames > 1 and max_seconds
    within = frames_within(im, frames, max_seconds) if trims else None
    codes = colour_codes.coded_colours(data, mime)
    as_is = None
    # Pixels told by wide-gamut or HDR codes are converted: a viewer that does not read the codes
    # shows the numbers as sRGB (an HDR PNG, dark and grey).
    if within is None and codes is None:
        as_is = _as_it_is(data, mime, im, frames, budget, target, verdict, accepts, settings)
    if as_is == data:
        return Converted(data=data, mime=mime, passed_through=True, width=im.width, height=im.height,
                         frames=frames, **base)
    if as_is is not None:
        cut = ("metadata removed (EXIF, XMP, text, comments); the picture itself is the source's, "
               "not re-encoded")
        return Converted(data=as_is, mime=mime, passed_through=False, width=im.width, height=im.height,
                         frames=frames, notes=(cut,), **base)

    notes = _source_notes(data, mime, source_long, im, budget, target, verdict, accepts)
    picture = shown_picture(im)
    if within is not None:
        notes.append(f"trimmed to {max_seconds:g} s as asked: {within} of {frames} frames")
        frames = within
    if mime in ANIMATIONS and frames > 1:
        if target.keep_gif and "image/gif" in accepts:
            result, why = fit_animation(im, frames, budget, target, settings, max_seconds if within else None)
            if result is not None:
                gif, w, h, kept, encodes, gif_notes = result
                return Converted(data=gif, mime="image/gif", passed_through=False, width=w, height=h,
                                 frames=kept, scale=max(w, h) / source_long, encodes=encodes,
                                 notes=tuple(notes + gif_notes), **base)
            reason = f"the animation could not fit ({why})"
        else:
            reason = "the profile does not take animated GIF"
        picture = still_frame(im, frames, settings)
        notes.append(f"{reason}; its first frame is sent alone" if picture == 0 else
                     f"{reason}; frame {picture + 1} of {frames} is sent alone, as the one that shows most: "
                     "the first is one colour (a fade in, or a picture yet to be drawn)")

    notes += first_picture_notes(data, mime, frames)
    return _still(data, mime, source_long, im, picture, budget, target, accepts, settings, codes, notes, base)


def _source_notes(data: bytes, mime: str, source_long: int, im: Image.Image, budget: int, target: ImageTarget,
                  verdict: str | None, accepts: frozenset[str]) -> list[str]:
    """What the user should know about the source before it is converted: why a file that fits is
    re-encoded, and which damaged or oversized PNG chunks were left out."""
    notes: list[str] = []
    longest = target.long_side_for(im.size)
    if _taken_as_it_is(mime, verdict, accepts) and len(data) <= budget and source_long > longest:
        # It fits, yet comes back smaller: the user is told why.
        notes.append(f"re-encoded although the file fits: it is {source_long} px on its long side, past the "
                     f"profile's {longest}")
    dropped = im.info.get(DROPPED, frozenset())
    if dropped & png_metadata.TEXT:
        notes.append("the PNG's text metadata inflates past what is safe to read (1 MB a chunk); it was dropped unread")
    if dropped & png_metadata.ICC:
        notes.append("the PNG's ICC profile inflates past what is safe to read (1 MB); it was dropped unread and "
                     "the colours taken as sRGB")
    for kind in sorted(im.info.get(WRONG_CHECKSUMS, ())):
        notes.append(f"the PNG's {kind.decode('latin-1')} chunk is damaged (its checksum is wrong); it was dropped, "
                     "as libpng-based viewers do")
    return notes


def _still(data: bytes, mime: str, source_long: int, im: Image.Image, picture: int, budget: int,
           target: ImageTarget, accepts: frozenset[str], settings: Settings, codes: tuple[int, int] | None,
           notes: list[str], base: dict[str, Any]) -> Converted:
    """One picture of the source (``picture``: its frame, page or picture sent) as a GIF where that
    holds it losslessly or looks better, else as the best JPEG that fits (``source_long``: the
    source's long side as first opened, for the scale reported)."""
    try:
        im.seek(picture)  # from here on the frame (page, picture) sent is the one loaded
    except Exception as exc:
        raise damaged(exc) from None
    if "image/gif" in accepts:
        gif = lossless_gif(im, budget, target.long_side_for(im.size), codes)
        if gif is not None:
            return Converted(data=gif[0], mime="image/gif", passed_through=False, width=im.width, height=im.height,
                             frames=1, scale=1.0, encodes=1, notes=tuple(notes + gif[1]), **base)

    if "image/jpeg" not in accepts:
        raise NotAllowed(f"the picture needs re-encoding, and the profile takes no JPEG (it takes {sorted(accepts)})")
    drawn = drawn_colours(im) if "image/gif" in accepts else None
    own = colours_as_sent(im, drawn, codes) if drawn else None
    aspect = max(im.size) / max(1, min(im.size))
    # A JPEG never wins past useful_long_side; a GIF of a drawing can (a cartoon's frame: 0.12 bits a pixel).
    useful = useful_long_side(budget, aspect) if own is None else target.long_side_for(im.size)
    needed = max(target.min_long_side, min(target.long_side_for(im.size), useful))
    # The same open picture: a PNG that lossless_gif has decoded to count its colours is not decoded twice.
    pixels, decode_notes = decode(data, mime, settings, needed, picture, opened=im, codes=codes)
    scaled, gif_encodes, alpha = None, 0, None
    if own is not None:
        longest = target.long_side_for(pixels.size)
        alpha = upright_alpha(im, pixels.size)
        if alpha is not None and alpha.getextrema()[1] < HALF_COVERED:
            # No pixel half covered (a logo saved see-through): kept clear, nothing would show.
            alpha = None
        scaled, gif_encodes = scaled_gif(pixels, budget, longest, min(target.min_long_side, longest), own, alpha)
    try:
        fit = fit_jpeg(pixels, budget, target, settings.image_effort)
    except CannotFit:
        if scaled is None:
            raise
        fit = None
    if scaled is not None and (why := _drawn_wins(pixels, scaled, fit, im.size)):
        w, h = scaled.picture.size
        if alpha is not None:  # a logo's clear ground stays clear, not a white box on a dark chat
            kept = "its clear pixels kept clear (GIF has no partial transparency: less than half covered is clear)"
            decode_notes = [kept if n == FLATTENED else n for n in decode_notes]
        return Converted(data=scaled.data, mime="image/gif", passed_through=False, width=w, height=h, frames=1,
                         scale=max(w, h) / source_long, encodes=gif_encodes + (fit.encodes if fit else 0),
                         notes=tuple(notes + decode_notes + [why]), **base)
    assert fit is not None
    return Converted(
        data=fit.data,
        mime="image/jpeg",
        passed_through=False,
        width=fit.width,
        height=fit.height,
        frames=1,
        quality=fit.quality,
        subsampling=fit.subsampling,
        scale=max(fit.width, fit.height) / source_long,
        encodes=fit.encodes + gif_encodes,
        notes=tuple(notes + decode_notes),
        **base,
    )


def _drawn_wins(
    pixels: Image.Image, scaled: ScaledGif, fit: JpegFit | None, source_size: tuple[int, int]
) -> str | None:
    """Why the GIF of a picture drawn with few colours (scaled, or flattened) is sent rather than the
    JPEG, or None when the JPEG is closer to the source, or as close and no larger."""
    w, h = scaled.picture.size
    colours = len(scaled.picture.getcolors(256) or [])
    turned_only = sorted(scaled.picture.size) == sorted(source_size)  # an EXIF turn swaps the sides, no more
    where = "at its own size" if turned_only else f"scaled to {w}x{h}"
    sent = f"drawn with few colours: sent as a GIF of {colours} colour{'s' * (colours != 1)} {where}"
    if fit is None:
        return f"{sent}; no JPEG within the profile's floors fits"
    likeness = Likeness(pixels)
    gif_score, jpeg_score = likeness.score(scaled.as_judged), likeness.score(Image.open(io.BytesIO(fit.data)))
    if gif_score > jpeg_score:
        return f"{sent}, closer to the source than the best JPEG that fits (which rings around hard edges)"
    if gif_score == jpeg_score and len(scaled.data) < len(fit.data):
        return f"{sent}, as close to the source as the best JPEG that fits and smaller"
    return None


def _taken_as_it_is(mime: str, verdict: str | None, accepts: frozenset[str]) -> bool:
    """Whether the profile takes pictures of this type as they are (the file must still pass _as_it_is)."""
    return mime in AS_IT_IS and mime in accepts and verdict != "convert"


def _as_it_is(
    data: bytes,
    mime: str,
    im: Image.Image,
    frames: int,
    budget: int,
    target: ImageTarget,
    verdict: str | None,
    accepts: frozenset[str],
    settings: Settings,
) -> bytes | None:
    """What may be sent without an encode: the source byte for byte, a JPEG, GIF, PNG or WebP with
    its metadata cut out, or nothing (None). Only what the profile takes as it is, small enough,
    clean, and whole.
    """
    if not _taken_as_it_is(mime, verdict, accepts):
        return None
    if max(im.size) > target.long_side_for(im.size) or frames > frame_limit(im, settings):
        return None
    if im.width * im.height > settings.max_image_pixels:
        return None  # a JPEG of one scan may be opened past the ceiling; it is proved whole by a full decode
    if GROWN_CANVAS in im.info:
        return None  # a GIF frame past the screen: viewers differ on whether to grow it or to clip the frame
    icc = im.info.get("icc_profile")
    if icc and icc_tags.without_float_tags(icc) != icc:
        return None  # pipelines mediaprep does not run are not sent on for a handset to run (icc_tags)
    if mime == "image/gif":
        # Comments (GIMP's "Created with GIMP"), XMP (Photoshop's) and other application data are
        # cut out; re-encoding an animation to drop them changed its colours.
        out = gif.without_metadata(data) if frames == 1 or target.keep_gif else None
        if out is None:
            return None  # bytes after the trailer, cut short, or a block that is drawn or unknown
    elif mime in ("image/png", "image/webp"):
        # Text (authors, software), XMP, EXIF (GPS) and the like are cut out; the picture, its
        # transparency and its colour profile stay. Animations go to the GIF path.
        cut = png_metadata.without_metadata if mime == "image/png" else webp_chunks.without_metadata
        out = cut(data) if frames == 1 else None
        if out is None or orientation(im) != 1:
            return None  # the EXIF turns the picture: the pixels must be turned, which means an encode
    else:
        if frames > 1:
            return None  # an MPO: its further pictures (and their EXIF) would ride along unseen
        if im.mode == "CMYK":
            return None  # print workflows save CMYK, which not every handset's decoder takes
        # EXIF (GPS, camera), XMP, IPTC and comments, anywhere in the file, are cut out. None: not
        # one whole JPEG from its start to its end marker (bytes after the image make a polyglot;
        # none at all, a truncated file).
        out = without_metadata(data)
        if out is None:
            return None
        if out != data and orientation(im) != 1:
            return None  # the EXIF turns the picture: the pixels must be turned, which means an encode
    if len(out) > budget:
        return None
    try:
        # Every frame of an animation: a handset shows them all. Cutting metadata leaves the scans
        # as they are, so the source's pixels are the output's.
        for i in range(frames):
            im.seek(i)
            im.load()
    except Exception as exc:
        # Not left to the full path: a decode that failed once comes back blank, without a word.
        raise damaged(exc) from None
    return out
