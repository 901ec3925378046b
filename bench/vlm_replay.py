"""Replay the vlm tier's line placement (issue 21) in seconds instead of minutes.

``make bench``'s vlm section (bench/vlm_boxes.py) reads every page through the whole
pipeline: Tesseract's cpu pass, the stand-in model server, the text-line detector, then
``build_result`` (plugins/engines/vlm/answer.py), which places the model's lines. When
tuning the placement (answer.py, assign.py, detect.py after the detector's own call),
only the last step changes. So:

* ``capture`` reads the pages once through the real pipeline (the same calls, pages,
  truth and languages as bench/vlm_boxes.py) and keeps what ``build_result`` was given
  (the answer, the completion, the cpu engine's blocks, the warnings and info so far,
  the page image) plus every region the detector's model found (``detect_regions``, keyed
  by the image's pixels). Into bench/work/vlm_replay/ (git-ignored, never committed).
* ``run`` calls the working tree's ``build_result`` on the captured inputs, with the
  detector's regions taken from the cache (a miss, e.g. a new strip or turn, calls the
  model and is added), and scores the pages with bench/vlm_boxes.py's own functions: the
  count of lines with IoU >= 0.5 against the true boxes per page and per set (single-line
  images: IoU >= 0.7 with the ink's box), ``--failures`` for each missed line (its
  number, true box, the box it got, IoU, text), ``--overlay DIR`` for pictures (truth
  green, got red with the line's number, the detector's pieces blue), ``--json`` to keep
  the result for ``compare``.
* ``compare A.json B.json``: the pages whose count changed, and the totals.

The held-out sets (``*-heldout``, ``poilus-fresh``, ``poilus-third``, ``poilus-fifth``) are
refused unless ``--held-out`` is given: thresholds are tuned on the tuning halves only,
and a held-out half is looked at once, at the end.

Capture again after changing anything before ``build_result`` (the cpu pass, the prompt,
the engine) or the detector's model call (``detect_regions``, DET_MAX_SIDE, the model
file): the cache is keyed by the model file and DET_MAX_SIDE, not by the code.

    .venv/bin/python -m bench.vlm_replay capture [--set poilus-tuning,corpus-tuning]
    .venv/bin/python -m bench.vlm_replay run [--set ...] [--failures] [--overlay DIR]
    .venv/bin/python -m bench.vlm_replay compare A.json B.json
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import io
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import vlm_boxes as vb

WORK = vb.ROOT / "bench" / "work" / "vlm_replay"
SETS = (
    "corpus-tuning",
    "poilus-tuning",
    "made-tuning",
    "single",
    "corpus-heldout",
    "poilus-heldout",
    "made-heldout",
    "poilus-fresh",
    "poilus-third",
    "poilus-fifth",
    "cat-printed",
    "cat-nonlatin",
    "cat-rotated",
    "cat-pdf",
)
# The corpus categories (no true line boxes): what is scored is the boxed share of the
# model's lines, the bench's "boxed share per category" (printed pages through the vlm
# tier must keep it), and every box is kept so two codes can be compared box for box.
CATEGORIES = tuple(s for s in SETS if s.startswith("cat-"))
HELD_OUT = tuple(s for s in SETS if s.endswith(("-heldout", "-fresh", "-third", "-fifth")))
DEFAULT = tuple(s for s in SETS if s not in HELD_OUT and s not in CATEGORIES)
SINGLE_OK = 0.7  # single-line images: IoU with the ink's box (issue 21's bar)
PAGE_OK = 0.5  # full pages: IoU with the true line box


def chosen_sets(spec: str | None, held_out: bool) -> list[str]:
    """The sets ``--set`` names (comma-separated, or ``all``); the held-out ones only with
    ``held_out`` (raises SystemExit otherwise)."""
    if not spec:
        return list(DEFAULT)
    names = list(SETS) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    if spec == "all":
        names = [n for n in names if n not in CATEGORIES and (held_out or n not in HELD_OUT)]
    elif spec == "categories":
        names = list(CATEGORIES)
    unknown = [s for s in names if s not in SETS]
    if unknown:
        raise SystemExit(f"unknown set(s) {unknown}; known: {', '.join(SETS)}")
    guarded = [s for s in names if s in HELD_OUT]
    if guarded and not held_out:
        raise SystemExit(
            f"{', '.join(guarded)}: held-out, refused without --held-out (tune on the tuning "
            "halves; look at a held-out half once, at the end)"
        )
    return names


# --- the pages of each set: the same as bench/vlm_boxes.py reads -----------------------

Page = tuple[str, str, dict[str, Any], Callable[[vb.Runner], Any]]  # kind, id, meta, read


def pages_of(name: str) -> Iterator[Page]:
    """(kind, id, meta, read) for each page of set ``name``; ``read(runner)`` runs the live
    pipeline on it; ``meta`` has ``truth`` (true line boxes) or ``path`` (single lines)."""
    kind, _, half = name.partition("-")
    if kind != "cat":
        half = "held_out" if half == "heldout" else half
        if half not in ("tuning", "held_out", "fresh", "third", "fifth"):
            half = ""
    if kind == "cat":
        rows = list(csv.DictReader((vb.CORPUS / "MANIFEST.tsv").open(), delimiter="\t"))
        for r in rows:
            if r["category"] != half:
                continue
            path = vb.CORPUS / r["file"]
            truth = (vb.CORPUS / r["truth"]).read_text(encoding="utf-8")
            lang = vb._lang(r["language"])
            if path.suffix != ".pdf":
                yield "cat", r["id"], {}, _reader(path, truth, lang)
                continue
            for i, part in enumerate(truth.split("\f")):
                yield "cat", f"{r['id']}#{i}", {}, _pdf_reader(path, i, part, lang)
    elif kind in ("corpus", "single"):
        rows = list(csv.DictReader((vb.CORPUS / "MANIFEST.tsv").open(), delimiter="\t"))
        alto = json.loads(vb.DATA.read_text(encoding="utf-8"))
        for r in rows:
            if r["category"] not in ("handwriting", "pdf"):
                continue
            path = vb.CORPUS / r["file"]
            truth = (vb.CORPUS / r["truth"]).read_text(encoding="utf-8")
            lang = vb._lang(r["language"])
            if kind == "single":
                if "_line_" in r["id"]:
                    yield "single", r["id"], {"path": str(path)}, _reader(path, truth, lang)
                continue
            parts = truth.split("\f") if path.suffix == ".pdf" else [truth]
            for i, part in enumerate(parts):
                key = f"{r['id']}#{i}" if len(parts) > 1 else r["id"]
                if key in alto and vb.real_page_half(key, list(alto)) == half:
                    pdf = path.suffix == ".pdf"
                    read = _pdf_reader(path, i, part, lang) if pdf else _reader(path, part, lang)
                    yield "corpus", key, {"truth": alto[key]}, read
    elif kind == "poilus":
        src = {"fresh": vb.FRESH, "third": vb.THIRD, "fifth": vb.FIFTH}.get(half, vb.POILUS)
        poilus = json.loads(src.read_text(encoding="utf-8"))
        for sid, d in poilus.items():
            if d["half"] == half:
                truth = "\n".join(t["text"] for t in d["lines"] if t["text"].strip())
                path = src.with_suffix("") / f"{sid}.jpg"
                yield "poilus", sid, {"truth": d}, _reader(path, truth, "fra")
    elif kind == "made":
        from bench import handpages

        seeds = handpages.tuning_seeds(8) if half == "tuning" else handpages.held_out_seeds(8)
        for seed in seeds:
            yield made_page(seed)


def made_page(seed: int) -> Page:
    """A made page of bench/handpages.py as the bench reads it."""
    from bench import handpages

    mp = handpages.make_page(seed)
    truth = {"lines": [{"text": t, "box": b} for t, b in zip(mp.lines, mp.boxes, strict=True)]}

    def read(run: vb.Runner) -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"made{seed}.png"
            mp.image.save(path)
            return run.read(path, "\n".join(mp.lines), "eng+fra")

    return "made", f"made{seed}-{mp.font}", {"truth": truth}, read


def _reader(path: Path, truth: str, lang: str) -> Callable[[vb.Runner], Any]:
    return lambda run: run.read(path, truth, lang)


def _pdf_reader(path: Path, i: int, truth: str, lang: str) -> Callable[[vb.Runner], Any]:
    return lambda run: vb._pdf_page(run, path, i, truth, lang)


# --- the detector's regions, cached ---------------------------------------------------


def _modules() -> tuple[Any, Any]:
    import ocrkit_plugins.engines.vlm.answer as answer
    import ocrkit_plugins.engines.vlm.detect as detect

    return answer, detect


class RegionCache:
    """``detect.detect_regions`` answered from a file while installed (the model's call is
    most of the placement's CPU time); keyed by the image's pixels, the model file and
    DET_MAX_SIDE."""

    def __init__(self, path: Path) -> None:
        _, self.detect = _modules()
        self.path = path
        self.data: dict[str, Any] = {}
        if path.is_file():
            with path.open("rb") as f:
                self.data = pickle.load(f)
        model = self.detect._det_model()
        self.salt = f"{model.name if model else 'profile'}:{self.detect.DET_MAX_SIDE}"
        self.orig = self.detect.detect_regions
        self.misses = 0

    def __enter__(self) -> RegionCache:
        def cached(image: Any) -> Any:
            key = hashlib.md5(image.tobytes()).hexdigest()
            key += f":{image.size}:{image.mode}:{self.salt}"
            if key not in self.data:
                self.misses += 1
                regions, how = self.orig(image)
                self.data[key] = ([(list(g.box), g.score) for g in regions], how)
            regions, how = self.data[key]
            return [self.detect.Region(list(b), s) for b, s in regions], how

        self.detect.detect_regions = cached
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detect.detect_regions = self.orig
        if self.misses:  # merged with what another process may have added meanwhile
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file():
                with self.path.open("rb") as f:
                    self.data = {**pickle.load(f), **self.data}
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                pickle.dump(self.data, f)
            tmp.replace(self.path)


# --- capture ----------------------------------------------------------------------------


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def capture(pages: list[Page], run: vb.Runner, cache: RegionCache) -> list[dict[str, Any]]:
    """Read ``pages`` live; one record per ``build_result`` call (its inputs), each with
    the live page's score under ``live``."""
    answer, _ = _modules()
    orig = answer.build_result
    records: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}

    def spy(*args: Any) -> Any:  # build_result(answer, comp, cpu_blocks, warnings, info, image)
        ans, comp, cpu_blocks, warnings, info = args[:5]
        image = args[5] if len(args) > 5 else None
        rec = dict(cur, answer=ans, comp=comp, cpu_blocks=copy.deepcopy(cpu_blocks))
        rec.update(warnings=list(warnings), info=copy.deepcopy(info))
        rec["image"] = _png(image) if image is not None else None
        records.append(rec)
        return orig(*args)

    answer.build_result = spy
    try:
        with cache:
            for kind, sid, meta, read in pages:
                cur = {"kind": kind, "id": sid, **meta}
                n = len(records)
                job = read(run)
                if kind == "cat" and len(records) == n:  # not sent (a blank page)
                    continue
                if len(records) == n and len(job.pages) == 1:
                    # a page with true lines the model was not asked about (found blank):
                    # kept, so that its lines count as missed, as in the bench
                    records.append(dict(cur, not_asked=list(job.pages[0].warnings)))
                if len(records) != n + 1 or len(job.pages) != 1:
                    raise RuntimeError(f"{sid}: {len(records) - n} placements, expected 1")
                records[-1]["live"] = score(records[-1], job.pages[0])
    finally:
        answer.build_result = orig
    return records


