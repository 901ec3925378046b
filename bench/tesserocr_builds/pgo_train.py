"""The training run of the profile-guided Tesseract build (tesserocr_nolegacy_pgo.sh beside it).

Run by the venv's Python with the instrumented build first on ``sys.path`` (the unpacked
wheel tree, ``PYTHONPATH``): reads pages made here, on the spot, through ocrkit's own
in-process path (``tesserocr_backend.recognize_tsv``, raw text lines as ocrkit installs
them), so that the counters GCC's ``-fprofile-generate`` writes at exit describe the
work a page costs ocrkit: layout analysis, the LSTM's forward pass, the beam search, the
word walk.

The pages: text from Debian's own files (the GPL-3 in /usr/share/common-licenses, present
on every Debian system, and a few fixed sentences in German, French and Russian), drawn
with the DejaVu fonts (fonts-dejavu-core, which `make install` installs) at 300 dpi in
several faces and sizes, one page in two columns, greyed and lightly blurred and noised
like a scan; English, then each of deu / fra / rus whose model is installed, then the
six-language set ``-l auto`` re-reads with, and a few single lines (PSM 7). Nothing from
the corpus: in particular never the throughput pages `bench/run.py` measures. The profile
only steers the compiler's layout and inlining (no -ffast-math): the text a build reads
does not depend on it.

    python bench/tesserocr_builds/pgo_train.py [SECONDS]

Stops starting new pages after SECONDS (default 90) of CPU; exits non-zero when the
instrumented library is not the one loaded or a page reads nothing.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = [
    "DejaVuSerif.ttf",
    "DejaVuSans.ttf",
    "DejaVuSerifCondensed.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
]
OTHER = {
    "deu": "Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist "
    "Verpflichtung aller staatlichen Gewalt. Jeder hat das Recht auf die freie Entfaltung "
    "seiner Persönlichkeit, soweit er nicht die Rechte anderer verletzt. Größe, Maß, "
    "Straße, Übermäßig, Ärger, Öffnungszeiten 1949.",
    "fra": "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils "
    "sont doués de raison et de conscience et doivent agir les uns envers les autres dans "
    "un esprit de fraternité. À côté, déjà, où, garçon, Noël, cœur, 1789.",
    "rus": "Все люди рождаются свободными и равными в своём достоинстве и правах. Они "
    "наделены разумом и совестью и должны поступать в отношении друг друга в духе "
    "братства. Каждый человек имеет право на жизнь, на свободу и на личную "
    "неприкосновенность.",
}
SET6 = ["spa", "por", "eng", "fra", "deu", "ita"]


def english() -> str:
    for p in ("/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/GPL-2"):
        try:
            return Path(p).read_text(encoding="utf-8")
        except OSError:
            continue
    return " ".join(OTHER.values())


def words_of(text: str) -> list[str]:
    return text.split()


def page(words: list[str], face: str, pt: float, columns: int = 1, width: int = 2480,
         height: int = 3508, seed: int = 0):
    """A grey 300-dpi page of ``words`` (wrapped, repeated to fill) in ``face``."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    px = round(pt * 300 / 72)
    font = ImageFont.truetype(str(FONTS / face), px)
    im = Image.new("L", (width, height), 250)
    draw = ImageDraw.Draw(im)
    margin, gap = (240 if height > 1000 else 40), 120
    col_w = (width - 2 * margin - gap * (columns - 1)) // columns
    line_h = round(px * 1.35)
    i = 0
    for c in range(columns):
        x0 = margin + c * (col_w + gap)
        y = margin
        while y + line_h < height - margin:
            line = ""
            while True:
                w = words[i % len(words)]
                trial = (line + " " + w).strip()
                if draw.textlength(trial, font=font) > col_w and line:
                    break
                line = trial
                i += 1
            draw.text((x0, y), line, fill=30, font=font)
            y += line_h
            if i % 97 == 0:
                y += line_h  # a paragraph break now and then
    im = im.filter(ImageFilter.GaussianBlur(0.7))
    rng = np.random.default_rng(seed)
    a = np.asarray(im, dtype=np.int16) + rng.normal(0, 8, (height, width)).astype(np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")


def main() -> int:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 90.0
    import tesserocr
    from ocrkit_plugins.engines.tesseract import rawlines
    from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb

    if "+nolegacy" not in tesserocr.__version__ or tb.legacy_engine():
        print(f"not the instrumented build: tesserocr {tesserocr.__version__}", file=sys.stderr)
        return 1
    rawlines.install()
    tessdata = Path(tb.tessdata_dir() or "")
    have = {p.stem for p in tessdata.glob("*.traineddata")}
    eng = words_of(english())
    rng = random.Random(14)
    jobs: list[tuple[list[str], list[str], str, float, int, int]] = []
    # (words, languages, face, point size, columns, page height)
    for k, face in enumerate(FACES):
        start = rng.randrange(len(eng))
        jobs.append((eng[start:] + eng[:start], ["eng"], face, 10 + (k % 3), 1 + (k == 1), 3508))
    for lang, text in OTHER.items():
        if lang in have:
            jobs.append((words_of(text), [lang], FACES[len(jobs) % 3], 11, 1, 1400))
    if all(c in have for c in SET6):
        jobs.append((words_of(OTHER["deu"] + " " + OTHER["fra"]), SET6, "DejaVuSerif.ttf", 11, 1, 1400))
    t0 = time.process_time()
    done = 0
    for n, (words, langs, face, pt, cols, h) in enumerate(jobs):
        if time.process_time() - t0 > budget:
            break
        tsv = tb.recognize_tsv(page(words, face, pt, cols, height=h, seed=n), langs, 3, 300)
        if tsv.count("\n") < 10:
            print(f"page {n} ({'+'.join(langs)}, {face}) read nothing", file=sys.stderr)
            return 1
        done += 1
    # single lines, as ocrkit's re-reads of small text ask for them
    for n in range(6):
        line = page(eng[n * 9 : n * 9 + 9], FACES[n % len(FACES)], 9 + n, width=2000, height=300, seed=100 + n)
        tb.recognize_tsv(line, ["eng"], 7, 300)
    print(
        f"trained on {done} pages + 6 lines in {time.process_time() - t0:.1f} CPU s"
        f" (tesserocr {tesserocr.__version__})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
