"""Made handwriting-style pages with known line boxes (the truth for vlm line boxes).

:func:`make_page` renders lines of text in one of Debian's handwriting-style fonts
(``fonts-dkg-handwriting``, ``fonts-breip``, ``fonts-dancingscript``, ...) on a paper
texture, each line slightly slanted and shifted, with ink noise: speckle, stray pen
strokes, a stamp-like blot in a margin, faint show-through of a mirrored page, blur and
JPEG compression. Every other tuning page (seeds 2, 6, 10, ...: :func:`_tight`) has
its lines closer together (0.95-1.1 font sizes apart) and slanted more (2-3 degrees),
so that the detector merges written lines (drawn from a separate generator: every
other page stays as it was). Each line is drawn on its own layer first, so its true box
is the bounding box of its own ink after the slant, whatever lies around it; no OCR or
detector is involved.

Seeds are split into a tuning half (even) and a held-out half (odd): thresholds are only
ever looked at on the tuning half.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/truetype/ecolier-court/Ecolier-court.ttf",
    "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf",
]
# The Debian packages of FONTS (the Makefile installs them).
FONT_PACKAGES = (
    "fonts-dkg-handwriting",
    "fonts-breip",
    "fonts-dancingscript",
    "fonts-humor-sans",
    "fonts-femkeklaver",
    "fonts-kristi",
    "fonts-ecolier-court",
    "fonts-bwht",
)

TEXT = (
    "My dear sister, the weather has turned cold again and the river is high after "
    "three days of rain. Father went to town on Tuesday to sell the two calves and came "
    "back with a new lamp, some coffee and a letter from our cousin in Lyon. The school "
    "will open again next Monday; the teacher asked for twelve more chairs and a stove. "
    "Please tell mother that the garden is doing well, the beans are up and the apple "
    "tree has more blossom than last year. I am sending the book you asked for with the "
    "carrier, wrapped in brown paper, and I hope it arrives before the end of the month. "
    "Ma chère amie, je vous écris de la ferme où nous sommes arrivés hier soir après un "
    "long voyage. Les enfants vont bien, le petit a grandi et parle déjà beaucoup. Nous "
    "avons vendu la vieille charrette et acheté deux chevaux pour les labours du printemps. "
    "Le notaire viendra jeudi pour les papiers de la maison; il faudra signer devant deux "
    "témoins. Embrassez toute la famille pour moi et dites à Jeanne que je pense à elle. "
    "The meeting of the parish council is fixed for the first Thursday of April at seven "
    "in the evening. Items: the repair of the bridge on the mill road, the price of coal "
    "for the winter, and the request of Mr Harris to build a shed behind the forge. "
    "Received with thanks the sum of forty two pounds and ten shillings for the rent of "
    "the lower field, paid in full on the fourteenth of May."
)


@dataclass
class MadePage:
    image: Image.Image
    lines: list[str]
    boxes: list[list[float]]  # true ink box per line
    font: str
    seed: int


def fonts() -> list[str]:
    """The handwriting fonts installed here."""
    return [f for f in FONTS if Path(f).is_file()]


def _lines(rng: random.Random, n: int) -> list[str]:
    words = TEXT.split()
    start = rng.randrange(0, len(words) - 80)
    out = []
    pos = start
    for _ in range(n):
        k = rng.randint(2, 8)
        out.append(" ".join(words[pos : pos + k]))
        pos += k
    return out


def _ink_box(layer: Image.Image) -> list[float] | None:
    alpha = layer.getchannel("A").point(lambda v: 255 if v > 96 else 0)
    box = alpha.getbbox()
    return [float(v) for v in box] if box else None


def make_page(seed: int, size: tuple[int, int] = (1600, 2100)) -> MadePage:
    """One made page (deterministic for ``seed``)."""
    rng = random.Random(seed)
    avail = fonts()
    if not avail:
        raise RuntimeError(
            "no handwriting font installed (make install: " + " ".join(FONT_PACKAGES) + ")"
        )
    font_path = avail[seed % len(avail)]
    w, h = size
    bg = rng.randint(225, 245)
    page = Image.new("RGB", size, (bg, bg - rng.randint(0, 8), bg - rng.randint(4, 20)))
    noise = Image.effect_noise(size, rng.uniform(6, 14)).point(lambda v: v - 128 + bg)
    page = Image.blend(page, Image.merge("RGB", (noise, noise, noise)), 0.35)
    # faint show-through of a mirrored page of writing
    if rng.random() < 0.7:
        ghost = Image.new("L", size, 0)
        gd = ImageDraw.Draw(ghost)
        gfont = ImageFont.truetype(avail[(seed + 3) % len(avail)], rng.randint(40, 60))
        for i, text in enumerate(_lines(random.Random(seed + 999), 14)):
            gd.text((rng.randint(80, 200), 150 + i * 130), text, font=gfont, fill=255)
        ghost = ghost.transpose(Image.Transpose.FLIP_LEFT_RIGHT).filter(ImageFilter.GaussianBlur(2))
        shade = rng.randint(35, 70)
        page.paste((bg - shade,) * 3, (0, 0), ghost.point(lambda v: v * 0.5))
    fsize = rng.randint(44, 64)
    font = ImageFont.truetype(font_path, fsize)
    n = rng.randint(8, 14)
    texts = _lines(rng, n)
    ink = rng.choice([(20, 20, 30), (25, 35, 110), (60, 40, 25)])
    step = int(fsize * rng.uniform(1.8, 2.4))
    slant = 0.0
    if _tight(seed):
        # lines written close together and slanted more, so that the text detector
        # merges neighbouring lines into one region (two written lines at different
        # heights in one box); drawn from a separate generator, so every other page
        # (the held-out half's included) stays exactly as it was
        trng = random.Random(seed * 7919 + 1)
        step = int(fsize * trng.uniform(0.95, 1.1))
        slant = trng.choice([-1, 1]) * trng.uniform(2.0, 3.0)
    top = rng.randint(120, 260)
    lines, boxes = [], []
    for text in texts:
        layer = Image.new("RGBA", (w, step * 2 + fsize), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((0, step // 2), text, font=font, fill=(*ink, 255))
        box = _ink_box(layer)
        if box is None:
            continue
        layer = layer.crop((0, 0, min(w, int(box[2]) + 40), layer.height))
        angle = rng.uniform(-1.5, 1.5)
        if slant:  # a tight page: all lines slanted alike, a little jitter each
            angle = slant + 0.3 * angle
        layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        box = _ink_box(layer)
        if box is None:
            continue
        x = rng.randint(100, 220) + (rng.randint(0, 150) if rng.random() < 0.2 else 0)
        y = top + len(lines) * step - int(box[1]) + rng.randint(-6, 6)
        if y + box[3] > h - 80:
            break
        if x + box[2] > w - 40:
            continue  # too long for the page in this font
        page.paste(layer, (x, y), layer)
        lines.append(text)
        boxes.append([box[0] + x, box[1] + y, box[2] + x, box[3] + y])
    d = ImageDraw.Draw(page)
    # speckle
    for _ in range(rng.randint(200, 800)):
        px, py = rng.randrange(w), rng.randrange(h)
        r = rng.choice([1, 1, 1, 2])
        d.ellipse((px, py, px + r, py + r), fill=tuple(max(0, c - 10) for c in ink))
    # a stamp-like blot in a margin, stray strokes
    if rng.random() < 0.6:
        cx, cy = rng.choice([(w - 170, 170), (150, h - 200), (w - 200, h - 220)])
        d.ellipse((cx - 90, cy - 90, cx + 90, cy + 90), outline=(150, 60, 70), width=6)
    for _ in range(rng.randint(0, 3)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        d.line((x0, y0, x0 + rng.randint(-300, 300), y0 + rng.randint(-40, 40)), fill=ink, width=2)
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    buf = io.BytesIO()
    page.save(buf, format="JPEG", quality=rng.randint(60, 85))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return MadePage(out.convert("RGB"), lines, boxes, Path(font_path).stem, seed)


def _tight(seed: int) -> bool:
    """Tight, slanted pages: every other tuning seed (2, 6, 10, ...); never a held-out
    (odd) seed."""
    return seed % 4 == 2


def tuning_seeds(n: int) -> list[int]:
    return [2 * i for i in range(n)]


def held_out_seeds(n: int) -> list[int]:
    return [2 * i + 1 for i in range(n)]
