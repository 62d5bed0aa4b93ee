"""Pictures whose colours are told by code points instead of an ICC profile, turned into sRGB.

A HEIF or AVIF can describe its colours with an "nclx" colour box: ITU-T H.273 numbers for the
primaries and the transfer curve; a PNG, with a cICP chunk. Pillow and pillow-heif hand over the
pixels as they are coded, so a Display P3 or BT.2020 picture went out as if its numbers were sRGB
(duller), and an HDR one (PQ or HLG, as Canon's, Sony's and Nikon's cameras save HDR HEIF) came out
dark and grey: PQ puts paper white near code 58 %. Here the pixels go to linear light, to sRGB's
primaries, and back.

HDR is brought to SDR as ITU-R BT.2408 has it: the HDR reference white (203 cd/m2) becomes SDR
white, and the highlights above it are rolled off with the same Mobius curve as the video path's
(which counts 100 cd/m2 as white, as ffmpeg's zscale does; a still is looked at, not watched, and
BT.2408's white keeps its mid-tones where an SDR copy of the same scene has them).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..inspection import png_metadata

# ITU-T H.273 colour primaries: (red, green, blue, white) chromaticities.
_D65 = (0.3127, 0.3290)
PRIMARIES = {
    1: ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060), _D65),  # BT.709 / sRGB
    9: ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046), _D65),  # BT.2020 / BT.2100
    12: ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), _D65),  # Display P3 (SMPTE EG 432-1)
}
NAMES = {9: "BT.2020", 12: "Display P3"}
SRGB_PRIMARIES = 1
LINEAR, PQ, HLG = 8, 16, 18  # H.273 transfers; any other is taken as sRGB's curve (BT.709's, BT.601's are near it)

REFERENCE_WHITE = 203.0  # cd/m2: BT.2408's HDR reference white, sent as SDR white
HLG_PEAK = 1000.0  # cd/m2: the display BT.2100's HLG reference OOTF is defined for
MOBIUS_KNEE = 0.3  # ffmpeg's tonemap default: below it, light is kept as it is
BAND_ROWS = 256


BMFF = frozenset({"image/heic", "image/heif", "image/avif"})  # ISO BMFF, where an nclx colour box can be
FORMATS = BMFF | {"image/png"}  # PNG's cICP chunk (its third edition) holds the same codes


def coded_colours(data: bytes, mime: str) -> tuple[int, int] | None:
    """A HEIF's, AVIF's or PNG's H.273 colour codes where they call for a conversion to sRGB (wide
    gamut, HDR) and come before the file's ICC profile, if it has one; else None. A PNG's cICP comes
    first, as the PNG standard says; a HEIF's or AVIF's ICC profile does (colour_codes)."""
    if mime not in FORMATS:
        return None
    if mime == "image/png":
        found = png_metadata.cicp(data)
        # PNG allows RGB alone (matrix 0); narrow range is video's, which no PNG writer uses.
        codes = found[:2] if found is not None and found[2:] == (0, 1) else None
    else:
        codes = colour_codes(data)
    if codes is None:
        return None
    primaries, transfer = codes
    converts = (primaries in PRIMARIES and primaries != SRGB_PRIMARIES) or transfer in (LINEAR, PQ, HLG)
    return codes if converts else None


def colour_codes(data: bytes) -> tuple[int, int] | None:
    """(primaries, transfer) from the nclx colour box of a HEIF's or AVIF's primary picture; None
    when it has none, has an ICC profile beside (which comes first), or the file's boxes cannot be
    followed."""
    try:
        meta = _child(data, 0, len(data), b"meta")
        if meta is None:
            return None
        start, end = meta[0] + 4, meta[1]  # a full box: version and flags first
        pitm, iprp = _child(data, start, end, b"pitm"), _child(data, start, end, b"iprp")
        if iprp is None:
            return None
        ipco = _child(data, *iprp, b"ipco")
        if ipco is None:
            return None
        colours = {i: (begin, data[begin : begin + 4]) for i, (kind, begin, _) in enumerate(_boxes(data, *ipco), 1)
                   if kind == b"colr"}
        chosen = _properties_of(data, iprp, _primary_id(data, pitm)) if pitm else None
        own = [colours[i] for i in sorted(chosen or ()) if i in colours]
        # A grid (a camera's or a phone's tiled picture) often has no colour box of its own: libheif
        # then takes its tiles', and every tile has the same.
        boxes = own or list(colours.values())[:1]
        nclx = [begin for begin, form in boxes if form == b"nclx"]
        if not nclx or any(form in (b"prof", b"rICC") for _, form in boxes):
            return None
        begin = nclx[0]
        return int.from_bytes(data[begin + 4 : begin + 6], "big"), int.from_bytes(data[begin + 6 : begin + 8], "big")
    except (IndexError, ValueError):
        return None


def to_srgb(im: Image.Image, codes: tuple[int, int], notes: list[str]) -> Image.Image:
    """``im`` (RGB or RGBA, 8 bits, coded as ``codes`` say) in sRGB. Primaries H.273 does not name
    here are taken as BT.709's."""
    primaries, transfer = codes
    alpha = im.getchannel("A") if im.mode == "RGBA" else None
    rgb = np.asarray(im.convert("RGB"))
    linear = _to_linear(transfer)  # one lookup per 8-bit code
    source = PRIMARIES.get(primaries, PRIMARIES[SRGB_PRIMARIES])
    srgb = np.linalg.inv(_rgb_to_xyz(PRIMARIES[SRGB_PRIMARIES]))
    matrix = (srgb @ _rgb_to_xyz(source)).T.astype(np.float32)  # BT.709's own: the identity, to rounding

    def light(pixels: np.ndarray) -> np.ndarray:
        band = linear[pixels]
        return (_hlg_displayed(band, primaries) if transfer == HLG else band) @ matrix

    hdr = transfer in (PQ, HLG)
    # Where the roll-off ends: the brightest light in every fourth row and column.
    peak = float(light(rgb[::4, ::4]).max()) if hdr else 1.0
    # A band of rows at a time: linear light is 12 bytes a pixel, 600 MB for a 50 MP picture at once.
    out = np.empty_like(rgb)
    for top in range(0, rgb.shape[0], BAND_ROWS):
        band = light(rgb[top : top + BAND_ROWS])
        out[top : top + BAND_ROWS] = _srgb_codes(_rolled_off(band, peak) if hdr else band)
    picture = Image.fromarray(out)
    if alpha is not None:
        picture.putalpha(alpha)
    gamut = NAMES.get(primaries)
    if hdr:
        notes.append(f"HDR ({'PQ' if transfer == PQ else 'HLG'}{', ' + gamut if gamut else ''}) picture "
                     "tone-mapped to SDR sRGB")
    else:
        notes.append(f"colour converted to sRGB from the picture's own colour description ({gamut or 'linear'})")
    return picture


