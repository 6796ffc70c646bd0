"""Image files written by the tests themselves, of the kinds Pillow cannot write or writes only
one way: 16-bit PNGs of any colour type, CMYK JPEGs with or without Adobe's marker."""

import struct
import zlib

import numpy as np
from PIL import Image


def png(samples: np.ndarray, bit_depth: int, color_type: int) -> bytes:
    """A PNG file of ``samples`` (``[h, w]`` or ``[h, w, channels]``; colour type 0 grey, 2 RGB,
    4 grey+alpha, 6 RGBA), written here because Pillow cannot write 16-bit colour PNGs."""
    height, width = samples.shape[:2]
    rows = samples.astype(">u2" if bit_depth == 16 else "u1").reshape(height, -1)
    scanlines = b"".join(b"\0" + row.tobytes() for row in rows)  # filter type 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines))
            + chunk(b"IEND", b""))


def cmyk_image(ink: np.ndarray) -> Image.Image:
    """A CMYK Pillow image of ink amounts ``[h, w, 4]`` (Pillow saves it as an Adobe JPEG)."""
    return Image.frombytes("CMYK", (ink.shape[1], ink.shape[0]), ink.astype(np.uint8).tobytes())


def without_adobe_marker(jpeg: bytes) -> bytes:
    """``jpeg`` with its APP14 "Adobe" segments removed: the CMYK samples are then read as
    stored, not inverted (how other tools write CMYK JPEGs)."""
    out, at = jpeg[:2], 2  # SOI
    while jpeg[at + 1] != 0xDA:  # up to the start of scan, segment by segment
        length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
        segment = jpeg[at : at + 2 + length]
        if not (jpeg[at + 1] == 0xEE and segment[4:9] == b"Adobe"):
            out += segment
        at += 2 + length
    assert len(out) < at, "no Adobe marker to remove"
    return out + jpeg[at:]
