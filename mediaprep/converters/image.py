"""Images: pass through what already fits and is clean, otherwise re-encode under the budget."""

from __future__ import annotations

import warnings
from typing import Any

from PIL import Image

from ..errors import CorruptInput, MediaprepError, NotAllowed
from ..inspection.image import CORRUPT_IMAGE_CODE, open_image
from ..profiles import ImageTarget
from ..settings import Settings
from . import Converted
from .gif import fit_animation, is_clean_gif
from .jpeg import fit_jpeg, useful_long_side
from .jpeg_segments import without_metadata
from .picture import decode, orientation

def convert_image(
    data: bytes,
    mime: str,
    budget: int,
    target: ImageTarget,
    verdict: str | None,
    accepts: frozenset[str],
    settings: Settings,
) -> Converted:
    im = open_image(data, mime, settings)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            frames = int(getattr(im, "n_frames", 1) or 1)
    except MediaprepError:
        raise
    except Exception as exc:
        raise CorruptInput(f"image data is damaged: {exc}", provider_code=CORRUPT_IMAGE_CODE) from None
    source_long = max(im.size)
    base: dict[str, Any] = {"source_mime": mime, "source_bytes": len(data), "budget": budget, "kind": "image"}

    if _may_pass_through(data, mime, im, frames, budget, target, verdict, accepts, settings):
        return Converted(data=data, mime=mime, passed_through=True, width=im.width, height=im.height,
                         frames=frames, **base)
    stripped = _stripped_of_metadata(data, mime, im, frames, budget, target, verdict, accepts, settings)
    if stripped is not None:
        return Converted(data=stripped, mime=mime, passed_through=False, width=im.width, height=im.height,
                         frames=1, notes=("metadata removed (EXIF, XMP, comments); the picture itself is the "
                                          "source's, not re-encoded",), **base)

    notes: list[str] = []
    if mime in ("image/gif", "image/webp") and frames > 1:
        if target.keep_gif and "image/gif" in accepts:
            result, why = fit_animation(im, frames, budget, target, settings)
            if result is not None:
                gif, w, h, kept, encodes, gif_notes = result
                return Converted(data=gif, mime="image/gif", passed_through=False, width=w, height=h,
                                 frames=kept, scale=max(w, h) / source_long, encodes=encodes,
                                 notes=tuple(gif_notes), **base)
            notes.append(f"the animation could not fit ({why}); its first frame is sent as a JPEG")
        else:
            notes.append("the profile does not take animated GIF; the first frame is sent as a JPEG")

    if "image/jpeg" not in accepts:
        raise NotAllowed(f"the picture needs re-encoding, and the profile takes no JPEG (it takes {sorted(accepts)})")
    aspect = max(im.size) / max(1, min(im.size))
    needed = max(target.min_long_side, min(target.max_long_side, useful_long_side(budget, aspect)))
    pixels, decode_notes = decode(data, mime, settings, needed)
    fit = fit_jpeg(pixels, budget, target, settings.image_effort)
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
        encodes=fit.encodes,
        notes=tuple(notes + decode_notes),
        **base,
    )


def _stripped_of_metadata(
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
    """The JPEG with its metadata segments cut out, where that alone makes it fit to send as it is.

    Not when the EXIF turns the picture (the pixels must be turned instead, which means decoding).
    """
    if mime != "image/jpeg" or frames > 1 or orientation(im) != 1:
        return None
    stripped = without_metadata(data)
    if stripped is None or stripped == data:
        return None
    try:
        clean = open_image(stripped, mime, settings)
    except MediaprepError:
        return None
    if not _may_pass_through(stripped, mime, clean, 1, budget, target, verdict, accepts, settings):
        return None
    return stripped


def _may_pass_through(
    data: bytes,
    mime: str,
    im: Image.Image,
    frames: int,
    budget: int,
    target: ImageTarget,
    verdict: str | None,
    accepts: frozenset[str],
    settings: Settings,
) -> bool:
    """Sent byte for byte only when taken as it is, small enough, clean, and whole."""
    if mime not in ("image/jpeg", "image/gif") or mime not in accepts or verdict == "convert":
        return False
    if len(data) > budget or max(im.size) > target.max_long_side or frames > settings.max_frames:
        return False
    if mime == "image/gif" and frames > 1 and not target.keep_gif:
        return False
    if mime == "image/jpeg":
        if frames > 1:
            return False  # an MPO: its further pictures (and their EXIF) would ride along unseen
        if without_metadata(data) != data:
            # EXIF (GPS, camera), XMP, IPTC or comments anywhere in the file (cut them, or
            # re-encode); or not one whole JPEG from its start to its end marker (bytes after the
            # image make a polyglot; none at all, a truncated file).
            return False
    elif not is_clean_gif(data):
        return False  # comments, XMP or other application data, bytes after the trailer, or cut short
    try:
        for i in range(frames):  # every frame of an animation: a handset shows them all
            im.seek(i)
            im.load()
    except Exception:
        return False  # damaged data is re-encoded (or rejected) by the full path
    return True
