"""CPU milliseconds per page, per pipeline stage (issue 14's profile table).

    python -m bench.stages [--pages N] [--fmt txt|pdf] [--language eng|auto] [--out FILE]

Builds the throughput section's scanned PDF (the printed corpus pages embedded at their
own pixels as 300 dpi; ``--pages`` of them), then runs the same per-page work as
``ocrkit ocr -j 1`` in this process, with the pipeline's stage functions wrapped by a
timer that counts this process's CPU time plus its children's (the tesseract CLI), so
the figures do not depend on the machine's load. Nested stages are counted once: a
stage's time excludes the stages called inside it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import resource
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.run import build_pdf, build_textlayer_pdf, manifest, throughput_pages

_totals: dict[str, float] = defaultdict(float)
_stack: list[list[float]] = []


def cpu_now() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*a: Any, **k: Any) -> Any:
        _stack.append([0.0])  # time of nested stages
        t0 = cpu_now()
        try:
            return fn(*a, **k)
        finally:
            spent = cpu_now() - t0
            nested = _stack.pop()[0]
            _totals[name] += spent - nested
            if _stack:
                _stack[-1][0] += spent

    wrapper.__wrapped_stage__ = True  # type: ignore[attr-defined]
    return wrapper


# (module, attribute, stage name); a missing attribute is skipped (other versions).
STAGES = [
    ("ocrkit.page.inputs", "open_pdf", "open PDF"),
    ("ocrkit.page.inputs", "pdf_page_image", "page image (render/decode)"),
    ("ocrkit.page.inputs", "load_image_page", "page image (render/decode)"),
    ("ocrkit.page.textlayer", "read_text_layer", "text-layer check"),
    # the grey copy of a colour page made once for the blank check and the skew estimate
    ("ocrkit.page.orient", "grey", "blank check"),
    ("ocrkit.page.orient", "is_blank", "blank check"),
    ("ocrkit.page.orient", "estimate_skew", "skew estimate"),
    ("ocrkit.page.orient", "deskew", "deskew"),
    ("ocrkit.page.orient", "osd", "OSD"),
    ("ocrkit.page.call", "detect_languages", "language id"),
    ("ocrkit.page.call", "call_engine", "engine (other)"),
    ("ocrkit_plugins.engines.tesseract.textsize", "letter_height", "letter height (scale choice)"),
    ("ocrkit_plugins.engines.tesseract.textsize", "letters", "letter height (scale choice)"),
    ("ocrkit_plugins.engines.tesseract", "_run", "tesseract recognition"),
    ("ocrkit_plugins.engines.tesseract", "single_line", "engine (other)"),
    (
        "ocrkit_plugins.engines.tesseract.tesserocr_backend",
        "recognize_tsv",
        "tesseract recognition",
    ),
    ("ocrkit.layout.page", "finish_page", "layout"),
    ("ocrkit.page.textlayer", "ink_coverage", "text-layer ink probe"),
    ("ocrkit.page.textlayer", "_line_blocks", "text-layer words"),
    ("ocrkit.pipeline.pages", "_save_page_image", "save page PNG"),
]


def install() -> None:
    from PIL import Image

    for mod, attr, name in STAGES:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        fn = getattr(m, attr, None)
        if fn is None or getattr(fn, "__wrapped_stage__", False):
            continue
        setattr(m, attr, timed(name, fn))
        # modules that imported the function by name
        for other in list(sys.modules.values()):
            ours = getattr(other, "__name__", "").startswith(("ocrkit", "bench"))
            if ours and other is not m and getattr(other, attr, None) is fn:
                setattr(other, attr, getattr(m, attr))
    orig_save = Image.Image.save

    def save(self: Any, fp: Any, format: Any = None, **params: Any) -> Any:
        name = f"image encode ({(format or str(fp).rsplit('.', 1)[-1]).upper()})"
        return timed(name, orig_save)(self, fp, format, **params)

    Image.Image.save = save  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--fmt", default="txt")
    ap.add_argument("--language", default="eng")
    ap.add_argument("--out")
    ap.add_argument(
        "--textlayer",
        type=int,
        default=0,
        help="profile the textlayer section's born-digital PDF of N pages instead",
    )
    args = ap.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from ocrkit import api, pipeline  # noqa: F401
    from ocrkit.plugins import get_registry

    reg = get_registry()
    reg.engine("tesseract")
    for mod in (
        "ocrkit_plugins.engines.tesseract.textsize",
        "ocrkit_plugins.engines.tesseract.tesserocr_backend",
    ):
        with contextlib.suppress(ImportError):  # modules of later versions
            importlib.import_module(mod)
    import ocrkit_plugins.engines.tesseract  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        if args.textlayer:
            pdf, _ = build_textlayer_pdf(args.textlayer, Path(tmp) / "textlayer.pdf")
        else:
            pdf = build_pdf(throughput_pages(manifest(), args.pages), Path(tmp) / "scan.pdf")
        # warm-up: imports, models
        api.ocr(pdf, language=args.language, jobs=1, pages="1", registry=reg)
        install()
        _totals.clear()
        c0 = cpu_now()
        images = Path(tmp) / "pages" if args.fmt == "pdf" else None
        job = api.ocr(
            pdf,
            language=args.language,
            jobs=1,
            images_dir=images,
            registry=reg,
            # as the CLI: no language identification when the format never shows it
            detect_languages=reg.exporter(args.fmt).uses_detected_languages,
        )
        c1 = cpu_now()
        api.export(job, args.fmt, source=pdf, images_dir=images, registry=reg)
        c2 = cpu_now()
    n = len(job.pages)
    stages = {k: round(v * 1000 / n, 1) for k, v in sorted(_totals.items(), key=lambda x: -x[1])}
    stages[f"export ({args.fmt})"] = round((c2 - c1) * 1000 / n, 1)
    stages["rest (pipeline, bookkeeping)"] = round(
        ((c1 - c0) - sum(_totals.values())) * 1000 / n, 1
    )
    total = round((c2 - c0) * 1000 / n, 1)
    out = {
        "pages": n,
        "fmt": args.fmt,
        "language": args.language,
        "load": os.getloadavg(),
        "ms_per_page": stages,
        "total_ms_per_page": total,
        "passes": [p.extra.get("ocr_passes") for p in job.pages],
    }
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
