"""Draw the bundle's icon.png (512x512, three usage bars on a rounded tile) with the standard library.

Run `python packaging/mcpb/make_icon.py` after changing the drawing; the PNG is committed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 512
CORNER = 96
TILE = (18, 52, 86, 255)
BARS = ((120, 300, 200, 412), (216, 220, 296, 412), (312, 120, 392, 412))  # x0, y0, x1, y1
BAR = (94, 234, 212, 255)
BASELINE = (96, 420, 416, 436)
LINE = (226, 232, 240, 255)
CLEAR = (0, 0, 0, 0)


def _inside_rounded_tile(x: int, y: int) -> bool:
    # Distance from the nearest corner centre decides the rounded corners; the rest is a square.
    cx = min(max(x, CORNER), SIZE - 1 - CORNER)
    cy = min(max(y, CORNER), SIZE - 1 - CORNER)
    return (x - cx) ** 2 + (y - cy) ** 2 <= CORNER**2


def _inside(box: tuple[int, int, int, int], x: int, y: int) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= x < x1 and y0 <= y < y1


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    if not _inside_rounded_tile(x, y):
        return CLEAR
    if any(_inside(bar, x, y) for bar in BARS):
        return BAR
    if _inside(BASELINE, x, y):
        return LINE
    return TILE


def png_bytes() -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(SIZE))  # filter type 0 per row
        for y in range(SIZE)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    target = Path(__file__).with_name("icon.png")
    target.write_bytes(png_bytes())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
