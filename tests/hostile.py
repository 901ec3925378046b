"""A corpus of hostile input files, made on the fly (nothing hostile is committed).

:func:`hostile_files` returns ``{name: bytes}``: truncated and bit-flipped versions of
every supported format, wrong magic, zero bytes, decompression bombs (huge declared
dimensions in every image format, enormous and deeply nested PDFs, many-frame GIF and
TIFF), encrypted PDFs, PDFs with a broken xref, JavaScript or embedded files, SVG and
HTML disguised as images, and polyglots. Each is small on disk; the danger is in what a
careless reader would do with it.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from functools import cache

import pymupdf
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def _page_image() -> Image.Image:
    img = Image.new("L", (600, 160), 255)
    ImageDraw.Draw(img).text(
        (20, 50), "Hostile input test", font=ImageFont.truetype(FONT, 36), fill=0
    )
    return img


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pdf() -> bytes:
    doc = pymupdf.open()
    for i in range(2):
        doc.new_page().insert_text((72, 72), f"Hostile PDF page {i + 1}", fontsize=14)
    return doc.tobytes()


def _flip(data: bytes, seed: int, n: int = 12) -> bytes:
    """Flip ``n`` random bits after the first 16 bytes (so the type still sniffs)."""
    rnd = random.Random(seed)
    out = bytearray(data)
    for _ in range(n):
        i = rnd.randrange(16, len(out))
        out[i] ^= 1 << rnd.randrange(8)
    return bytes(out)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + _png_chunk(b"IEND", b"")
    )


def png_zip_bomb() -> bytes:
    """A real 20000x20000 grey PNG (400 Mpx) whose IDAT is ~400 KB of zlib."""
    raw = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * 20_000
    body = b"".join(raw.compress(row) for _ in range(20_000)) + raw.flush()
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def gif_bomb() -> bytes:
    """A GIF whose logical screen and one frame claim 65535 x 65535."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0)
    data = b"\x02\x02\x4c\x01\x00"  # LZW min code size 2, one tiny sub-block
    return header + image + data + b"\x3b"


def bmp_bomb() -> bytes:
    """A BMP header declaring 60000 x 60000 at 24 bits with no pixel data."""
    w = h = 60_000
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40, 0, 0, 14 + 40) + dib