def _to_linear(transfer: int) -> np.ndarray:
    """Light for each 8-bit code: 1.0 is SDR white (for HDR, the reference white)."""
    v = np.arange(256, dtype=np.float64) / 255
    if transfer == LINEAR:
        light = v
    elif transfer == PQ:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = v ** (1 / m2)
        light = (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1) * 10000 / REFERENCE_WHITE
    elif transfer == HLG:  # scene light, 0..1: _hlg_displayed makes it display light
        a, b, c = 0.17883277, 0.28466892, 0.55991073
        light = np.where(v <= 0.5, v * v / 3, (np.exp((v - c) / a) + b) / 12)
    else:
        light = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return light.astype(np.float32)


def _hlg_displayed(scene: np.ndarray, primaries: int) -> np.ndarray:
    """BT.2100's reference OOTF for HLG (gamma 1.2 at 1000 cd/m2), on the scene's luminance as the
    standard has it: applied to each channel alone, it moved a photograph's colours by 6 levels on
    average, up to 28."""
    weights = (0.2627, 0.6780, 0.0593) if primaries == 9 else (0.2126, 0.7152, 0.0722)
    luminance = scene @ np.array(weights, dtype=np.float32)
    return scene * (np.maximum(luminance, 1e-6) ** 0.2 * (HLG_PEAK / REFERENCE_WHITE))[..., None]


