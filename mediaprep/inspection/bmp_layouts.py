"""What Pillow's BMP reader makes of the layouts the format has: which it cannot decode, and the
alpha it leaves unread."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image


def undecoded(reason: str) -> bool:
    """Whether Pillow's BMP reader refused a layout the format has but Pillow cannot decode: a
    JPEG or PNG inside (4, 5: printer drivers), alpha bit fields (6: Windows CE), CMYK (11-13),
    64 bits a pixel, or bit fields other than the usual masks. A value the format does not have
    at all is a damaged header, as before."""
    if reason.startswith("Unsupported BMP bitfields layout"):
        return True
    number = re.search(r"\((\d+)\)", reason)
    value = int(number.group(1)) if number else None
    if reason.startswith("Unsupported BMP compression"):
        return value in (4, 5, 6, 11, 12, 13)
    return reason.startswith("Unsupported BMP pixel depth") and value == 64


def read_fourth_byte_as_alpha(im: Image.Image, data: bytes) -> None:
    """Read a 32-bit BMP's fourth byte as alpha where it holds any, as browsers do.

    The format calls that byte unused in an uncompressed (BI_RGB) BMP, and Pillow reads it so.
    But Pillow itself writes an RGBA picture's alpha there, as other writers do: read as opaque,
    its transparent margins came out in the colour hidden under them (black, in a cut-out) instead
    of flattened on white. Chromium and Firefox take the byte as alpha unless it is zero in every
    pixel, which is what writers that really leave it unused leave.
    """
    tile = im.tile[0] if len(im.tile) == 1 else None
    if im.info.get("compression") != 0 or tile is None or tile.codec_name != "raw" or tile.args[0] != "BGRX":
        return
    stride = tile.args[1]
    end = min(len(data), tile.offset + stride * im.height)
    pixels = np.frombuffer(data, np.uint8, count=max(0, end - tile.offset), offset=min(tile.offset, len(data)))
    if not pixels[3::4].any():
        return
    # What Pillow's reader does for a BMP it knows to hold alpha (a 32-bit cursor's).
    im.tile = [tile._replace(args=("BGRA", *tile.args[1:]))]
    im._mode = "RGBA"
