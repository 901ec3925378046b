"""Make tesserocr's Cython source build against a Tesseract without the legacy engine.

    python scripts/tesserocr_nolegacy_patch.py tesserocr/tesserocr.pyx VERSION

A ``--disable-legacy`` libtesseract has no ``DetectOS``, ``DetectOrientationScript``,
``AdaptToWordStr`` or ``ClearAdaptiveClassifier`` (Tesseract's ``baseapi.cpp`` defines
them only without ``DISABLED_LEGACY_ENGINE``) and no ``TessOsdRenderer``, but its
installed headers still declare them, so tesserocr compiles and then fails to import
(undefined symbol). Each Python method that calls one of them gets a body that raises
``RuntimeError`` instead, and the OSD renderer (``PSM.OSD_ONLY`` in ``ProcessPages``)
becomes none (ocrkit runs OSD through the ``tesseract`` program, never through these).
The module's ``__version__`` becomes VERSION. Used by scripts/tesserocr_nolegacy.sh; stdlib only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LEGACY_ONLY = ("DetectOS", "DetectOrientationScript", "AdaptToWordStr", "ClearAdaptiveClassifier")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def patch(text: str, version: str) -> tuple[str, list[str]]:
    """The patched source and the names of the methods whose bodies were replaced."""
    text, n = re.subn(r"(?m)^__version__ = .*$", f"__version__ = '{version}'", text)
    if n != 1:
        raise ValueError("no __version__ line")
    lines = text.split("\n")
    calls = re.compile(r"\b_baseapi\.(" + "|".join(LEGACY_ONLY) + r")\(")
    done: list[str] = []
    i = 0
    while i < len(lines):
        m = calls.search(lines[i])
        if not m:
            i += 1
            continue
        start = i
        while start >= 0 and not re.match(r"\s*(?:cp)?def \w+\(", lines[start]):
            start -= 1
        if start < 0:
            raise ValueError(f"a call to {m.group(1)} outside a method")
        ind = _indent(lines[start])
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > ind):
            end += 1
        while not lines[end - 1].strip():  # keep the blank lines after the method
            end -= 1
        # the def line may continue over several lines (long signatures): keep up to ':'
        head_end = start
        while not lines[head_end].rstrip().endswith(":"):
            head_end += 1
        body = " " * (ind + 4) + (
            f"raise RuntimeError('{m.group(1)} needs the legacy engine, which this "
            "Tesseract is built without')"
        )
        lines[head_end + 1 : end] = [body]
        done.append(m.group(1))
        i = head_end + 2
    text = "\n".join(lines)
    # the OSD renderer (renderer.h declares it only with the legacy engine): no renderer
    text, n = re.subn(r"new TessOsdRenderer\([^)]*\)", "NULL", text)
    if n:
        done.append("TessOsdRenderer")
    return text, done


def main(argv: list[str]) -> int:
    path, version = Path(argv[1]), argv[2]
    text, done = patch(path.read_text(encoding="utf-8"), version)
    missing = {*LEGACY_ONLY, "TessOsdRenderer"} - set(done)
    if missing:
        print(f"not found in {path}: {sorted(missing)}", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    print(f"{path}: version {version}; raise instead: {', '.join(done)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
