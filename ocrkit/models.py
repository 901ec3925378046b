"""The job model: what OCR produces, exactly as ``shared/spec/API.md`` defines it.

A :class:`Job` holds :class:`Page` objects; a page holds :class:`Block` objects, one per
line of text in reading order, each with its :class:`Word` objects. Coordinates are
``[x0, y0, x1, y1]`` in pixels of the upright page image (the page after any rotation
ocrkit applied, at the page's ``dpi``).

``Job.to_dict()`` / ``Job.from_dict()`` round-trip losslessly through JSON, so a saved job
can be exported again later without OCR.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

BBox = list[float]

STATUSES = ("pending", "processing", "done", "failed")
BLOCK_TYPES = ("text", "heading", "list_item", "table", "caption", "formula", "furniture")


def union_bbox(boxes: list[BBox | None]) -> BBox | None:
    """The smallest box holding every known box of ``boxes`` (``None`` entries, lines
    without a box, are skipped); ``None`` when no box is known. Exporters use it for the
    box of a paragraph or block of lines."""
    known = [b for b in boxes if b is not None]
    if not known:
        return None
    return [
        min(b[0] for b in known),
        min(b[1] for b in known),
        max(b[2] for b in known),
        max(b[3] for b in known),
    ]


def weighted_confidence(blocks: list[Block]) -> float | None:
    """Mean confidence over the words of ``blocks``, each weighted by its length
    (characters other than whitespace), rounded to 4 places; a line without words
    counts as one word of its text. None when there is no text. This is the definition
    of ``Page.confidence`` and ``Job.mean_confidence``."""
    total = weight = 0.0
    for b in blocks:
        for w in b.words or (b,):
            text = w.text
            # A printable string without " " holds no whitespace (every other whitespace
            # character is unprintable): most words are counted without splitting.
            n = len(text) if text.isprintable() and " " not in text else len("".join(text.split()))
            total += n * w.confidence
            weight += n
    return round(total / weight, 4) if weight else None


def _new_uuid() -> str:
    import uuid  # on first use: the module (with platform) is not needed to import this

    return str(uuid.uuid4())


@dataclass
class Word:
    text: str
    bbox: BBox
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "bbox": list(self.bbox), "confidence": self.confidence}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        return cls(text=d["text"], bbox=list(d["bbox"]), confidence=d["confidence"])


@dataclass
class Block:
    """One line of text.

    ``bbox`` is ``None`` only when no box could be found for the line (a vlm line that
    matched no word on the page); then ``flags`` contains ``"unaligned"``. Every consumer
    of ``bbox`` must accept ``None``. ``flags`` marks other facts about the line:
    ``"low_confidence"``. ``extra`` holds what an engine wants to say about the line
    (JSON-serialisable; left out of the JSON when empty), e.g. the vlm engine's
    ``{"box": "estimated", "words": "estimated"}`` for a box placed from the page's
    text lines rather than from words it read.
    """

    text: str
    bbox: BBox | None
    confidence: float
    words: list[Word] = field(default_factory=list)
    type: str = "text"
    paragraph: int | None = None
    flags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As ``dataclasses.asdict`` gives it (same keys, same order, copies), without
        ``extra`` when it is empty."""
        d: dict[str, Any] = {
            "text": self.text,
            "bbox": None if self.bbox is None else list(self.bbox),
            "confidence": self.confidence,
            "words": [w.to_dict() for w in self.words],
            "type": self.type,
            "paragraph": self.paragraph,
            "flags": list(self.flags),
        }
        if self.extra:
            d["extra"] = copy.deepcopy(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Block:
        return cls(
            text=d["text"],
            bbox=None if d.get("bbox") is None else list(d["bbox"]),
            confidence=d["confidence"],
            words=[Word.from_dict(w) for w in d.get("words") or []],
            type=d.get("type", "text"),
            paragraph=d.get("paragraph"),
            flags=list(d.get("flags") or []),
            extra=dict(d.get("extra") or {}),
        )


@dataclass
class Cell:
    row: int
    col: int
    text: str
    bbox: BBox
    row_span: int = 1
    col_span: int = 1

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class Table:
    cells: list[Cell] = field(default_factory=list)
    bbox: BBox | None = None

    @property
    def n_rows(self) -> int:
        return max((c.row + c.row_span for c in self.cells), default=0)

    @property
    def n_cols(self) -> int:
        return max((c.col + c.col_span for c in self.cells), default=0)

    def grid(self) -> list[list[str]]:
        """Dense grid: a spanning cell's text sits in its top-left position."""
        rows = [["" for _ in range(self.n_cols)] for _ in range(self.n_rows)]
        for c in self.cells:
            rows[c.row][c.col] = c.text
        return rows

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        return cls(cells=[Cell.from_dict(c) for c in d.get("cells") or []], bbox=d.get("bbox"))


@dataclass
class Page:
    index: int
    width: int
    height: int
    dpi: int
    rotation: int = 0
    text: str = ""
    blocks: list[Block] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    # How the text was obtained: "ocr" or "text-layer" (a PDF page's own text).
    source: str = "ocr"
    engine: str | None = None
    confidence: float | None = None
    detected_languages: list[str] = field(default_factory=list)
    markdown: str = ""
    warnings: list[str] = field(default_factory=list)
    # Set by the translate tool: the recognised text and markdown before translation
    # (``text``/``markdown`` then hold the translation).
    original_text: str | None = None
    original_markdown: str | None = None
    # Anything a plugin wants to add; must be JSON-serialisable.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The page as JSON data: ``dataclasses.asdict``'s keys, order and copies, without
        ``tables`` when there are none and a block's ``extra`` when it is empty. Written
        out: ``asdict`` deep-copies every leaf (0.53 ms for a 60-word page against
        ~0.1; the server converts each page three times per job)."""
        d: dict[str, Any] = {
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "dpi": self.dpi,
            "rotation": self.rotation,
            "text": self.text,
            "blocks": [b.to_dict() for b in self.blocks],
        }
        if self.tables:
            d["tables"] = [asdict(t) for t in self.tables]
        d["source"] = self.source
        d["engine"] = self.engine
        d["confidence"] = self.confidence
        d["detected_languages"] = list(self.detected_languages)
        d["markdown"] = self.markdown
        d["warnings"] = list(self.warnings)
        d["original_text"] = self.original_text
        d["original_markdown"] = self.original_markdown
        d["extra"] = copy.deepcopy(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Page:
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        kw["blocks"] = [Block.from_dict(b) for b in d.get("blocks") or []]
        kw["tables"] = [Table.from_dict(t) for t in d.get("tables") or []]
        return cls(**kw)


@dataclass
class Job:
    uuid: str = field(default_factory=lambda: _new_uuid())
    status: str = "pending"
    tier: str = "cpu"
    language: str = "auto"
    page_count: int = 0
    mean_confidence: float | None = None
    text: str = ""
    markdown: str = ""
    engine: str | None = None
    warnings: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    pages_done: int = 0
    error: str | None = None
    tool: str | None = None
    translate_to: str | None = None
    detected_languages: list[str] = field(default_factory=list)
    # What went in: "pdf", "png", "jpeg", "tiff", ...; and its name when known.
    input_type: str | None = None
    filename: str | None = None
    dpi: int = 300
    created_at: str | None = None
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, pages: bool = True) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "pages"}
        d["warnings"] = list(self.warnings)
        d["detected_languages"] = list(self.detected_languages)
        d["extra"] = dict(self.extra)
        if pages:
            d["pages"] = [p.to_dict() for p in self.pages]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d and f.name != "pages"}
        kw["pages"] = [Page.from_dict(p) for p in d.get("pages") or []]
        return cls(**kw)

    def finish(self) -> None:
        """Recompute the job-level fields from its pages (text, markdown, confidence,
        engines, languages). Pure data: the layout across pages (running headers) is
        :func:`ocrkit.pipeline.plan.finish_job`'s, which calls this afterwards."""
        self.pages.sort(key=lambda p: p.index)
        self.page_count = max(self.page_count, len(self.pages))
        self.pages_done = len(self.pages)
        self.text = (
            "\f".join(p.text for p in self.pages)
            if len(self.pages) > 1
            else (self.pages[0].text if self.pages else "")
        )
        self.markdown = "\n\n".join(p.markdown for p in self.pages if p.markdown)
        self.mean_confidence = weighted_confidence([b for p in self.pages for b in p.blocks])
        engines = sorted({p.engine for p in self.pages if p.engine})
        if engines:
            self.engine = "+".join(engines)
        langs: list[str] = []
        for p in self.pages:
            for code in p.detected_languages:
                if code not in langs:
                    langs.append(code)
        if langs:
            self.detected_languages = langs
