"""The ``paddleocr`` engine: PaddleOCR 3.x (PP-OCRv5 through PaddleX), only when it is
installed *and* its models are already in the local cache.

PaddleOCR downloads its models from model hubs on first use; ocrkit never lets it.
Availability checks the package without importing it (paddle is slow to import) and
looks for model directories in PaddleX's cache, ``$PADDLE_PDX_CACHE_HOME`` or
``~/.paddlex``, under ``official_models/<model name>``. The pipeline is then built from
those directories by path, with the document-orientation, unwarping and text-line
orientation models switched off (they would be downloaded), and PaddleX's model-hub
connectivity check disabled.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.errors import EngineFailed, EngineUnavailable
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.models import Block, Word

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

# Models looked for, best first: (name, languages it reads as ocrkit codes).
DET_MODELS = ("PP-OCRv5_server_det", "PP-OCRv5_mobile_det", "PP-OCRv4_mobile_det")
REC_MODELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PP-OCRv5_server_rec", ("chi_sim", "chi_tra", "eng", "jpn")),
    ("PP-OCRv5_mobile_rec", ("chi_sim", "chi_tra", "eng", "jpn")),
    ("en_PP-OCRv5_mobile_rec", ("eng",)),
    ("PP-OCRv4_mobile_rec", ("chi_sim", "eng")),
)
_MODEL_FILES = ("inference.json", "inference.pdmodel")

_lock = threading.Lock()
_pipeline: Any = None


def cache_dir() -> Path:
    root = os.environ.get("PADDLE_PDX_CACHE_HOME") or Path.home() / ".paddlex"
    return Path(root) / "official_models"


def _has_model(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in _MODEL_FILES)


def missing_packages() -> list[str]:
    return [m for m in ("paddleocr", "paddle") if importlib.util.find_spec(m) is None]


def find_models() -> tuple[dict[str, Any], str]:
    """``({"det": (name, dir), "rec": (name, dir), "langs": [...]}, "")`` or ``({}, reason)``."""
    missing = missing_packages()
    if missing:
        return {}, (
            f"{' and '.join(missing)} not installed (pip install paddlepaddle paddleocr, then "
            f"put its models in {cache_dir()}; ocrkit never downloads models)"
        )
    root = cache_dir()
    det = next((n for n in DET_MODELS if _has_model(root / n)), None)
    rec = next(((n, langs) for n, langs in REC_MODELS if _has_model(root / n)), None)
    if det is None or rec is None:
        want = DET_MODELS[0] if det is None else REC_MODELS[0][0]
        return {}, (
            f"PaddleOCR models are not in the local cache {root} (looked for {want} and "
            "alternatives); ocrkit never downloads models: fetch them once with paddleocr "
            "on a connected machine and copy that directory here"
        )
    return {"det": (det, root / det), "rec": (rec[0], root / rec[0]), "langs": list(rec[1])}, ""


def _load(models: dict[str, Any]) -> Any:
    global _pipeline
    with _lock:
        if _pipeline is None:
            os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
            from paddleocr import PaddleOCR

            _pipeline = PaddleOCR(
                text_detection_model_name=models["det"][0],
                text_detection_model_dir=str(models["det"][1]),
                text_recognition_model_name=models["rec"][0],
                text_recognition_model_dir=str(models["rec"][1]),
                use_doc_orientation_classify=False,
                use_doc_unwarping=False,
                use_textline_orientation=False,
                device="cpu",
                cpu_threads=1,
            )
    return _pipeline


class PaddleOcrEngine(Engine):
    name = "paddleocr"
    tier = "cpu"
    description = "PaddleOCR 3 (PP-OCRv5; needs paddlepaddle and a local model cache)"

    def languages(self) -> list[str]:
        models, _ = find_models()
        return models.get("langs", [])

    def availability(self) -> tuple[bool, str]:
        models, reason = find_models()
        return (True, "") if models else (False, reason)

    def recognize(self, image: Image.Image, *, languages: list[str], dpi: int) -> PageResult:
        models, reason = find_models()
        if not models:
            raise EngineUnavailable(f"engine 'paddleocr' is not available: {reason}")
        missing = [c for c in languages if c not in models["langs"]]
        if missing:
            reads = ", ".join(models["langs"])
            raise EngineUnavailable(
                f"paddleocr cannot read {', '.join(missing)}; it reads: {reads}"
            )
        import numpy as np

        pipeline = _load(models)
        rgb = np.asarray(image.convert("RGB"))
        try:
            results = pipeline.predict(np.ascontiguousarray(rgb[:, :, ::-1]))  # BGR
        except Exception as exc:
            raise EngineFailed(f"paddleocr failed: {type(exc).__name__}: {exc}") from exc
        blocks: list[Block] = []
        for res in results or []:
            blocks.extend(to_blocks(res, image.size))
        return PageResult(blocks=blocks)


def to_blocks(res: Any, size: tuple[int, int]) -> list[Block]:
    """One PaddleOCR 3 OCRResult (dict-like: rec_texts, rec_scores, rec_polys) -> blocks."""
    w, h = size
    blocks = []
    for text, score, poly in zip(
        res["rec_texts"], res["rec_scores"], res["rec_polys"], strict=False
    ):
        text = str(text).strip()
        if not text:
            continue
        xs = [min(max(float(p[0]), 0.0), w) for p in poly]
        ys = [min(max(float(p[1]), 0.0), h) for p in poly]
        bbox: list[float] = [int(min(xs)), int(min(ys)), round(max(xs)), round(max(ys))]
        conf = round(min(max(float(score), 0.0), 1.0), 4)
        blocks.append(Block(text=text, bbox=bbox, confidence=conf, words=[Word(text, bbox, conf)]))
    return blocks


@hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(PaddleOcrEngine())
