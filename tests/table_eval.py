"""Cell accuracy of ``extract-tables`` against true grids (used by tests/test_tables.py
and runnable as ``python tests/table_eval.py [--engine NAME] [ids...]`` to print the
numbers the README states).

**Cell accuracy** of one table = matched / total, where total is the number of
non-empty cells of the true dense grid (a spanning cell's text in its top-left
position, as the corpus's ``.gt.csv`` and ``Table.grid()`` both write it) and a true
cell is matched when the predicted grid, after alignment, has the same normalised text
at the same position. Normalisation: Unicode NFKC, typographic quotes and dashes folded
to ASCII, all whitespace removed (OCR's spacing inside ``95 % CI`` is not table
structure). Alignment: one column offset (-2..2) for the whole table and a monotonic
row alignment (dynamic programming, rows may be skipped on either side) that maximise
the matches; the predicted table is the page's table that matches best. A category's
accuracy is the sum of matches over the sum of true cells (micro average).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

FOLD = {"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "−": "-", "‐": "-"}


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for a, b in FOLD.items():
        text = text.replace(a, b)
    return "".join(text.split())


def read_grid(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row for row in csv.reader(f)]


def _row_matches(t: list[str], p: list[str], dc: int) -> int:
    n = 0
    for c, text in enumerate(t):
        k = norm(text)
        if k and 0 <= c + dc < len(p) and norm(p[c + dc]) == k:
            n += 1
    return n


def grid_matches(truth: list[list[str]], pred: list[list[str]]) -> int:
    """Matched non-empty true cells under the best alignment."""
    best = 0
    for dc in range(-2, 3):
        n, m = len(truth), len(pred)
        dp = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(1, n + 1):
            for j in range(1, m + 1):
                dp[i][j] = max(
                    dp[i - 1][j],
                    dp[i][j - 1],
                    dp[i - 1][j - 1] + _row_matches(truth[i - 1], pred[j - 1], dc),
                )
        best = max(best, dp[n][m])
    return best


def true_cells(truth: list[list[str]]) -> int:
    return sum(1 for row in truth for c in row if norm(c))


def score(truth: list[list[str]], grids: list[list[list[str]]]) -> tuple[int, int]:
    """(matched, total) for the best-matching predicted grid."""
    return max((grid_matches(truth, g) for g in grids), default=0), true_cells(truth)


def as_input(path: Path, tmp: Path) -> Path:
    """The file to OCR. PubTabNet crops carry no resolution; they are screen-resolution
    renderings (text ~8 px high), so a copy says 72 dpi: at the pipeline's default of
    300 dpi for unlabelled images its blank-page check reads them as near-empty."""
    if path.suffix != ".png":
        return path
    from PIL import Image

    with Image.open(path) as im:
        if im.info.get("dpi"):
            return path
        out = tmp / path.name
        im.save(out, dpi=(72, 72))
    return out


def main(argv: list[str]) -> None:
    from ocrkit import api

    corpus = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "tables"
    engine = None
    force_ocr = False
    if argv[:1] == ["--engine"]:
        engine, argv = argv[1], argv[2:]
    if argv[:1] == ["--force-ocr"]:  # the ICDAR PDFs read as scans, not by their text
        force_ocr, argv = True, argv[1:]
    files = sorted(p for p in corpus.iterdir() if p.suffix in (".png", ".pdf"))
    if argv:
        files = [p for p in files if any(a in p.name for a in argv)]
    totals: dict[str, list[int]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="ocrkit-tables-"))
    for path in files:
        t0 = time.time()
        src = as_input(path, tmp)
        job = api.ocr(
            src, tool="extract-tables", engine=engine, language="eng", jobs=1, force_ocr=force_ocr
        )
        grids = [t.grid() for p in job.pages for t in p.tables]
        truth = read_grid(path.with_name(path.name.split(".")[0] + ".gt.csv"))
        m, n = score(truth, grids)
        kind = "ruled" if path.suffix == ".pdf" else "unruled"
        acc = totals.setdefault(kind, [0, 0])
        acc[0] += m
        acc[1] += n
        print(f"{path.name}: {m}/{n} = {m / n:.3f} ({len(grids)} tables, {time.time() - t0:.1f}s)")
    for kind, (m, n) in totals.items():
        print(f"{kind}: {m}/{n} = {m / n:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
