"""Small real images without Pillow: a QR-pattern baseline JPEG or PNG, and avatars.

The JPEG encoder only handles images made of flat 8x8 blocks (one grey level per block). The
DCT of a flat block has a DC coefficient only, ``8 * (v - 128)``; with a DC quantiser of 8 the
quantised value is exactly ``v - 128``, so the image decodes losslessly and the encoder needs no
DCT: per block a DC difference (standard luminance DC Huffman table, ITU T.81 Annex K.3) and an
end-of-block code. QR modules are drawn as whole blocks, so the codes scan.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import qrcode

__all__ = ["encode_block_jpeg", "encode_png", "qr_matrix", "upscale"]

# ITU T.81 Annex K.3, table K.3: code counts by length 1..16, then the categories 0..11.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# A one-symbol AC table: EOB (0x00) coded as the single bit "0".
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0x00,)


def _canonical_codes(bits: Sequence[int], values: Sequence[int]) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length), per ITU T.81 Annex C."""
    codes: dict[int, tuple[int, int]] = {}
    code, index = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_BITS, _DC_VALUES)
_EOB = _canonical_codes(_AC_BITS, _AC_VALUES)[0x00]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, code: int, length: int) -> None:
        self._acc = (self._acc << length) | code
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)  # byte stuffing (T.81 F.1.2.3)
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1-bits
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def _headers(width: int, height: int) -> bytes:
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + bytes([8] * 64)
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    dht_dc = b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES)
    dht_ac = b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES)
    sos = b"\x01\x01\x00\x00\x3f\x00"
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, jfif),
            _segment(0xDB, dqt),
            _segment(0xC0, sof),
            _segment(0xC4, dht_dc),
            _segment(0xC4, dht_ac),
            _segment(0xDA, sos),
        ]
    )


def encode_block_jpeg(blocks: Sequence[Sequence[int]]) -> bytes:
    """A greyscale baseline JPEG whose 8x8 block (r, c) is the flat grey ``blocks[r][c]``."""
    height, width = len(blocks) * 8, len(blocks[0]) * 8
    writer = _BitWriter()
    previous = 0
    for row in blocks:
        for value in row:
            quantised = max(0, min(255, value)) - 128
            diff, previous = quantised - previous, quantised
            category = abs(diff).bit_length()
            writer.write(*_DC_CODES[category])
            if category:
                writer.write(diff if diff > 0 else diff + (1 << category) - 1, category)
            writer.write(*_EOB)
    return _headers(width, height) + writer.flush() + b"\xff\xd9"


def encode_png(rows: Sequence[Sequence[tuple[int, int]]]) -> bytes:
    """A greyscale+alpha PNG from rows of ``(grey, alpha)`` pixels (stdlib zlib only)."""
    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def qr_matrix(data: str, border: int = 2) -> list[list[bool]]:
    """The QR code of ``data`` as rows of booleans (True = dark), quiet zone included."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    qr.add_data(data)
    qr.make(fit=True)
    return [[bool(cell) for cell in row] for row in qr.get_matrix()]


def upscale(matrix: Sequence[Sequence[bool]], scale: int, dark: int, light: int) -> list[list[int]]:
    """Each module as ``scale`` x ``scale`` cells of grey ``dark``/``light``."""
    rows: list[list[int]] = []
    for row in matrix:
        line = [dark if cell else light for cell in row for _ in range(scale)]
        rows.extend(list(line) for _ in range(scale))
    return rows
