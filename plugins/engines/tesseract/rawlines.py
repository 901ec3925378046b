"""Tesseract's text-line images kept as raw pixels instead of PNG, in-process.

Before the LSTM reads a text line, Tesseract 5 cuts the line out of the page and wraps
it in an ``ImageData``, which stores it as an encoded file: ``ImageData::SetPixInternal``
PNG-encodes the line (libpng's adaptive row filters, zlib level 6) and, a moment later,
``GetPixInternal`` decodes it again for the network. That round trip serves training
(the same class holds training pages); for recognition it is pure cost: in a CPU
profile of the tesserocr wheel's Tesseract 5.3.4 reading throughput pages, libz + libpng
took 9% of the samples over three pages and 18% on an RGB typescript read at 2x (an RGB
line is encoded as 24-bit colour). Tesseract has a build option for exactly this,
``TESSERACT_IMAGEDATA_AS_PIX`` (keep the Pix), which neither the wheel nor Debian
turns on.

``SetPixInternal`` calls ``pixWriteMem(&data, &size, pix, IFF_PNG)`` (and, if that
fails, the same with ``IFF_PNM``); ``GetPixInternal`` reads whatever it got with
``pixReadMem``, which detects the format. :func:`install` points libtesseract's import
of ``pixWriteMem`` (its GOT slot, found from the library's ``.rela.plt``) at Leptonica's
``pixWriteMemSpix``, whose first three parameters are the same (x86-64 System V: the
fourth, the format, is simply not read). Every line is then stored as Leptonica's
serialised Pix (a header and a copy of the pixel words) and read back by the same
``pixReadMem``: the same pixels, so the same text (the tests compare the TSV with and
without). PNM, the other candidate, moved every pixel through a one-byte ``fread`` /
``fwrite`` (6.5% of the samples left in the profile); the serialised Pix is a
``memcpy``. The only other caller of ``pixWriteMem`` in libtesseract is
``ScrollView::Draw``, the debug viewer, never used here.

Done only when everything checks: Linux x86-64 ELF, the slot found, in a writable
mapping of the library (a fully RELRO-protected build is left alone), and holding
exactly the address of a loaded Leptonica's ``pixWriteMem`` (else something else bound
it: left alone). The CLI fallback is not affected. ``OCRKIT_TESSERACT_PNG_LINES=1``
keeps Tesseract's PNG round trip.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading
from pathlib import Path

_LOCK = threading.Lock()
# (slot address, original pointer, new pointer) once installed
_STATE: dict[str, int] = {}
_TRIED = False

SHT_RELA = 4
R_X86_64_JUMP_SLOT = 7
EM_X86_64 = 62


def jump_slot(path: str, symbol: str) -> int | None:
    """The offset (from the library's load address) of the GOT slot through which the
    ELF64 x86-64 library at ``path`` calls ``symbol``, or None."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    if struct.unpack_from("<H", data, 18)[0] != EM_X86_64:
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    want = symbol.encode()
    for _name, kind, _flags, _addr, off, size, link, _info, _align, _entsize in sections:
        if kind != SHT_RELA or link >= len(sections):
            continue
        symtab = sections[link]
        strtab = sections[symtab[6]]
        for j in range(size // 24):
            r_offset, r_info, _addend = struct.unpack_from("<QQq", data, off + j * 24)
            if r_info & 0xFFFFFFFF != R_X86_64_JUMP_SLOT:
                continue
            name_at = strtab[4] + struct.unpack_from("<I", data, symtab[4] + (r_info >> 32) * 24)[0]
            if data[name_at : data.index(b"\0", name_at)] == want:
                return int(r_offset)
    return None


def _mappings() -> list[tuple[int, int, str, int, str]]:
    """This process's mappings: (start, end, permissions, file offset, path)."""
    out = []
    with Path("/proc/self/maps").open(encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 6:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1], int(parts[2], 16), parts[5].strip()))
    return out


def _address(lib: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def install() -> bool:
    """Point the loaded libtesseract's ``pixWriteMem`` at ``pixWriteMemSpix`` (once per
    process; call after tesserocr is imported). True when active."""
    global _TRIED
    with _LOCK:
        if _STATE or _TRIED:
            return bool(_STATE)
        _TRIED = True
        if os.environ.get("OCRKIT_TESSERACT_PNG_LINES", "").strip() not in ("", "0"):
            return False
        if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
            return False
        try:
            maps = _mappings()
            tess = sorted(
                {p for *_, p in maps if Path(p).name.startswith("libtesseract") and ".so" in p}
            )
            lepts = sorted(
                {p for *_, p in maps if Path(p).name.startswith(("libleptonica", "liblept."))}
            )
            if len(tess) != 1 or not lepts:
                return False
            offset = jump_slot(tess[0], "pixWriteMem")
            if offset is None:
                return False
            base = min(lo for lo, _hi, _perm, off, p in maps if p == tess[0] and off == 0)
            slot = base + offset
            if not any(
                lo <= slot < hi and "w" in perm for lo, hi, perm, _o, p in maps if p == tess[0]
            ):
                return False  # read-only (full RELRO): leave it
            current = ctypes.c_uint64.from_address(slot).value
            for path in lepts:
                lib = ctypes.CDLL(path)  # already loaded: the same handle
                if _address(lib, "pixWriteMem") == current:
                    raw = _address(lib, "pixWriteMemSpix")
                    if not raw:
                        return False
                    ctypes.c_uint64.from_address(slot).value = raw
                    _STATE.update(slot=slot, original=current, raw=raw)
                    return True
        except (OSError, ValueError, struct.error, IndexError):
            return False
        return False


def active() -> bool:
    """Lines are stored as raw pixels (the slot holds ``pixWriteMemSpix``)."""
    with _LOCK:
        return bool(_STATE) and ctypes.c_uint64.from_address(_STATE["slot"]).value == _STATE["raw"]


def set_active(on: bool) -> None:
    """Switch between raw lines and Tesseract's own PNG (tests, measurements); only
    after :func:`install` succeeded. Not while a page is being read."""
    with _LOCK:
        if _STATE:
            value = _STATE["raw"] if on else _STATE["original"]
            ctypes.c_uint64.from_address(_STATE["slot"]).value = value