# --- run --------------------------------------------------------------------------------


def image_of(rec: dict[str, Any]) -> Any:
    from PIL import Image

    im = Image.open(io.BytesIO(rec["image"]))
    im.load()
    return im


def replay(rec: dict[str, Any]) -> Any:
    """The working tree's ``build_result`` on a captured record: the page."""
    answer, _ = _modules()
    if "not_asked" in rec:
        from ocrkit.hookspecs import PageResult

        empty = PageResult(warnings=list(rec["not_asked"]))
        truth = rec.get("truth", {})
        empty.width, empty.height = truth.get("width"), truth.get("height")  # type: ignore[attr-defined]
        return empty
    image = image_of(rec) if rec["image"] is not None else None
    page = answer.build_result(
        rec["answer"],
        rec["comp"],
        copy.deepcopy(rec["cpu_blocks"]),
        list(rec["warnings"]),
        copy.deepcopy(rec["info"]),
        image,
    )
    if image is not None:
        page.width, page.height = image.size
    return page


def score(rec: dict[str, Any], page: Any) -> dict[str, Any]:
    """bench/vlm_boxes.py's measure of one page: ``ok`` (lines at the bar), ``lines``,
    ``ious`` (one per true line, None when unboxed) and the rest of its fields."""
    if rec["kind"] == "cat":
        boxes = [b.bbox for b in page.blocks]
        ok = sum(b is not None for b in boxes)
        return {"ok": ok, "lines": len(boxes), "ious": boxes}
    if rec["kind"] == "single":
        from PIL import Image

        s = vb._single(rec["id"], Image.open(rec["path"]), page)
        return {**s, "lines": 1, "ok": int(s["iou_ink"] >= SINGLE_OK), "ious": [s["iou_ink"]]}
    res = vb._against(rec["id"], page, rec["truth"])
    return {**res, "ok": res["iou_ge_0.5"]}


