"""The wxacode JPEG really decodes: a minimal independent baseline decoder (DC-only images,
ITU T.81 F.2) and, when Chromium is installed, the browser's own decoder."""

from __future__ import annotations

import base64
import shutil
import struct

import pytest

from gateway.simulator.images import encode_block_jpeg, encode_png, qr_matrix, upscale


def _segments(data: bytes) -> tuple[dict[int, bytes], bytes]:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    pos, segments = 2, {}
    while True:
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        segments[marker] = segments.get(marker, b"") + payload
        pos += 2 + length
        if marker == 0xFFDA:
            return segments, data[pos:-2]


def _huffman(table: bytes) -> dict[tuple[int, int], int]:
    counts, values = table[1:17], table[17:]
    codes, code, index = {}, 0, 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            codes[(length, code)] = values[index]
            code, index = code + 1, index + 1
        code <<= 1
    return codes


def _bits(scan: bytes):  # type: ignore[no-untyped-def]
    data = scan.replace(b"\xff\x00", b"\xff")
    for byte in data:
        for shift in range(7, -1, -1):
            yield (byte >> shift) & 1


def decode_dc_only(data: bytes) -> list[list[int]]:
    """Block grey levels of a greyscale baseline JPEG whose blocks have no AC energy."""
    segments, scan = _segments(data)
    _, height, width, _ = struct.unpack(">BHHB", segments[0xFFC0][:6])
    quant = segments[0xFFDB][1]
    dht = segments[0xFFC4]
    dc_len = 17 + sum(dht[1:17])
    dc, ac = _huffman(dht[:dc_len]), _huffman(dht[dc_len:])
    bits, previous, rows = _bits(scan), 0, []

    def symbol(table: dict[tuple[int, int], int]) -> int:
        code, length = 0, 0
        while (length, code) not in table:
            code, length = (code << 1) | next(bits), length + 1
            assert length <= 16
        return table[(length, code)]

    for _ in range(height // 8):
        row = []
        for _ in range(width // 8):
            category, diff = symbol(dc), 0
            for _ in range(category):
                diff = (diff << 1) | next(bits)
            if category and diff < (1 << (category - 1)):
                diff -= (1 << category) - 1
            previous += diff
            assert symbol(ac) == 0x00  # end of block: no AC coefficients
            row.append(previous * quant // 8 + 128)
        rows.append(row)
    return rows


def test_jpeg_decodes_to_the_qr_modules() -> None:
    matrix = qr_matrix("wxsim://wxacode?appid=wx00000000000000c3&scene=t%3DAb3x9Q")
    blocks = upscale(matrix, 2, 0, 255)
    assert decode_dc_only(encode_block_jpeg(blocks)) == blocks


def test_jpeg_handles_every_dc_category() -> None:
    blocks = [[(r * 37 + c * 91) % 256 for c in range(16)] for r in range(16)]
    assert decode_dc_only(encode_block_jpeg(blocks)) == blocks


def test_jpeg_byte_stuffing() -> None:
    blocks = [
        [255, 254, 254, 255, 128, 254, 1, 254],
        [0, 254, 0, 1, 128, 254, 255, 255],
        [1, 254, 254, 1, 1, 255, 255, 255],
        [254, 1, 0, 0, 255, 254, 0, 128],
    ]
    data = encode_block_jpeg(blocks)
    assert b"\xff\x00" in data[data.index(b"\xff\xda") + 10 :]  # a stuffed 0xFF in the scan
    assert decode_dc_only(data) == blocks


def test_png_structure() -> None:
    png = encode_png([[(0, 255), (255, 0)], [(255, 0), (0, 255)]])
    assert (
        png.startswith(b"\x89PNG\r\n\x1a\n") and b"IHDR" in png and png.endswith(b"IEND\xaeB`\x82")
    )


@pytest.mark.browser
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
async def test_chromium_decodes_the_images() -> None:
    playwright = pytest.importorskip("playwright.async_api")
    matrix = qr_matrix("wxsim://wxacode?scene=x")
    jpeg = encode_block_jpeg(upscale(matrix, 1, 0, 255))
    png = encode_png([[(0, 255 if cell else 0) for cell in row] for row in matrix])
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = await browser.new_page()
        for mime, data, scale in (("image/jpeg", jpeg, 8), ("image/png", png, 1)):
            url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            sampled = await page.evaluate(_SAMPLE_JS, [url, scale])
            dark = [
                [(px[0] < 128) if mime == "image/jpeg" else (px[1] > 128) for px in row]
                for row in sampled
            ]
            assert dark == matrix
        await browser.close()


_SAMPLE_JS = """async ([url, scale]) => {
  const img = new Image(); img.src = url; await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data; const rows = [];
  for (let y = Math.floor(scale / 2); y < c.height; y += scale) { const row = [];
    for (let x = Math.floor(scale / 2); x < c.width; x += scale) {
      const i = (y * c.width + x) * 4; row.push([d[i], d[i + 3]]); }
    rows.push(row); }
  return rows;
}"""
