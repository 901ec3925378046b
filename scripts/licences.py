"""Write docs/licences.md from the installed packages' metadata.

    python scripts/licences.py > docs/licences.md

The table lists ocrkit and every distribution a base install brings (its requirements,
transitively, without extras), with the licence each declares: the PEP 639
``License-Expression``, else a short ``License`` field, else the trove classifiers.
tests/test_licences.py regenerates it and compares, so the page cannot go stale.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Classifier -> SPDX identifier, for packages that declare only classifiers.
CLASSIFIERS = {
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU Affero General Public License v3": "AGPL-3.0",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "ISC License (ISCL)": "ISC",
    "The Unlicense (Unlicense)": "Unlicense",
}
# Free-text License fields that are a known licence under another spelling.
ALIASES = {
    "MIT license": "MIT",
    "MIT License": "MIT",
    "BSD-3-Clause": "BSD-3-Clause",
    "BSD 3-Clause License": "BSD-3-Clause",
    "Apache 2.0": "Apache-2.0",
    "Apache License 2.0": "Apache-2.0",
    "Apache Software License": "Apache-2.0",
    # PyMuPDF's own words.
    "Dual Licensed - GNU AFFERO GPL 3.0 or Artifex Commercial License": (
        "AGPL-3.0 OR LicenseRef-Artifex-Commercial"
    ),
}

HEADER = """\
# Licences

ocrkit is free software under the Apache License 2.0 ([LICENSE](../LICENSE)). It runs on
other people's work; this page lists every package a base install (`pip install ocrkit`)
brings, with the licence its metadata declares. It is generated from the installed
packages by `python scripts/licences.py > docs/licences.md`, and a test regenerates it
and compares. Extras (`rapidocr`, `scale`, `paddle`) bring more; their packages say
their own licences (`pip show -v NAME`).

## PyMuPDF is AGPL-3.0: what that means if you serve ocrkit to others

ocrkit reads and writes PDFs with PyMuPDF, which Artifex licenses under the GNU Affero
General Public License 3.0 (AGPL-3.0), or under a commercial licence sold by Artifex.
ocrkit's own code stays Apache-2.0, but a program that uses PyMuPDF is, as a whole,
subject to the AGPL when it is distributed or offered to others.

- **On your own machine** (the CLI, the Python API, `ocrkit serve` used only by you or
  your organisation): the AGPL asks nothing of you.
- **Distributing** ocrkit (a wheel, a container image, a product): give the recipients
  the complete corresponding source under the AGPL-3.0, as with the GPL.
- **Serving it over a network to others** (`ocrkit serve` reachable by users outside
  your organisation, the web page included): the AGPL's section 13 asks you to offer
  those users the complete source code of the program they interact with, including
  your own changes to ocrkit, at no charge. `ocrkit serve` does this out of the box:
  `GET /source` returns the code of the ocrkit packages it runs as a .tar.gz, and the
  web page, the API docs and the OpenAPI document link to it. If you publish your source
  elsewhere (a public repository), set `OCRKIT_SOURCE_URL` and the links point there.
  PyMuPDF and the other dependencies are unmodified PyPI releases (but for the Tesseract
  that `make install` builds, below); if you change them, offer those changes too.
- **If you cannot do that** (closed modifications, a proprietary product), buy a
  commercial licence for PyMuPDF from Artifex (https://artifex.com/licensing), or do not
  deploy ocrkit for others.

This is a summary for orientation, not legal advice; the licence texts are what bind.

## The Tesseract that `make install` builds

`make install` replaces the PyPI `tesserocr` wheel with one it builds itself
(docs/operations.md, "Tesseract without the legacy engine"): tesserocr (MIT) against
Debian's Tesseract 5.3.0 source (Apache-2.0, Copyright Google Inc. and others), with
ocrkit's own changes applied, `scripts/tesseract_patches/*.patch`. Each patch's header
states what it changes in which files; the changes are under Tesseract's licence,
Apache-2.0. A wheel built this way and passed on to others is a modified Tesseract:
pass the patches on with it (`GET /source` serves them with the code it runs).
The exhaustive checks of those patches, `bench/tesserocr_builds/round_check.cpp` and
`act_check.cpp`, hold copies of the few Tesseract functions they compare against
(`IntCastRounded`, `ClipToRange`, `Tanh`, `Logistic`), under the same licence, as
their headers say.

## Data in the repository

The benchmarks' annotated handwriting (`bench/data/`) is other people's work too:
`handwriting_lines.json` (line boxes of the corpus's handwritten pages) and
`poilus_pages/` with `poilus_pages.json`, `poilus_fresh/` with `poilus_fresh.json`,
`poilus_third/` with `poilus_third.json` and `poilus_fifth/` with `poilus_fifth.json` (four
times 24 page images and their line boxes) come from
HTR-United/CREMMA-AN-TestamentsDePoilus and
PSL-Chartes-HTR-Students/HN2021-Memorials_Jane_Lathrop_Stanford, both **CC-BY-4.0**
(sources, commits and changes: `bench/data/make_handwriting_lines.py`,
`bench/data/make_poilus_pages.py`, `bench/data/poilus_pages/README.md`,
`bench/data/poilus_fresh/README.md`, `bench/data/poilus_third/README.md`,
`bench/data/poilus_fifth/README.md`).

`bench/data/handwriting_line_crops/` (304 handwritten line images and their
transcriptions, `lines.tsv`) are cut from the pages of two datasets under the Creative
Commons Attribution 4.0 licence (CC-BY-4.0), with the annotators' ALTO line boxes and
text: *CREMMA AN Testaments de Poilus* (HTR-United/CREMMA-AN-TestamentsDePoilus,
commit 8ffa4a8; wills of French soldiers, Archives nationales and Archives
départementales des Yvelines) and *HN2021 Memorials Jane Lathrop Stanford*
(PSL-Chartes-HTR-Students/HN2021-Memorials_Jane_Lathrop_Stanford, commit 9266adb;
letters, Stanford University Archives). The crops are changed from the originals (cut
to one line each, re-encoded as JPEG); `bench/data/make_handwriting_line_crops.py`
says which pages and how, and `lines.tsv` names each line's source file.

## Packages of a base install

| package | licence |
|---|---|
"""


def closure(root: str = "ocrkit") -> list[str]:
    """``root`` and every distribution its requirements (without extras) pull in."""
    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{name} is required but not installed") from None
        seen[key] = dist.metadata["Name"]
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [seen[k] for k in sorted(seen)]


def licence(name: str) -> str:
    meta = metadata.metadata(name)
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    text = (meta.get("License") or "").strip()
    if text in ALIASES:
        return ALIASES[text]
    if text and "\n" not in text and len(text) <= 60 and text.upper() != "UNKNOWN":
        return text
    found = []
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License :: "):
            tail = classifier.split(" :: ")[-1]
            found.append(CLASSIFIERS.get(tail, tail))
    if found:
        return " OR ".join(sorted(set(found)))
    return "not declared in its metadata"


def main() -> None:
    rows = [f"| {name} | {licence(name)} |" for name in closure()]
    sys.stdout.write(HEADER + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