def _rolled_off(light: np.ndarray, peak: float) -> np.ndarray:
    """Highlights above SDR white, up to the picture's ``peak``, brought under it (Mobius, on each
    pixel's brightest channel, so its hue is kept); what is at most ``MOBIUS_KNEE`` stays as it is."""
    if peak <= 1.0:
        return light
    brightest = np.maximum(light.max(axis=2), 1e-6)
    j = MOBIUS_KNEE
    a = -j * j * (peak - 1) / (j * j - 2 * j + peak)
    b = (j * j - 2 * j * peak + peak) / (peak - 1)
    mapped = np.where(brightest <= j, brightest, (b * b + 2 * b * j + j * j) / (b - a) * (brightest + a) / (brightest + b))
    return light * (mapped / brightest)[..., None]


def _srgb_codes(light: np.ndarray) -> np.ndarray:
    # 4096 steps of linear light are finer than 8-bit sRGB's darkest step (1/3295).
    steps = np.linspace(0, 1, 4096)
    table = np.round(255 * np.where(steps <= 0.0031308, steps * 12.92, 1.055 * steps ** (1 / 2.4) - 0.055))
    index = np.clip(light, 0, 1) * 4095 + 0.5
    return table.astype(np.uint8)[index.astype(np.int32)]


def _rgb_to_xyz(primaries: tuple) -> np.ndarray:
    (rx, ry), (gx, gy), (bx, by), (wx, wy) = primaries
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in ((rx, ry), (gx, gy), (bx, by))]).T
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return columns * np.linalg.solve(columns, white)


# ISO/IEC 14496-12 boxes: what is needed to find the primary picture's colour box.


def _boxes(data: bytes, start: int, end: int):
    """(type, body start, body end) of each box between start and end."""
    i = start
    while i + 8 <= end:
        size, kind, header = int.from_bytes(data[i : i + 4], "big"), data[i + 4 : i + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[i + 8 : i + 16], "big"), 16
        elif size == 0:
            size = end - i
        if size < header or i + size > end:
            return
        yield kind, i + header, i + size
        i += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((begin, stop) for found, begin, stop in _boxes(data, start, end) if found == kind), None)


def _primary_id(data: bytes, pitm: tuple[int, int]) -> int:
    begin = pitm[0]
    width = 2 if data[begin] == 0 else 4  # version 0: 16-bit item IDs
    return int.from_bytes(data[begin + 4 : begin + 4 + width], "big")


def _properties_of(data: bytes, iprp: tuple[int, int], item: int) -> set[int] | None:
    """The 1-based indexes (into ipco) of the item's properties, from ipma; None if not found."""
    ipma = _child(data, *iprp, b"ipma")
    if ipma is None:
        return None
    i = ipma[0]
    version, flags = data[i], int.from_bytes(data[i + 1 : i + 4], "big")
    count = int.from_bytes(data[i + 4 : i + 8], "big")
    i += 8
    id_width, index_width = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    for _ in range(count):
        item_id = int.from_bytes(data[i : i + id_width], "big")
        n = data[i + id_width]
        i += id_width + 1
        indexes = {int.from_bytes(data[i + k * index_width : i + (k + 1) * index_width], "big")
                   & (0x7FFF if index_width == 2 else 0x7F) for k in range(n)}
        i += n * index_width
        if item_id == item:
            return indexes
    return None
