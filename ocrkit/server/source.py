"""``GET /source``: the source code of the ocrkit this server runs, as a .tar.gz.

ocrkit is Apache-2.0, but it is built on PyMuPDF, which is AGPL-3.0 (or commercial from
Artifex). The AGPL asks whoever lets others use a program over a network to offer them
its complete source. This route offers the files actually loaded, local changes
included: the ``ocrkit`` and ``ocrkit_plugins`` packages (Python files and the static
files they serve), the licence, and in a checkout the patches ``make install`` applies to
Tesseract's source. PyMuPDF and the other dependencies are unmodified releases from PyPI
(docs/licences.md lists them). An operator who publishes the source
elsewhere sets ``OCRKIT_SOURCE_URL``; the links then point there.
"""

from __future__ import annotations

import io
import tarfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import ocrkit

ROOT = "ocrkit-source"
SKIP_DIRS = {"__pycache__"}


def _package_dir(name: str) -> Path:
    module = __import__(name)
    return Path(module.__file__).resolve().parent  # type: ignore[arg-type]


def _licence() -> bytes | None:
    here = _package_dir("ocrkit").parent / "LICENSE"
    if here.is_file():  # a checkout (editable install)
        return here.read_bytes()
    try:
        dist = metadata.distribution("ocrkit")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.name == "LICENSE":
            return Path(str(dist.locate_file(f))).read_bytes()
    return None


def _tesseract_patches() -> list[Path]:
    """The changes ``make install`` applies to Tesseract's source before building the
    tesserocr it runs (a checkout only: a wheel-installed ocrkit runs PyPI's tesserocr)."""
    here = _package_dir("ocrkit").parent / "scripts" / "tesseract_patches"
    return sorted(here.glob("*.patch")) if here.is_dir() else []


@lru_cache(maxsize=1)
def archive() -> bytes:
    """A reproducible .tar.gz (sorted names, fixed times) of the running packages."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{ROOT}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        for package in ("ocrkit", "ocrkit_plugins"):
            base = _package_dir(package)
            files = sorted(
                p
                for p in base.rglob("*")
                if p.is_file() and not SKIP_DIRS & set(p.parts) and p.suffix != ".pyc"
            )
            for path in files:
                add(f"{package}/{path.relative_to(base).as_posix()}", path.read_bytes())
        licence = _licence()
        if licence is not None:
            add("LICENSE", licence)
        patches = _tesseract_patches()
        for path in patches:
            add(f"tesseract_patches/{path.name}", path.read_bytes())
        readme = (
            f"ocrkit {ocrkit.__version__}: the packages this server runs (Apache-2.0).\n"
            "Its dependencies, PyMuPDF (AGPL-3.0) among them, are unmodified releases from "
            "PyPI; see docs/licences.md in the ocrkit source for the list.\n"
        )
        if patches:
            readme += (
                "But for Tesseract: `make install` builds tesserocr against Debian's "
                "Tesseract 5.3.0 source with the changes in tesseract_patches/ applied "
                "(Apache-2.0, as Tesseract).\n"
            )
        add("README.txt", readme.encode())
    return buf.getvalue()
