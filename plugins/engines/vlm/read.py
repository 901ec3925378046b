"""A rough reading of each detected piece, as evidence of which model line goes where.

The placement (:mod:`.assign`) pairs the model's lines with the detected pieces by their
shapes alone (a line's length against a piece's width), so on a page of nearly equal
lines a whole page can shift one row and cost hardly more. Tesseract reads almost
nothing of handwriting, but RapidOCR's recognition model (PP-OCRv6, in the ``rapidocr``
wheel) reads much of it roughly: "J Soussigue Andri Rene Waugon" for "Je soussigné André
René Mougon". That is far from a transcription and close enough to tell a line from its
neighbours: on the second real set's tuning half, the true box's reading was most like
its own line's text, of the line and its two neighbours either side, for 191 of 202
lines.

:func:`read_boxes` reads each piece (a crop of the page, one call of the recogniser per
piece, no detection); :func:`evidence` turns a model line and a reading into a score
that :mod:`.assign` counts as a bonus on that pairing: the similarity of the two above
what the line has with the page's pieces in general (so a line of common letters gains
nothing from every piece), never below zero (a piece the recogniser could not read is no
evidence against a line).

Only with ``rapidocr`` installed; without it the placement is by shape alone.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

Box = list[float]

# A piece's crop takes this share of its height more on every side: the detector's boxes
# are trimmed to the ink, and the recogniser reads a line with some paper round it better.
PAD = 0.15
# Pieces lower than this (pixels) are not read: specks and dots read as noise.
MIN_HEIGHT = 8
# The recognition model files the rapidocr wheel may ship, preferred first (the same
# order as the ``rapidocr`` engine's; a plugin imports no other plugin).
REC_MODELS = (
    "PP-OCRv6_rec_small.onnx",
    "ch_PP-OCRv5_rec_mobile.onnx",
    "ch_PP-OCRv4_rec_infer.onnx",
)

_lock = threading.Lock()
_reader: Any = None


def _rec_model() -> Path | None:
    """The recognition model the ``rapidocr`` engine would use."""
    from .detect import shipped_model

    return shipped_model(REC_MODELS)


def available() -> bool:
    return _rec_model() is not None


def _load() -> Any:
    """A RapidOCR object that only recognises (its own: rapidocr keeps ``use_det`` and
    friends from one call to the next, so one shared with the ``rapidocr`` engine would
    change under that engine's feet)."""
    from .detect import quiet_rapidocr

    global _reader
    with _lock:
        if _reader is None:
            model = _rec_model()
            if model is None:
                return None
            _reader = quiet_rapidocr(
                {
                    "Global.use_det": False,
                    "Global.use_cls": False,
                    "Global.use_rec": True,
                    "Rec.model_path": str(model),
                }
            )
    return _reader


def read_boxes(image: Image.Image, boxes: list[Box]) -> list[str] | None:
    """What the recogniser reads in each box of ``image`` ("" for a box too low to
    read, or one the recogniser failed on), or None without rapidocr."""
    reader = _load()
    if reader is None:
        return None
    import numpy as np

    rgb = image.convert("RGB")
    w, h = rgb.size
    out = []
    for b in boxes:
        pad = PAD * (b[3] - b[1])
        x0, y0 = max(0, int(b[0] - pad)), max(0, int(b[1] - pad))
        x1, y1 = min(w, int(b[2] + pad + 1)), min(h, int(b[3] + pad + 1))
        if y1 - y0 < MIN_HEIGHT or x1 - x0 < MIN_HEIGHT:
            out.append("")
            continue
        try:
            got = reader(np.asarray(rgb.crop((x0, y0, x1, y1))))
        except Exception:  # onnxruntime or cv2 on an odd crop: no evidence, not a lost page
            out.append("")
            continue
        out.append(" ".join(getattr(got, "txts", None) or ()))
    return out


def plain(text: str) -> str:
    """``text`` as compared: lower case, no accents, letters and digits only (the
    recogniser splits and joins words freely, and reads accents and punctuation worst)."""
    s = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in s if c.isalnum() and not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def similarity(a: str, b: str) -> float:
    """Similarity of two :func:`plain` strings, 0..1 (rapidfuzz's normalised Indel)."""
    if not a or not b:
        return 0.0
    from rapidfuzz import fuzz

    return fuzz.ratio(a, b) / 100.0


def baselines(texts: list[str], reads: list[str]) -> list[float]:
    """Per model line: its median similarity with the readings of all pieces (what it
    scores against a piece it is not)."""
    out = []
    for t in texts:
        sims = sorted(similarity(t, r) for r in reads if r)
        out.append(sims[len(sims) // 2] if sims else 0.0)
    return out


def evidence(text: str, read: str, base: float) -> float:
    """How much more ``read`` looks like ``text`` than ``text`` looks like the page's
    pieces in general (both :func:`plain`; ``base`` from :func:`baselines`); >= 0."""
    return max(0.0, similarity(text, read) - base)
