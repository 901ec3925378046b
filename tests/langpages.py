"""Scan-like non-Latin test pages with exact truth (issue 16), made reproducibly.

No scanned non-Latin page with a transcription ships inside a PyPI, Debian or npm
package that we found (Tesseract's Debian packages ship models only; the corpus's
``nonlatin`` set is clean renders), so these pages are made: known text set in
Debian's Noto fonts (``fonts-noto-core``, ``fonts-noto-cjk``; Pillow with libraqm
shapes Arabic, Persian and Devanagari and lays right-to-left lines out right to left)
and then degraded like a scan, each page with its own seeded random choices:

* 200-300 dpi (rendered at 300, resampled down), a skew of up to 1.5 degrees;
* blur (Gaussian, radius 0.3-0.9), grey paper and noise (sigma 4-12), JPEG quality 35-70.

Per language (ar, fa, hi, ja, ko, ru, vi, zh): a paragraph page and a one-line crop
from each of two texts; Chinese also has two vertical pages (columns right to left).
Text ``a`` is the **tune** half (thresholds may be chosen on it), text ``b`` the
**test** half, which no threshold is tuned on. The truth is the text as set, lines
in logical (reading) order; it is never OCR output.

``python -m tests.langpages OUTDIR`` writes the images, ``*.gt.txt`` truths and a
``MANIFEST.tsv`` (id, category, file, truth, language, tesseract, kind, half).
"""

from __future__ import annotations

import csv
import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path

NOTO = Path("/usr/share/fonts/truetype/noto")
CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# Index of the face in NotoSansCJK-Regular.ttc: JP, KR, SC, TC, HK.
CJK_FACE = {"ja": 0, "ko": 1, "zh": 2}

# language -> (tesseract model, font, right-to-left, texts a (tune) and b (test))
TEXTS: dict[str, tuple[str, str, bool, str, str]] = {
    "vi": (
        "vie",
        "NotoSans-Regular.ttf",
        False,
        "Hà Nội là thủ đô của nước Việt Nam. Thành phố nằm bên bờ sông Hồng và có lịch "
        "sử hơn một nghìn năm. Mỗi năm có hàng triệu du khách đến thăm các di tích và "
        "thưởng thức những món ăn đường phố nổi tiếng.",
        "Thư viện mở cửa từ bảy giờ sáng đến chín giờ tối. Bạn đọc có thể mượn sách, "
        "đọc báo và sử dụng máy tính miễn phí. Những cuốn sách quý hiếm được bảo quản "
        "trong một căn phòng riêng.",
    ),
    "ru": (
        "rus",
        "NotoSans-Regular.ttf",
        False,
        "Москва является столицей и крупнейшим городом России. Город расположен на реке "
        "Москве в центре Восточно-Европейской равнины. В городе много музеев, театров и "
        "старинных библиотек.",
        "Библиотека открыта каждый день с девяти утра до восьми вечера. Читатели могут "
        "брать книги домой на две недели. Редкие издания хранятся в отдельном зале на "
        "втором этаже.",
    ),
    "ar": (
        "ara",
        "NotoNaskhArabic-Regular.ttf",
        True,
        "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها. تقع المدينة على ضفاف نهر "
        "النيل في شمال البلاد. يزورها ملايين السياح كل عام لمشاهدة الأهرامات والمتاحف.",
        "تفتح المكتبة أبوابها كل يوم من الساعة التاسعة صباحا حتى الثامنة مساء. يمكن "
        "للقراء استعارة الكتب لمدة أسبوعين. تحفظ المخطوطات النادرة في قاعة خاصة.",
    ),
    "fa": (
        "fas",
        "NotoNaskhArabic-Regular.ttf",
        True,
        "تهران پایتخت و بزرگترین شهر ایران است. این شهر در دامنه کوه البرز قرار دارد. "
        "هر سال گردشگران زیادی برای دیدن موزه و کاخ های تاریخی به تهران سفر می کنند.",
        "کتابخانه هر روز از ساعت نه صبح تا هشت شب باز است. خوانندگان می توانند کتاب "
        "را برای دو هفته به امانت بگیرند. نسخه های خطی کمیاب در تالار ویژه نگهداری "
        "می شوند.",
    ),
    "hi": (
        "hin",
        "NotoSansDevanagari-Regular.ttf",
        False,
        "नई दिल्ली भारत की राजधानी है। यह शहर यमुना नदी के किनारे बसा हुआ है। हर साल "
        "लाखों पर्यटक यहाँ के ऐतिहासिक स्मारक देखने आते हैं।",
        "पुस्तकालय हर दिन सुबह नौ बजे से रात आठ बजे तक खुला रहता है। पाठक किताबें दो "
        "सप्ताह के लिए घर ले जा सकते हैं। दुर्लभ पांडुलिपियाँ एक अलग कमरे में रखी जाती हैं।",
    ),
    "zh": (
        "chi_sim",
        "cjk",
        False,
        "北京是中华人民共和国的首都，也是全国的政治和文化中心。这座城市有三千多年的历史，"
        "留下了许多名胜古迹。每年都有大量游客来参观故宫和长城。",
        "图书馆每天早上九点开门，晚上八点关门。读者可以把书借回家两个星期。"
        "珍贵的古籍保存在专门的阅览室里。",
    ),
    "ja": (
        "jpn",
        "cjk",
        False,
        "東京は日本の首都であり、世界でも有数の大都市です。街には古い寺院と新しい高層ビルが"
        "並んでいます。毎年多くの観光客が桜の季節に訪れます。",
        "図書館は毎日午前九時から午後八時まで開いています。利用者は本を二週間借りることが"
        "できます。貴重な古文書は特別な部屋に保管されています。",
    ),
    "ko": (
        "kor",
        "cjk",
        False,
        "서울은 대한민국의 수도이며 가장 큰 도시이다. 도시 한가운데로 한강이 흐르고 있다. "
        "매년 많은 관광객이 궁궐과 박물관을 보러 서울을 찾는다.",
        "도서관은 매일 아침 아홉 시부터 저녁 여덟 시까지 문을 연다. 독자들은 책을 이 주일 "
        "동안 빌릴 수 있다. 귀중한 고문서는 특별한 방에 보관되어 있다.",
    ),
}
VERTICAL_ZH = (
    "长江是中国最长的河流，全长六千三百多公里。它从青藏高原流向东海，沿途经过许多城市。",
    "春天的时候，公园里开满了各种各样的花。孩子们在草地上放风筝，老人们在树下下棋。",
)
RENDER_DPI = 300
FONT_PT = 12


