"""The ``rapidocr`` engine: PaddleOCR's PP-OCR models on ONNX Runtime, via ``rapidocr`` 3.x.

The models ship inside the ``rapidocr`` wheel (``rapidocr/models``). They are passed to
it by path, so it never takes the code path that downloads a missing model (or
re-hashes a present one). One model per process, loaded on first use; ONNX Runtime
runs one thread (the pipeline parallelises across pages). RapidOCR logs on stderr; its
logger is quietened to errors so nothing of it reaches stdout or a terminal.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.errors import EngineFailed, EngineUnavailable
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.lang import resolve
from ocrkit.models import Block, Word

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

# Preferred shipped model files per task (rapidocr 3.10 ships the first of each).
MODEL_FILES = {
    "Det": ("PP-OCRv6_det_small.onnx", "ch_PP-OCRv5_det_mobile.onnx", "ch_PP-OCRv4_det_infer.onnx"),
    "Rec": ("PP-OCRv6_rec_small.onnx", "ch_PP-OCRv5_rec_mobile.onnx", "ch_PP-OCRv4_rec_infer.onnx"),
}
# What the PP-OCRv6 multilingual recogniser reads (rapidocr's default_models.yaml,
# "ppocrv6_langs"), as ocrkit codes. Older shipped models (v4/v5 "ch") read zh + en.
V6_LANGS = (
    "ch chinese_cht en japan af az bs ca cs cy da de es et eu fi fr ga gl hr hu id is it "
    "ku la lb lt lv mi ms mt nl no oc pl pt qu ro rs_latin sk sl sq sv sw tl tr uz vi"
)

_lock = threading.Lock()
_engines: dict[bool, Any] = {}  # the process's rapidocr.RapidOCR objects, once loaded
# rapidocr's detector scales an image so its SHORTER side is 736 px: a line image of
# 1443 x 116 becomes 9155 x 736, where the detector finds nothing (three handwritten
# line images of the corpus read empty, raw RapidOCR too). An image that this would make
# longer than WIDE_TRIGGER px is detected at its own size, longer side at most WIDE_LIMIT
# (a second RapidOCR object; the models are shared files, loaded twice). Small crops stay
# on the default scaling: a 251 x 65 table crop (2842 px long when scaled) read well
# there and lost half its cells at 2000 px; the shortest line that needs the wide path
# scales to 4854 px.
WIDE_LIMIT = 2000
WIDE_TRIGGER = 4000
DET_MIN_SIDE = 736


def _model_paths() -> tuple[dict[str, Path], str]:
    """Shipped model file per task, or ({}, reason). Imports nothing heavy."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None or importlib.util.find_spec("onnxruntime") is None:
        return {}, "rapidocr or onnxruntime is not installed; pip install 'ocrkit[rapidocr]'"
    root = Path(spec.origin).parent / "models"
    found: dict[str, Path] = {}
    for task, names in MODEL_FILES.items():
        path = next((root / n for n in names if (root / n).is_file()), None)
        if path is None:
            from importlib import metadata  # (email, zipfile ...: not at start-up)

            return {}, f"no {task} model in {root} (rapidocr {metadata.version('rapidocr')})"
        found[task] = path
    return found, ""


def _wide(size: tuple[int, int]) -> bool:
    """Whether the default detector scaling would blow ``size`` up past WIDE_LIMIT."""
    short, long = min(size), max(size)
    return short < DET_MIN_SIDE and long * DET_MIN_SIDE / max(1, short) > WIDE_TRIGGER


def _load(wide: bool = False) -> Any:
    with _lock:
        if wide not in _engines:
            paths, reason = _model_paths()
            if not paths:
                raise EngineUnavailable(f"engine 'rapidocr' is not available: {reason}")
            import cv2
            import onnxruntime
            from rapidocr import RapidOCR

            cv2.setNumThreads(1)  # like ONNX Runtime below: one core per page worker
            onnxruntime.set_default_logger_severity(3)  # errors only
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
            params: dict[str, Any] = {
                "Global.log_level": "error",
                # The shipped 0/180 line classifier flipped a plain upright English line
                # ("The quick brown fox ..." -> "The e  r s    oog."); the pipeline turns
                # pages upright before the engine, so it is off (rapidocr loads models
                # lazily: the classifier is then never loaded, nor looked for).
                "Global.use_cls": False,
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            params.update({f"{task}.model_path": str(p) for task, p in paths.items()})
            if wide:
                params.update({"Det.limit_type": "max", "Det.limit_side_len": WIDE_LIMIT})
            _engines[wide] = RapidOCR(params=params)
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return _engines[wide]


class RapidOcrEngine(Engine):
    name = "rapidocr"
    tier = "cpu"
    description = "RapidOCR: PP-OCR models on ONNX Runtime (local; Chinese, English, Latin)"
    # One recognition model reads every language it lists: language=auto never re-reads
    # a page for language (ocrkit.page.read), it only reports the text's languages.
    multilingual = True
    # PP-OCR scores every upright corpus page >= 0.99 (length-weighted word confidence)
    # and quarter- or half-turned pages 0.69-0.78: below this, the pipeline asks OSD.
    upright_confidence = 0.9

    def languages(self) -> list[str]:
        paths, _ = _model_paths()
        if paths and paths["Rec"].name.startswith("PP-OCRv6"):
            return resolve("+".join(V6_LANGS.split()))
        return ["eng", "chi_sim"]

    def availability(self) -> tuple[bool, str]:
        paths, reason = _model_paths()
        return (True, "") if paths else (False, reason)

    def recognize(self, image: Image.Image, *, languages: list[str], dpi: int) -> PageResult:
        readable = self.languages()
        missing = [c for c in languages if c not in readable]
        if missing:
            raise EngineUnavailable(
                f"rapidocr cannot read {', '.join(missing)}; it reads: {', '.join(readable)}"
            )
        engine = _load(_wide(image.size))
        try:
            out = engine(image.convert("RGB"), return_word_box=True)
        except Exception as exc:  # onnxruntime / cv2 errors on odd input
            raise EngineFailed(f"rapidocr failed: {type(exc).__name__}: {exc}") from exc
        return PageResult(blocks=to_blocks(out, image.size))


def to_blocks(out: Any, size: tuple[int, int]) -> list[Block]:
    """A RapidOCROutput -> one :class:`Block` per detected line (its reading order),
    boxes clipped to the image ``size`` (width, height)."""
    if out.boxes is None or out.txts is None:
        return []
    words_of = list(out.word_results or []) or [()] * len(out.txts)
    blocks = []
    for poly, text, score, words in zip(out.boxes, out.txts, out.scores, words_of, strict=False):
        text = str(text).strip()
        if not text:
            continue
        bbox = _aabb(poly, size)
        conf = _unit(score)
        ws = [
            Word(text=str(t).strip(), bbox=_aabb(p, size), confidence=_unit(s))
            for t, s, p in (words or ())
            if str(t).strip()
        ]
        blocks.append(
            Block(text=text, bbox=bbox, confidence=conf, words=ws or [Word(text, bbox, conf)])
        )
    return blocks


def _aabb(poly: Any, size: tuple[int, int]) -> list[float]:
    """A polygon -> its axis-aligned integer box inside the image."""
    w, h = size
    xs = [min(max(float(p[0]), 0.0), w) for p in poly]
    ys = [min(max(float(p[1]), 0.0), h) for p in poly]
    return [int(min(xs)), int(min(ys)), round(max(xs)), round(max(ys))]


def _unit(x: Any) -> float:
    return round(min(max(float(x), 0.0), 1.0), 4)


@hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(RapidOcrEngine())
