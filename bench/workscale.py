"""Working-resolution levers (issue 14, branch ``i14scale``): where the 20 pages' CPU goes
per page, and A/B of other scale choices against the engine's own.

    python -m bench.workscale capture [--pages 20] [--calls FILE]
    python -m bench.workscale profile [--rounds 2] [--calls FILE]
    python -m bench.workscale ab VARIANT [VARIANT...] [--rounds 2] [--calls FILE] [--only IDS]
    python -m bench.workscale cer VARIANT [--cats printed] [--half tune|test|all] [--out F]

``capture`` builds the throughput section's scanned PDF (``bench.run``'s builder) and reads
it like ``ocrkit ocr -j 1 -l eng`` in this process, keeping each page image the pipeline
hands the tesseract engine (pixels, languages, dpi). ``profile`` re-runs the engine on each
page and prints its letter height, spread, pixels, the scale chosen and the engine's CPU
seconds (this process's CPU: the engine reads in-process, one OpenMP thread), and for pages
not read at 1x also what they cost read at 1x. ``ab`` runs each page with the engine's own
choice (A, the code as it is) and with each VARIANT (B...), interleaved per page and round
(A B ... / ... B A), and prints CPU seconds per page and in all (the minimum per arm over
the rounds) and whether the words changed. ``cer`` runs ``api.ocr(jobs=1)`` on corpus
samples (fixed language, as ``bench.levers``) with the VARIANT's scale and prints CER per
sample and category; ``base`` is the code as it is. Halves as ``bench.languages``:
alternate ids within a category (``tune`` = even positions).

A VARIANT is ``name`` or ``key=value,key=value`` over :func:`scale_fn`'s keywords:
``small_xh`` (below it: enlarge), ``up`` (the fixed factor for small text), ``up_target``
(instead: enlarge to this letter height, at least ``up_min``), ``big_xh``/``target``
(downscale above big_xh to target), ``mid_lo``/``mid_target`` (letters in
[mid_lo, big_xh] scaled to mid_target; with ``mid_spread``, only when the letters' spread
is at least that).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import sys
from pathlib import Path
from typing import Any

CALLS = Path("/tmp/ocrkit-workscale-pages.pkl")


def cpu_now() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def scale_fn(
    small_xh: float = 11,
    up: float = 2.0,
    up_target: float = 0.0,
    up_min: float = 1.0,
    tiny_up: float = 3.0,
    big_xh: float = 24,
    target: float = 16,
    min_scale: float = 0.5,
    mid_lo: float = 0.0,
    mid_target: float = 0.0,
    mid_spread: float = 0.0,
) -> Any:
    """A working_scale with other thresholds (same signature as the engine's)."""
    from ocrkit_plugins.engines import tesseract as t

    def ws(xh: float | None, pixels: int, langs: list[str], spread: float | None = None) -> float:
        if xh is None:
            return 1.0
        if xh < small_xh and pixels <= t.SMALL_IMAGE_PIXELS:
            if pixels <= t.TINY_PIXELS:
                return float(tiny_up)
            if up_target:
                return max(up_target / xh, up_min)
            return float(up)
        regular = spread is None or spread <= t.MAX_SPREAD
        alpha = all(t.script_of(code) in t._ALPHABETIC for code in langs)
        if xh > big_xh and regular and alpha:
            return max(target / xh, min_scale)
        spread_ok = not mid_spread or (spread is not None and spread >= mid_spread)
        if mid_lo and mid_lo <= xh <= big_xh and regular and alpha and spread_ok:
            return min(1.0, max(mid_target / xh, min_scale))
        return 1.0

    return ws


def variant(spec: str) -> Any:
    if spec == "base":
        from ocrkit_plugins.engines import tesseract as t

        return t.working_scale
    kw = {k: float(v) for k, v in (kv.split("=", 1) for kv in spec.split(",") if kv)}
    return scale_fn(**kw)


def capture(pages: int, calls_path: Path) -> int:
    import tempfile

    from ocrkit_plugins.engines import tesseract as t

    from bench.run import build_pdf, manifest, throughput_pages
    from ocrkit import api

    files = throughput_pages(manifest(), pages)
    ids = {s.file: s.id for s in manifest()}
    seen: list[tuple[Any, ...]] = []
    original = t.TesseractEngine.recognize

    def recording(self: Any, image: Any, *, languages: list[str], dpi: int, options: Any = None):
        seen.append((image.mode, image.size, image.tobytes(), list(languages), dpi))
        return original(self, image, languages=languages, dpi=dpi, options=options)

    t.TesseractEngine.recognize = recording  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        pdf = build_pdf(files, Path(tmp) / f"scan{pages}.pdf")
        api.ocr(str(pdf), language="eng", jobs=1, engine="tesseract")
    t.TesseractEngine.recognize = original  # type: ignore[method-assign]
    calls = [(ids[f], *c) for f, c in zip(files, seen, strict=True)]
    with calls_path.open("wb") as f:
        pickle.dump(calls, f)
    print(f"{len(calls)} pages -> {calls_path}")
    return 0


def load(calls_path: Path) -> list[tuple[str, Any, list[str], int]]:
    from PIL import Image

    with calls_path.open("rb") as f:
        calls = pickle.load(f)
    return [(sid, Image.frombytes(m, s, px), langs, dpi) for sid, m, s, px, langs, dpi in calls]


def run_page(ws: Any, image: Any, langs: list[str], dpi: int) -> tuple[float, str]:
    """The engine on one page with ``ws`` as its working_scale: CPU s and its words."""
    from ocrkit_plugins.engines import tesseract as t

    saved = t.working_scale
    t.working_scale = ws
    try:
        c0 = cpu_now()
        res = t.TesseractEngine().recognize(image, languages=langs, dpi=dpi)
        spent = cpu_now() - c0
    finally:
        t.working_scale = saved
    words = " ".join(w.text for b in res.blocks for w in b.words)
    return spent, words


def profile(rounds: int, calls_path: Path) -> int:
    from ocrkit_plugins.engines import tesseract as t
    from ocrkit_plugins.engines.tesseract import textsize

    pages = load(calls_path)
    one = scale_fn(small_xh=0, big_xh=1e9)  # everything at 1x
    run_page(t.working_scale, *pages[0][1:])  # warm the model
    print("page\tid\tpixels\txh\tspread\tscale\tCPU s\tCPU s at 1x\tletters ms")
    tot = tot1 = 0.0
    for i, (sid, image, langs, dpi) in enumerate(pages, 1):
        c0 = cpu_now()
        found = textsize.letters(image)
        meas = (cpu_now() - c0) * 1000
        xh = found.height if found else None
        k = t.working_scale(xh, image.width * image.height, langs, found.spread if found else None)
        cpu = min(run_page(t.working_scale, image, langs, dpi)[0] for _ in range(rounds))
        cpu1 = cpu if k == 1 else min(run_page(one, image, langs, dpi)[0] for _ in range(rounds))
        tot, tot1 = tot + cpu, tot1 + cpu1
        print(
            f"{i}\t{sid}\t{image.width}x{image.height}\t{xh}\t"
            f"{found.spread if found else None:.2f}\t{k:.3f}\t{cpu:.3f}\t{cpu1:.3f}\t{meas:.0f}",
            flush=True,
        )
    n = len(pages)
    print(f"all\t\t\t\t\t\t{tot / n:.3f}/page\t{tot1 / n:.3f}/page\tload {os.getloadavg()}")
    return 0


def ab(specs: list[str], rounds: int, calls_path: Path, only: set[str]) -> int:
    from ocrkit_plugins.engines import tesseract as t
    from ocrkit_plugins.engines.tesseract import textsize

    pages = [p for p in load(calls_path) if not only or p[0] in only]
    arms = [("A", t.working_scale)] + [(s, variant(s)) for s in specs]
    run_page(t.working_scale, *pages[0][1:])  # warm
    load0 = os.getloadavg()
    cpu: dict[str, list[list[float]]] = {name: [[] for _ in pages] for name, _ in arms}
    words: dict[str, list[str]] = {name: [""] * len(pages) for name, _ in arms}
    for r in range(rounds):
        for i, (_sid, image, langs, dpi) in enumerate(pages):
            order = arms if (r + i) % 2 == 0 else arms[::-1]
            for name, ws in order:
                spent, w = run_page(ws, image, langs, dpi)
                cpu[name][i].append(spent)
                words[name][i] = w
    print("page\tid\txh\t" + "\t".join(f"{n} k\t{n} CPU s" for n, _ in arms) + "\tsame words")
    for i, (sid, image, langs, _dpi) in enumerate(pages):
        found = textsize.letters(image)
        xh = found.height if found else None
        sp = found.spread if found else None
        cells = []
        for name, ws in arms:
            k = ws(xh, image.width * image.height, langs, sp)
            cells.append(f"{k:.3f}\t{min(cpu[name][i]):.3f}")
        same = ",".join("y" if words[n][i] == words["A"][i] else "n" for n, _ in arms[1:])
        print(f"{i + 1}\t{sid}\t{xh}\t" + "\t".join(cells) + f"\t{same}")
    a = sum(min(c) for c in cpu["A"])
    print(f"load {load0} -> {os.getloadavg()}, {rounds} rounds")
    for name, _ in arms:
        s = sum(min(c) for c in cpu[name])
        mean = sum(statistics.mean(c) for c in cpu[name])
        print(
            f"{name}: min-sum {s:.2f} s ({s / len(pages):.3f}/page, {100 * (s / a - 1):+.1f} %), "
            f"mean-sum {mean:.2f} s"
        )
    return 0


def cer_run(spec: str, cats: set[str], half: str, ids: set[str], out: Path | None) -> int:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from ocrkit_plugins.engines import tesseract as t

    from bench.run import manifest
    from ocrkit import api
    from ocrkit.eval.textmetrics import cer

    samples = []
    for cat in sorted(cats):
        group = sorted((s for s in manifest() if s.category == cat), key=lambda s: s.id)
        for i, s in enumerate(group):
            h = "tune" if i % 2 == 0 else "test"
            if (half in ("all", h)) and (not ids or s.id in ids):
                samples.append((s, h))
    t.working_scale = variant(spec)
    rows = []
    for s, h in samples:
        c0 = cpu_now()
        job = api.ocr(s.file, engine="tesseract", language=s.tess, jobs=1)
        spent = cpu_now() - c0
        text = "\f".join(p.text for p in job.pages)
        truth = s.truth.read_text(encoding="utf-8")
        row = {
            "id": s.id,
            "category": s.category,
            "half": h,
            "cer": round(cer(truth, text, transcription_marks=True), 4),
            "cpu_s": round(spent, 3),
            "pages": len(job.pages),
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    for cat in sorted({r["category"] for r in rows}):
        rs = [r for r in rows if r["category"] == cat]
        print(f"{spec}\t{cat}\tn={len(rs)}\tmean CER {statistics.mean(r['cer'] for r in rs):.4f}")
    if out:
        out.write_text(json.dumps({"spec": spec, "load": os.getloadavg(), "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["capture", "profile", "ab", "cer"])
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--calls", type=Path, default=CALLS)
    ap.add_argument("--only", default="")
    ap.add_argument("--cats", default="printed")
    ap.add_argument("--half", default="tune")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    if args.cmd == "capture":
        return capture(args.pages, args.calls)
    if args.cmd == "profile":
        return profile(args.rounds, args.calls)
    only = set(filter(None, args.only.split(",")))
    if args.cmd == "ab":
        return ab(args.specs, args.rounds, args.calls, only)
    return cer_run(args.specs[0], set(args.cats.split(",")), args.half, only, args.out)


if __name__ == "__main__":
    sys.exit(main())