@dataclass(frozen=True)
class Sample:
    id: str
    category: str  # the language (ISO 639-1)
    language: str
    tesseract: str
    kind: str  # page | line | vertical
    half: str  # tune | test
    truth: str


def _font(lang: str, px: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    name = TEXTS[lang][1]
    if name == "cjk":
        return ImageFont.truetype(str(CJK), px, index=CJK_FACE[lang])
    return ImageFont.truetype(str(NOTO / name), px, layout_engine=ImageFont.Layout.RAQM)


def _unspaced(lang: str) -> bool:
    return lang in ("zh", "ja")


def _wrap(text: str, lang: str, font, width: int, rtl: bool) -> list[str]:  # type: ignore[no-untyped-def]
    direction = "rtl" if rtl else "ltr"
    units = list(text) if _unspaced(lang) else text.split(" ")
    sep = "" if _unspaced(lang) else " "
    lines: list[str] = []
    cur = ""
    for u in units:
        cand = u if not cur else cur + sep + u
        if cur and font.getlength(cand, direction=direction) > width:
            lines.append(cur)
            cur = u
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines


def _draw_lines(lines: list[str], font, width: int, rtl: bool, px: int):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    margin = px * 2
    step = int(px * 1.7)
    img = Image.new("L", (width + 2 * margin, margin * 2 + step * len(lines)), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        y = margin + i * step
        if rtl:
            w = font.getlength(line, direction="rtl")
            draw.text((margin + width - w, y), line, font=font, fill=0, direction="rtl")
        else:
            draw.text((margin, y), line, font=font, fill=0)
    return img


def _vertical(text: str, px: int):  # type: ignore[no-untyped-def]
    """Chinese set top to bottom in columns from right to left."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(CJK), px, index=CJK_FACE["zh"])
    per_col = 14
    cols = [text[i : i + per_col] for i in range(0, len(text), per_col)]
    step_x, step_y, margin = int(px * 1.8), int(px * 1.15), px * 2
    img = Image.new("L", (margin * 2 + step_x * len(cols), margin * 2 + step_y * per_col), 255)
    draw = ImageDraw.Draw(img)
    for c, col in enumerate(cols):
        x = img.width - margin - (c + 1) * step_x + (step_x - px) // 2
        for r, ch in enumerate(col):
            # full-width punctuation sits in the upper right of its cell when vertical
            dx, dy = (px // 2, -px // 2) if ch in "，。、" else (0, 0)
            draw.text((x + dx, margin + r * step_y + dy), ch, font=font, fill=0)
    return img, "\n".join(cols)


def _degrade(img, rng: random.Random) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image, ImageFilter

    dpi = rng.choice((200, 240, 300))
    if dpi != RENDER_DPI:
        k = dpi / RENDER_DPI
        img = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.LANCZOS)
    skew = rng.uniform(-1.5, 1.5)
    img = img.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    arr = np.asarray(img, dtype=np.float32)
    paper = rng.uniform(215, 245)
    arr = arr * (paper / 255.0)
    nrng = np.random.default_rng(rng.randrange(2**32))
    arr += nrng.normal(0, rng.uniform(4, 12), arr.shape)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=rng.randint(35, 70), dpi=(dpi, dpi))
    return buf.getvalue(), dpi


def samples() -> list[tuple[Sample, object]]:
    """Every sample with its clean (undegraded) image, in a fixed order."""
    px = round(FONT_PT * RENDER_DPI / 72)
    out: list[tuple[Sample, object]] = []
    for lang, (tess, _font_name, rtl, *texts) in TEXTS.items():
        font = _font(lang, px)
        for half, text in zip(("tune", "test"), texts, strict=True):
            tag = "a" if half == "tune" else "b"
            lines = _wrap(text, lang, font, px * 28, rtl)
            out.append(
                (
                    Sample(f"{lang}_page_{tag}", lang, lang, tess, "page", half, "\n".join(lines)),
                    _draw_lines(lines, font, px * 28, rtl, px),
                )
            )
            # the one-line crop: the text's second sentence (or first line) alone
            sentences = [s for s in _sentences(text, lang) if s]
            line = sentences[1] if len(sentences) > 1 else lines[0]
            width = int(font.getlength(line, direction="rtl" if rtl else "ltr")) + 2
            img = _draw_lines([line], font, width, rtl, px)
            out.append((Sample(f"{lang}_line_{tag}", lang, lang, tess, "line", half, line), img))
    for half, text in zip(("tune", "test"), VERTICAL_ZH, strict=True):
        tag = "a" if half == "tune" else "b"
        img, truth = _vertical(text, px)
        out.append(
            (Sample(f"zh_vertical_{tag}", "zh", "zh", "chi_sim_vert", "vertical", half, truth), img)
        )
    return out


def _sentences(text: str, lang: str) -> list[str]:
    import re

    ends = r"(?<=[。！？])" if _unspaced(lang) else r"(?<=[.!?।])\s+"
    return [s.strip() for s in re.split(ends, text) if s.strip()]


def build(outdir: Path, seed: int = 16) -> list[dict[str, str]]:
    """Write the degraded images, truths and MANIFEST.tsv into ``outdir``; the rows."""
    outdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    for n, (s, img) in enumerate(samples()):
        rng = random.Random(seed * 1000 + n)
        data, dpi = _degrade(img, rng)
        (outdir / f"{s.id}.jpg").write_bytes(data)
        (outdir / f"{s.id}.gt.txt").write_text(s.truth + "\n", encoding="utf-8")
        rows.append(
            {
                "id": s.id,
                "category": s.category,
                "file": f"{s.id}.jpg",
                "truth": f"{s.id}.gt.txt",
                "language": s.language,
                "tesseract": s.tesseract,
                "kind": s.kind,
                "half": s.half,
                "dpi": str(dpi),
            }
        )
    with (outdir / "MANIFEST.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return rows


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/langpages")
    for row in build(target):
        print(row["id"], row["dpi"], row["half"])