def failures(rec: dict[str, Any], page: Any, res: dict[str, Any]) -> list[str]:
    """One line per true line under the bar: number, IoU, true box, got box, kind, text."""
    if rec["kind"] == "cat":
        return [
            f"   L{i:02d} unboxed | {b.text[:50]}" for i, b in enumerate(page.blocks) if not b.bbox
        ]
    if rec["kind"] == "single":
        return [] if res["ok"] else [f"   box {res['box']} iou_ink={res['iou_ink']}"]
    tl = [t for t in rec["truth"]["lines"] if t["text"].strip()]
    same = len(page.blocks) == len(tl)
    out = []
    for i, (t, v) in enumerate(zip(tl, res["ious"], strict=True)):
        if v is None or v < PAGE_OK:
            b = page.blocks[i] if same else None
            got = [round(q) for q in b.bbox] if b is not None and b.bbox else None
            how = (b.extra or {}).get("box", "") if b is not None else "count differs"
            true = [round(q) for q in t["box"]]
            out.append(f"   L{i:02d} iou={v} true={true} got={got} {how} | {t['text'][:50]}")
    return out


def overlay(rec: dict[str, Any], page: Any, out: Path) -> None:
    """Truth green (number left), got red (number right), the detector's pieces blue."""
    from PIL import ImageDraw

    _, detect = _modules()
    image = image_of(rec)
    im = image.convert("RGB")
    d = ImageDraw.Draw(im)
    plain, _, _ = detect.detect_line_sets(image)
    for ln in plain:
        for p in ln.parts:
            d.rectangle(p, outline=(0, 0, 255), width=2)
    for i, t in enumerate(x for x in rec.get("truth", {}).get("lines", []) if x["text"].strip()):
        d.rectangle(t["box"], outline=(0, 170, 0), width=3)
        d.text((t["box"][0] - 30, t["box"][1]), str(i), fill=(0, 150, 0))
    for i, b in enumerate(page.blocks):
        if b.bbox:
            d.rectangle(b.bbox, outline=(255, 0, 0), width=2)
            d.text((b.bbox[2] + 4, b.bbox[1]), str(i), fill=(255, 0, 0))
    out.mkdir(parents=True, exist_ok=True)
    im.save(out / f"{rec['id'].replace('#', '_')}.png")


