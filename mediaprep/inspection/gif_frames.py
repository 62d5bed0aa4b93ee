"""How large a GIF's canvas becomes, read from its frames' descriptors before any frame is decoded.

A GIF states a screen size, and then each frame states where it is drawn and how large it is. A
frame may reach past the screen, and Pillow then grows the canvas to hold it, as it seeks to that
frame: a 60 kB GIF whose header says 10x10 can hold a 9000x9000 second frame. The header's size is
all a check made at opening sees.

Layout: "GIF87a" or "GIF89a", the screen (width, height, flags, background, aspect), a global
colour table if the flags say so, then blocks: 0x21 an extension (a label, then data sub-blocks),
0x2C a frame (x, y, width, height, flags, a local colour table if the flags say so, the LZW code
size, then data sub-blocks), 0x3B the end. Sub-blocks are a length byte and that many bytes; a
length of 0 ends them. Pillow passes over any other byte between blocks, so this walk does too: a
stray byte before a frame must not hide it.
"""

from __future__ import annotations


def canvas_size(data: bytes) -> tuple[int, int]:
    """The screen grown to hold every frame, as Pillow draws them; what is past damage or a cut is
    left to the decoder, which reports it."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return 0, 0
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    i = 13 + colour_table_size(data[10])
    while i < len(data):
        kind = data[i]
        if kind == 0x21:
            i = skip_sub_blocks(data, i + 2)
        elif kind == 0x2C:
            if i + 10 > len(data):
                break
            x, y, w, h = (int.from_bytes(data[j : j + 2], "little") for j in range(i + 1, i + 9, 2))
            width, height = max(width, x + w), max(height, y + h)
            i = skip_sub_blocks(data, i + 10 + colour_table_size(data[i + 9]) + 1)
        elif kind == 0x3B:
            break
        else:
            i += 1  # as Pillow does: a stray byte between blocks is passed over, and what follows is read
    return width, height


def colour_table_size(flags: int) -> int:
    """The bytes of the colour table a screen's or frame's flags call for."""
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def skip_sub_blocks(data: bytes, i: int) -> int:
    """The position after a chain of sub-blocks (a length byte, that many bytes; 0 ends it)."""
    while i < len(data) and data[i]:
        i += data[i] + 1
    return i + 1
