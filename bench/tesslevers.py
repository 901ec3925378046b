"""Tesseract variables and page segmentation modes, A/B on the calls ocrkit makes.

    python -m bench.tesslevers capture [--pages 20] [--calls FILE]
    python -m bench.tesslevers replay VAR=VALUE[,VAR=VALUE...] [--psm N] [--rounds 4]
                                      [--calls FILE] [--outs FILE]

``capture`` builds the throughput section's scanned PDF (``--pages`` of the printed
corpus pages, as ``bench.run`` builds it), reads it like ``ocrkit ocr -j 1 -l eng`` in this
process and keeps every in-process Tesseract call the pipeline made (the image's pixels,
languages, PSM, dpi and the TSV it returned) in a pickle. ``replay`` runs those calls
again through :func:`tesserocr_backend.recognize_tsv`, alternately as they were (A) and
with the lever (B: the variables set on the API object, and/or every call read with
``--psm``), A B / B A per round, and prints each run's CPU seconds (``time.thread_time``,
this thread only: the machine's other load changes caches, not the count), the minimum
per call of each arm and how many calls gave byte-identical TSV. ``--outs`` keeps the
last run's TSV of both arms for a CER check (issue 14, branch ``i14layout``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

CALLS = Path("/tmp/ocrkit-tesslevers-calls.pkl")


def capture(pages: int, calls_path: Path) -> int:
    import tempfile

    from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb

    from bench.run import build_pdf, manifest, throughput_pages
    from ocrkit import api

    calls: list[tuple[Any, ...]] = []
    original = tb.recognize_tsv

    def recording(image: Any, langs: list[str], psm: int, dpi: int) -> str:
        tsv = original(image, langs, psm, dpi)
        calls.append((image.mode, image.size, image.tobytes(), list(langs), psm, dpi, tsv))
        return tsv

    tb.recognize_tsv = recording  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        pdf = build_pdf(throughput_pages(manifest(), pages), Path(tmp) / f"scan{pages}.pdf")
        api.ocr(str(pdf), language="eng", jobs=1, engine="tesseract")
    tb.recognize_tsv = original  # type: ignore[assignment]
    with calls_path.open("wb") as f:
        pickle.dump(calls, f)
    print(f"{len(calls)} Tesseract calls for {pages} pages -> {calls_path}")
    for mode, size, _px, langs, psm, dpi, _tsv in calls:
        print(f"  {mode} {size[0]}x{size[1]} {'+'.join(langs)} psm {psm} dpi {dpi}")
    return 0


def replay(spec: str, psm: int | None, rounds: int, calls_path: Path, outs: Path | None) -> int:
    from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb
    from PIL import Image

    with calls_path.open("rb") as f:
        calls = pickle.load(f)
    images = [(Image.frombytes(m, s, px), langs, p, d, tsv) for m, s, px, langs, p, d, tsv in calls]
    lever = [kv.split("=", 1) for kv in spec.split(",") if kv]
    langsets = sorted({"+".join(c[1]) for c in images})

    def set_lever(on: bool, defaults: dict[str, str]) -> None:
        for lang in langsets:
            api = tb._POOL.take(lang)
            for name, value in lever:
                if not api.SetVariable(name, value if on else defaults[name]):
                    raise SystemExit(f"unknown Tesseract variable {name}")
            tb._POOL.give(lang, api)

    api = tb._POOL.take(langsets[0])
    defaults = {name: api.GetVariableAsString(name) for name, _ in lever}
    tb._POOL.give(langsets[0], api)
    print(f"defaults {defaults}; lever {dict(lever)} psm {psm}", flush=True)
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    last: dict[str, list[str]] = {}
    for r in range(rounds):
        for arm in ("A", "B") if r % 2 == 0 else ("B", "A"):
            set_lever(arm == "B", defaults)
            t0 = time.thread_time()
            last[arm] = [
                tb.recognize_tsv(im, langs, psm if (arm == "B" and psm) else p, d)
                for im, langs, p, d, _tsv in images
            ]
            cpu[arm].append(time.thread_time() - t0)
            print(f"{arm} {cpu[arm][-1]:.3f} CPU s (load {os.getloadavg()[0]:.1f})", flush=True)
    set_lever(False, defaults)
    n = len(images)
    same = [a == b for a, b in zip(last["A"], last["B"], strict=True)]
    summary = {
        "lever": spec,
        "psm": psm,
        "calls": n,
        "A": [round(x, 3) for x in cpu["A"]],
        "B": [round(x, 3) for x in cpu["B"]],
        "A_min_per_call": round(min(cpu["A"]) / n, 4),
        "B_min_per_call": round(min(cpu["B"]) / n, 4),
        "change_pct": round(100 * (min(cpu["B"]) / min(cpu["A"]) - 1), 2),
        "identical_calls": sum(same),
        "A_as_captured": sum(a == c[4] for a, c in zip(last["A"], images, strict=True)),
        "differ": [i for i, s in enumerate(same) if not s],
    }
    print(json.dumps(summary))
    if outs:
        with outs.open("wb") as f:
            pickle.dump(last, f)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("--pages", type=int, default=20)
    cap.add_argument("--calls", type=Path, default=CALLS)
    rep = sub.add_parser("replay")
    rep.add_argument("lever", nargs="?", default="", help="VAR=VALUE[,VAR=VALUE...]")
    rep.add_argument("--psm", type=int)
    rep.add_argument("--rounds", type=int, default=4)
    rep.add_argument("--calls", type=Path, default=CALLS)
    rep.add_argument("--outs", type=Path)
    args = ap.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    if args.cmd == "capture":
        return capture(args.pages, args.calls)
    return replay(args.lever, args.psm, args.rounds, args.calls, args.outs)


if __name__ == "__main__":
    sys.exit(main())