def load(name: str) -> list[dict[str, Any]]:
    path = WORK / f"{name}.pkl"
    if not path.is_file():
        raise SystemExit(
            f"{path}: not captured; run `python -m bench.vlm_replay capture --set {name}`"
        )
    with path.open("rb") as f:
        records: list[dict[str, Any]] = pickle.load(f)
    return records


def run_sets(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    ids = set(args.ids.split(",")) if args.ids else None
    out: dict[str, Any] = {}
    with RegionCache(WORK / "regions.pkl") as cache:
        for name in names:
            pages: dict[str, Any] = {}
            cpu = 0.0
            for rec in load(name):
                if ids and rec["id"] not in ids:
                    continue
                t0 = time.thread_time()
                page = replay(rec)
                cpu += time.thread_time() - t0
                res = score(rec, page)
                pages[rec["id"]] = {"ok": res["ok"], "lines": res["lines"], "ious": res["ious"]}
                live = rec["live"]["ok"]
                was = "" if live == res["ok"] else f"  (at capture {live})"
                print(f"{name} {rec['id']}: {res['ok']}/{res['lines']}{was}")
                if args.failures:
                    print("\n".join(failures(rec, page, res)) or "   (none)")
                if args.overlay and rec.get("image") is not None:
                    overlay(rec, page, Path(args.overlay))
            ok = sum(p["ok"] for p in pages.values())
            lines = sum(p["lines"] for p in pages.values())
            share = f"{ok / lines:.4f}" if lines else "-"
            print(f"TOTAL {name}: {ok}/{lines} = {share}  (placement CPU {cpu:.1f} s)")
            out[name] = {"ok": ok, "lines": lines, "pages": pages}
        if cache.misses:
            print(f"({cache.misses} detector calls not in the cache, now added)")
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The pages whose count differs between two ``run --json`` results, and the totals."""
    out = []
    for name in [n for n in a if n in b]:
        for sid, pa in a[name]["pages"].items():
            pb = b[name]["pages"].get(sid)
            if pb is not None and pb["ok"] != pa["ok"]:
                out.append(f"{name} {sid}: {pa['ok']} -> {pb['ok']} / {pa['lines']}")
            elif pb is not None and name in CATEGORIES and pb["ious"] != pa["ious"]:
                moved = sum(x != y for x, y in zip(pa["ious"], pb["ious"], strict=False))
                out.append(f"{name} {sid}: {pa['ok']} boxed both, {moved} box(es) moved")
        was, now = a[name], b[name]
        out.append(f"TOTAL {name}: {was['ok']}/{was['lines']} -> {now['ok']}/{now['lines']}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.vlm_replay", description=__doc__.split("\n")[0]
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("capture", "run"):
        p = sub.add_parser(cmd)
        p.add_argument(
            "--set",
            help=f"comma-separated, all, or categories ({','.join(CATEGORIES)}; boxed share)"
            f" (default: {','.join(DEFAULT)})",
        )
        p.add_argument("--held-out", action="store_true", help="allow the held-out sets")
    sub.choices["run"].add_argument("--failures", action="store_true")
    sub.choices["run"].add_argument("--overlay", metavar="DIR")
    sub.choices["run"].add_argument("--ids", help="only these page ids (comma-separated)")
    sub.choices["run"].add_argument("--json", metavar="OUT", help="keep the result for compare")
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    args = ap.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    if args.cmd == "compare":
        a, b = (json.loads(Path(x).read_text(encoding="utf-8")) for x in (args.a, args.b))
        print("\n".join(compare(a, b)))
        return
    names = chosen_sets(args.set, args.held_out)
    if args.cmd == "capture":
        run = vb.Runner()
        try:
            cache = RegionCache(WORK / "regions.pkl")
            for name in names:
                records = capture(list(pages_of(name)), run, cache)
                WORK.mkdir(parents=True, exist_ok=True)
                with (WORK / f"{name}.pkl").open("wb") as f:
                    pickle.dump(records, f)
                ok = sum(r["live"]["ok"] for r in records)
                lines = sum(r["live"]["lines"] for r in records)
                print(f"captured {name}: {len(records)} pages, live {ok}/{lines}", flush=True)
        finally:
            run.close()
        return
    result = run_sets(names, args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
