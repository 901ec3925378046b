"""How ``bench/data/handwriting_line_crops/`` was made (run once; kept for provenance).

Handwritten line images that no rule of ``auto`` has been chosen on, for
``python -m bench.handwriting_line_crops --set new``: pages of two CC-BY-4.0
repositories that ship ALTO XML with a box and a transcription per ``TextLine``
(drawn and typed by the datasets' annotators, not by OCR), none of them a page (or
another page of the same will or letter) that ``../shared/corpus/`` holds.

Which pages (the rule was fixed before any line was read):

- French, HTR-United/CREMMA-AN-TestamentsDePoilus@8ffa4a8 (the corpus's commit):
  the ALTO files of ``data/batch-2/`` in sorted name order, without the wills the
  corpus's MANIFEST.tsv names (AN_0157, AN_0218, AN_0240, AN_0337, ...) and without
  the 8 pages whose image the stored snapshot lacks (all of will series AD95, the
  snapshot's largest files); of those, every 8th (index 0, 8, 16, ...).
  ``data/batch-1/`` is left to another helper (i21real).
- English, PSL-Chartes-HTR-Students/HN2021-Memorials_Jane_Lathrop_Stanford@9266adb:
  all its ALTO files in sorted path order, without the corpus's page (i093) and
  letter (252); of those, every 3rd (index 0, 3, 6, ...). These letters hold printed
  letterheads and typewritten letters too: only lines the annotators typed
  ``...:Handwritten`` (``DefaultLine``, ``InterlinearLine``) are kept, so signatures,
  print and typescript are left out. (First drafted as every 6th page with every
  line; changed to this, before any line was read, on seeing in the ALTO files that
  half of those pages' lines were typewritten.)

Halves (fixed here, before any run): per source, the picked pages in that order
alternate tune, test, tune, ... so no page's lines fall in both halves.

Per line (ALTO order): the truth is the line's String CONTENT joined by spaces
(stripped), as ``make_handwriting_lines.py`` and the corpus's truth do; lines of
fewer than 3 characters and boxes under 8 px are left out; the crop is the box
``HPOS, VPOS, HPOS+WIDTH, VPOS+HEIGHT`` cut out of the page image (the repository's
JPEG beside the ALTO file; boxes scaled if the ALTO page size differs from the
image's), saved as JPEG quality 75. ``lines.tsv`` lists id, file, truth, language,
half, page and source.

    python bench/data/make_handwriting_line_crops.py POILUS_GIT_DIR STANFORD_GIT_DIR
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

POILUS = "8ffa4a8cd40f691d68f188e2ed1c6458bf2d6ec9"
STANFORD = "9266adbc8aea6564b4b8447bcbe205ae1c1e87f2"
POILUS_STEP = 8
STANFORD_STEP = 3
ROOT = Path(__file__).resolve().parent.parent.parent
MANIFEST = ROOT.parent / "shared" / "corpus" / "MANIFEST.tsv"
OUT = Path(__file__).with_name("handwriting_line_crops")
MIN_CHARS = 3
MIN_PX = 8


def _git(gdir: str, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", gdir, *args], capture_output=True, check=True).stdout


def _files(gdir: str, commit: str, under: str) -> list[str]:
    """The ALTO files under ``under`` whose page image (same name, ``.jpg``) the
    git directory holds, sorted."""
    tree = _git(gdir, "ls-tree", "-r", commit, under).decode().splitlines()
    blobs = dict(reversed(line.split("\t", 1)) for line in tree)
    present = subprocess.run(
        ["git", "--git-dir", gdir, "cat-file", "--batch-check"],
        input="\n".join(blob.split()[2] for blob in blobs.values()),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    have = {p for p, ok in zip(blobs, present, strict=True) if not ok.endswith("missing")}
    return sorted(n for n in have if n.endswith(".xml") and n[:-4] + ".jpg" in have)


def corpus_text() -> str:
    """The MANIFEST's ids and sources, in which a used will or letter is named."""
    return MANIFEST.read_text(encoding="utf-8")


