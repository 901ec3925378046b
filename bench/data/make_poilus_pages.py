"""How ``poilus_pages.json`` and ``poilus_pages/*.jpg`` were made (run once; kept for provenance).

A second, bigger set of real handwritten pages for the vlm tier's line boxes (issue 21),
none of them from a will the corpus (``../shared/corpus/MANIFEST.tsv``) already uses, so
nothing in it was seen while the placement was tuned. Source: the French soldiers'
wills of 1914-1918 transcribed by the Archives nationales and annotated line by line
(ALTO ``TextLine`` boxes drawn by the annotators, not by OCR):
HTR-United/CREMMA-AN-TestamentsDePoilus at 8ffa4a8cd40f691d68f188e2ed1c6458bf2d6ec9,
CC-BY-4.0.

The rule, fixed before anything was run on these pages:

* candidates: every ``data/batch-*/TestamentsDePoilus_will_*.jpg`` of that commit whose
  image is present in the snapshot (some are Git LFS pointers, absent) and which has an
  ALTO file of the same name, leaving out every will (``AN_0001``, ... both pages) that
  the corpus names; sorted by path;
* selection: every k-th candidate from the first, k = len(candidates) // 24, the first 24;
* split: positions 0, 2, 4, ... of the selection are the tuning half, 1, 3, 5, ... the
  held-out half (``half`` in the JSON);
* image: re-encoded when larger than 2000 px on its longest side (scaled down to 2000 px,
  Lanczos) or 700 kB on disk (JPEG quality 85), so the set stays under 15 MB; the
  ALTO boxes are scaled by the same factor;
* lines: the ALTO ``TextLine`` s in file order, the text their ``String`` CONTENTs joined
  by spaces, the box ``[x0, y0, x1, y1]`` (HPOS, VPOS, HPOS+WIDTH, VPOS+HEIGHT) in pixels
  of the committed image. Lines with no text are kept (the bench leaves them out of both
  the model's answer and the comparison, as for ``handwriting_lines.json``).

    python bench/data/make_poilus_pages.py POILUS_GIT_DIR [CORPUS_MANIFEST]

A third set, ``poilus_fresh.json`` and ``poilus_fresh/*.jpg`` (``--fresh``), made on
2026-12-07 because both halves above had been looked at several times while the placement
was tuned, so neither could measure it honestly any more. Its rule, fixed before anything
was run on these pages:

* candidates: as above, also leaving out every will that ``poilus_pages.json`` uses (any
  page of it), sorted by path;
* selection: k = len(candidates) // 24, every k-th candidate from position k // 2, the
  first 24 (the middles between the earlier rule's steps);
* every page is in the half ``fresh``: the placement is never tuned on it; it is read
  once per change that is to be judged, and its failures are not looked at page by page;
* image and lines: as above.

    python bench/data/make_poilus_pages.py --fresh POILUS_GIT_DIR [CORPUS_MANIFEST]

A fourth set, ``poilus_third.json`` and ``poilus_third/*.jpg`` (``--third``), made on
2026-12-07 because the fresh set's totals had been read four times (a baseline, two
replays, a bench) while changes were judged on it. Its rule, fixed before anything was
run on these pages:

* candidates: as above, also leaving out every will that ``poilus_pages.json`` or
  ``poilus_fresh.json`` uses (any page of it), sorted by path;
* selection: k = len(candidates) // 24, every k-th candidate from position k // 2, the
  first 24;
* every page is in the half ``third``: never tuned on, read once per change to be
  judged, its failures not looked at page by page;
* image and lines: as above.

    python bench/data/make_poilus_pages.py --third POILUS_GIT_DIR [CORPUS_MANIFEST]

A fifth set, ``poilus_fifth.json`` and ``poilus_fifth/*.jpg`` (``--fifth``), made on
2026-12-07 before the final measure of the placement read by a recogniser (issue 21):
the fourth set had then been read twice (its baseline, and the change judged) and the
third five times. Its rule, fixed before anything was run on these pages:

* candidates: as above, also leaving out every will that ``poilus_pages.json``,
  ``poilus_fresh.json`` or ``poilus_third.json`` uses (any page of it), sorted by path;
* selection: k = len(candidates) // 24, every k-th candidate from position k // 2, the
  first 24;
* every page is in the half ``fifth``: never tuned on, its failures not looked at;
* image and lines: as above.

    python bench/data/make_poilus_pages.py --fifth POILUS_GIT_DIR [CORPUS_MANIFEST]
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

COMMIT = "8ffa4a8cd40f691d68f188e2ed1c6458bf2d6ec9"
REPO = "HTR-United/CREMMA-AN-TestamentsDePoilus"
N = 24
MAX_SIDE = 2000
MAX_BYTES = 700_000
QUALITY = 85
HERE = Path(__file__).resolve().parent
WILL = re.compile(r"TestamentsDePoilus_will_([A-Z0-9]+_\d{4})-\d+\.")


def git(gdir: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "--git-dir", gdir, *args], capture_output=True, check=check)


def candidates(gdir: str, manifest: str) -> list[str]:
    used = set(WILL.findall(Path(manifest).read_text(encoding="utf-8")))
    tree = git(gdir, "ls-tree", "-r", COMMIT, "data").stdout.decode().splitlines()
    names = {line.split("\t")[1] for line in tree}
    out = []
    for line in tree:
        meta, path = line.split("\t")
        m = WILL.search(path)
        if not path.endswith(".jpg") or not m or m.group(1) in used:
            continue
        if path[:-4] + ".xml" not in names:
            continue
        if git(gdir, "cat-file", "-e", meta.split()[2], check=False).returncode:
            continue  # an LFS object not in the snapshot
        out.append(path)
    return sorted(out)


def select(paths: list[str], start_middle: bool = False) -> list[str]:
    k = max(1, len(paths) // N)
    return paths[k // 2 if start_middle else 0 :: k][:N]


def set_wills(name: str = "poilus_pages") -> set[str]:
    pages = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    return {WILL.search(d["source"]).group(1) for d in pages.values()}


def lines_of(xml: bytes, scale: float, size: tuple[int, int]) -> list[dict]:
    """``size``: the source image's size; the ALTO Page's WIDTH x HEIGHT must match it."""
    root = ET.fromstring(xml)
    ns = root.tag.split("}")[0] + "}"
    page = root.find(f".//{ns}Page")
    if (int(float(page.get("WIDTH"))), int(float(page.get("HEIGHT")))) != size:
        raise SystemExit(f"ALTO page {page.get('WIDTH')}x{page.get('HEIGHT')} != image {size}")
    out = []
    for tl in root.iter(f"{ns}TextLine"):
        text = " ".join(s.get("CONTENT", "") for s in tl.iter(f"{ns}String")).strip()
        x, y = float(tl.get("HPOS", 0)), float(tl.get("VPOS", 0))
        w, h = float(tl.get("WIDTH", 0)), float(tl.get("HEIGHT", 0))
        box = [x * scale, y * scale, (x + w) * scale, (y + h) * scale]
        out.append({"text": text, "box": [round(v, 1) for v in box]})
    return out


def image_of(data: bytes) -> tuple[bytes, float, tuple[int, int], tuple[int, int]]:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    w, h = im.size
    scale = min(1.0, MAX_SIDE / max(w, h))
    if scale == 1.0 and len(data) <= MAX_BYTES:
        return data, 1.0, (w, h), (w, h)
    if scale < 1.0:
        im = im.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue(), im.size[0] / w, im.size, (w, h)


def main() -> None:
    args = sys.argv[1:]
    which = args[0][2:] if args[:1] in (["--fresh"], ["--third"], ["--fifth"]) else ""
    fresh = bool(which)
    args = args[1:] if fresh else args
    gdir = args[0]
    manifest = args[1] if len(args) > 1 else str(HERE.parents[2] / "shared/corpus/MANIFEST.tsv")
    found = candidates(gdir, manifest)
    if fresh:
        used = set_wills("poilus_pages")
        if which in ("third", "fifth"):
            used |= set_wills("poilus_fresh")
        if which == "fifth":
            used |= set_wills("poilus_third")
        found = [p for p in found if WILL.search(p).group(1) not in used]
    picked = select(found, start_middle=fresh)
    name = f"poilus_{which}" if fresh else "poilus_pages"
    out_dir = HERE / name
    out_dir.mkdir(exist_ok=True)
    result = {}
    for i, path in enumerate(picked):
        sid = "poilus_" + WILL.search(path).group(0)[len("TestamentsDePoilus_will_") : -1]
        data, scale, (w, h), source_size = image_of(git(gdir, "show", f"{COMMIT}:{path}").stdout)
        (out_dir / f"{sid}.jpg").write_bytes(data)
        xml = git(gdir, "show", f"{COMMIT}:{path[:-4]}.xml").stdout
        result[sid] = {
            "source": f"{REPO}@{COMMIT}:{path}",
            "half": which if fresh else ("tuning" if i % 2 == 0 else "held_out"),
            "scale": round(scale, 6),
            "width": w,
            "height": h,
            "lines": lines_of(xml, scale, source_size),
        }
    out = HERE / f"{name}.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