def tiff_bomb() -> bytes:
    """A little-endian TIFF whose one IFD declares 100000 x 100000, 8-bit grey."""
    entries = [
        (256, 4, 1, 100_000),  # ImageWidth LONG
        (257, 4, 1, 100_000),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression none
        (262, 3, 1, 1),  # Photometric min-is-black
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 100_000),  # RowsPerStrip
        (279, 4, 1, 10_000_000_000 % 2**32),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HHI", tag, typ, count)
        packed += struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def many_frames(fmt: str, n: int) -> bytes:
    frames = [Image.new("L", (4, 4), i % 256) for i in range(n)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def pdf_many_pages(n: int) -> bytes:
    doc = pymupdf.open()
    for _ in range(n):
        doc.new_page(width=100, height=100)
    return doc.tobytes(garbage=0)


def pdf_huge_page() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page(width=14400, height=14400)  # the largest page PDF allows
    page.insert_text((72, 72), "Huge page", fontsize=200)
    return doc.tobytes()


def pdf_nested(depth: int = 100_000) -> bytes:
    """A page whose resources hold an array nested ``depth`` deep."""
    nested = b"[" * depth + b"]" * depth
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /X "
        + nested
        + b" >> /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    return _raw_pdf(objs)


def pdf_content_bomb() -> bytes:
    """A page whose content stream is 1 KB of zlib that inflates to ~100 MB of ops."""
    ops = b"0 0 m 1 1 l S\n" * (100_000_000 // 14)
    comp = zlib.compress(ops, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(comp) + comp + b"\nendstream",
    ]
    return _raw_pdf(objs)


def _raw_pdf(objs: list[bytes], *, xref: bool = True) -> bytes:
    out = b"%PDF-1.7\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1,
        start,
    )
    return out


def pdf_broken_xref() -> bytes:
    data = _pdf()
    start = data.rfind(b"startxref")
    return data[:start] + b"startxref\n999999\n%%EOF\n"


def pdf_with_javascript_and_attachment() -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Document with a script", fontsize=14)
    doc.embfile_add("payload.exe", b"MZ" + b"\x00" * 100, filename="payload.exe")
    data = doc.tobytes()
    # an OpenAction with JavaScript, added by an incremental update
    doc = pymupdf.open("pdf", data)
    xref = doc.get_new_xref()
    doc.update_object(xref, "<< /S /JavaScript /JS (app.alert\\('pwned'\\);) >>")
    doc.xref_set_key(doc.pdf_catalog(), "OpenAction", f"{xref} 0 R")
    return doc.tobytes()


def pdf_encrypted() -> bytes:
    doc = pymupdf.open("pdf", _pdf())
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")


SVG = b"""<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><text>&xxe;</text></svg>"""
HTML = b"<!doctype html><html><body><script>alert(1)</script>Invoice</body></html>"


@cache
def hostile_files() -> dict[str, bytes]:
    img = _page_image()
    files: dict[str, bytes] = {"zero-bytes": b"", "one-byte": b"\x89"}
    for fmt in FORMATS:
        good = _encode(img.convert("RGB") if fmt == "JPEG" else img, fmt)
        name = fmt.lower()
        for frac in (0.1, 0.5, 0.9):
            files[f"{name}-truncated-{int(frac * 100)}"] = good[: max(8, int(len(good) * frac))]
        for seed in (1, 2):
            files[f"{name}-bitflip-{seed}"] = _flip(good, seed)
        files[f"{name}-magic-only"] = good[:16]
    pdf = _pdf()
    files |= {
        "pdf-truncated-10": pdf[: len(pdf) // 10],
        "pdf-truncated-50": pdf[: len(pdf) // 2],
        "pdf-bitflip-1": _flip(pdf, 1, 40),
        "pdf-bitflip-2": _flip(pdf, 2, 40),
        "pdf-header-only": b"%PDF-1.7\n%%EOF\n",
        "pdf-broken-xref": pdf_broken_xref(),
        "pdf-no-xref": _raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            ],
            xref=False,
        ),
        "pdf-nested-100k": pdf_nested(),
        "pdf-content-bomb": pdf_content_bomb(),
        "pdf-huge-page": pdf_huge_page(),
        "pdf-5000-pages": pdf_many_pages(5000),
        "pdf-encrypted": pdf_encrypted(),
        "pdf-javascript-attachment": pdf_with_javascript_and_attachment(),
        "png-bomb-declared": png_bomb(),
        "png-bomb-zlib": png_zip_bomb(),
        "gif-bomb-declared": gif_bomb(),
        "bmp-bomb-declared": bmp_bomb(),
        "tiff-bomb-declared": tiff_bomb(),
        "gif-5000-frames": many_frames("GIF", 5000),
        "tiff-3000-frames": many_frames("TIFF", 3000),
        "wrong-magic-png": b"\x89PNX\r\n\x1a\n" + _encode(img, "PNG")[8:],
        "svg-as-png": SVG,
        "html-as-jpeg": HTML,
        "text": b"just some text, not an image\n",
        "zip": b"PK\x03\x04" + b"\x00" * 100,
        "elf": b"\x7fELF" + b"\x00" * 100,
        # polyglots: a PDF appended to a JPEG (read as the JPEG) and a PDF whose header
        # hides behind 500 bytes of HTML comment (read as neither: not at the start)
        "polyglot-jpeg-pdf": _encode(img.convert("RGB"), "JPEG") + pdf,
        "polyglot-html-pdf": b"<!--" + b"x" * 500 + b"-->" + pdf,
        "polyglot-gif-js": b"GIF89a/*" + _encode(img, "GIF")[8:] + b"*/=alert(1);",
    }
    return files