def poilus_pages(gdir: str) -> list[str]:
    manifest = corpus_text()
    kept = []
    for path in _files(gdir, POILUS, "data/batch-2"):
        will = re.search(r"will_([A-Z0-9]+_\d+)-\d+\.xml$", path)
        if will and will.group(1) not in manifest:
            kept.append(path)
    return kept[::POILUS_STEP]


def stanford_pages(gdir: str) -> list[str]:
    kept = [
        p
        for p in _files(gdir, STANFORD, "data")
        if "SC0033B_s4_b01_f14_i093" not in p and "Lettre252" not in p
    ]
    return kept[::STANFORD_STEP]


def lines_of(xml: bytes) -> tuple[tuple[int, int], list[tuple[str, list[float]]]]:
    """The page's size and its lines (text, box), in ALTO order; a line typed other
    than handwritten (``DefaultLine:Print``, ``...:Typewritten``, ``...:Signature``)
    has the text "" (left out, its index kept)."""
    root = ET.fromstring(xml)
    ns = root.tag.split("}")[0] + "}"
    page = root.find(f".//{ns}Page")
    assert page is not None
    labels = {t.get("ID"): t.get("LABEL", "") for t in root.iter(f"{ns}OtherTag")}
    out = []
    for tl in root.iter(f"{ns}TextLine"):
        label = labels.get(tl.get("TAGREFS", ""), "")
        if ":" in label and not label.endswith(":Handwritten"):
            out.append(("", [0.0, 0.0, 0.0, 0.0]))
            continue
        text = " ".join(s.get("CONTENT", "") for s in tl.iter(f"{ns}String")).strip()
        x, y = float(tl.get("HPOS", 0)), float(tl.get("VPOS", 0))
        w, h = float(tl.get("WIDTH", 0)), float(tl.get("HEIGHT", 0))
        out.append((text, [x, y, x + w, y + h]))
    return (int(float(page.get("WIDTH", 0))), int(float(page.get("HEIGHT", 0)))), out


def crop_page(gdir: str, commit: str, path: str, key: str, lang: str, half: str) -> list[dict]:
    from PIL import Image

    (pw, ph), lines = lines_of(_git(gdir, "show", f"{commit}:{path}"))
    image = Image.open(io.BytesIO(_git(gdir, "show", f"{commit}:{path[:-4]}.jpg")))
    image.load()
    image = image.convert("RGB")
    sx, sy = image.width / pw, image.height / ph
    page = f"{key}_{Path(path).stem}"
    rows = []
    for i, (text, box) in enumerate(lines):
        if len(text) < MIN_CHARS:
            continue
        x0, y0 = max(0, round(box[0] * sx)), max(0, round(box[1] * sy))
        x1, y1 = min(image.width, round(box[2] * sx)), min(image.height, round(box[3] * sy))
        if x1 - x0 < MIN_PX or y1 - y0 < MIN_PX:
            continue
        name = f"{page}_line{i:02d}"
        image.crop((x0, y0, x1, y1)).save(OUT / f"{name}.jpg", quality=75, dpi=(300, 300))
        rows.append(
            {
                "id": name,
                "file": f"{name}.jpg",
                "truth": text,
                "language": lang,
                "half": half,
                "page": page,
                "source": f"{key}@{commit[:7]}:{path}",
            }
        )
    return rows


def main() -> None:
    poilus_dir, stanford_dir = sys.argv[1], sys.argv[2]
    OUT.mkdir(exist_ok=True)
    rows: list[dict] = []
    for key, gdir, commit, lang, pages in (
        ("poilus", poilus_dir, POILUS, "fr", poilus_pages(poilus_dir)),
        ("stanford", stanford_dir, STANFORD, "en", stanford_pages(stanford_dir)),
    ):
        for i, path in enumerate(pages):
            half = "tune" if i % 2 == 0 else "test"
            rows.extend(crop_page(gdir, commit, path, key, lang, half))
    with (OUT / "lines.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
