"""Turn a bench result (the JSON of :mod:`bench.run`) into a Markdown table and a PNG chart.

python -m bench.report bench/results/latest.json   # re-render md + png
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

NORMALISATION = (
    "CER and WER after NFKC, quotes and dashes folded to ASCII, '¬' to '-', '^' removed "
    "and whitespace (line and page breaks too) collapsed to one space (`bench/metrics.py`). "
    "WER means little for Chinese and Japanese (no spaces). Born-digital PDF samples are "
    "read from their text layer by ocrkit (any engine), and rendered at 300 dpi for the "
    "raw baselines."
)
SYSTEM_ORDER = ("ocrkit-tesseract", "ocrkit-auto", "ocrkit-rapidocr", "tesseract", "rapidocr")


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _cpu_rate(run: dict[str, Any], pages: int) -> str:
    cpu = run.get("cpu_seconds")
    return f"{pages / cpu:.1f}" if cpu else "–"


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, goal, measured, met?) for the issue's targets that this run measured."""
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, goal: str, value: float | None, ok: bool | None, fmt: str) -> None:
        if value is None:
            return
        rows.append((name, goal, fmt.format(value), "yes" if ok else "no"))

    tp = r.get("throughput", {}).get("ratios", {})
    runs = r.get("throughput", {}).get("runs", {})

    def cpu(name: str) -> float | None:
        v = runs.get(name, {}).get("cpu_seconds_per_page")
        return float(v) if v else None

    a, b = cpu("ocrkit_j1_txt"), cpu("tesseract_1proc")
    v = a / b if a and b else None
    add(
        "CPU s per scanned page, ocrkit_j1_txt / tesseract_1proc",
        "≤ 0.6×",
        v,
        v is not None and v <= 0.6,
        "{:.2f}×",
    )
    v = tp.get("ocrkit_j2 / tesseract_1proc")
    p1 = runs.get("tesseract_1proc", {}).get("pages_per_s")
    p2 = runs.get("tesseract_2proc", {}).get("pages_per_s")
    cores = p2 / p1 if p1 and p2 else None
    if v is not None and cores is not None and cores < 1.7:
        rows.append(
            (
                "ocrkit 2 workers / raw tesseract (1 process), pages/s",
                "≥ 1.8×",
                f"{v:.2f}× (void: tesseract_2proc / 1proc = {cores:.2f}, under 1.7: the "
                "second core was busy)",
                "void",
            )
        )
    else:
        add(
            "ocrkit 2 workers / raw tesseract (1 process), pages/s",
            "≥ 1.8×",
            v,
            v is not None and v >= 1.8,
            "{:.2f}×",
        )
    a, b = cpu("ocrkit_j2_txt_auto"), cpu("ocrkit_j2_txt")
    v = a / b if a and b else None
    add(
        "`auto` / fixed `eng`, CPU s per page (throughput set)",
        "≤ 1.05×",
        v,
        v is not None and v <= 1.05,
        "{:.2f}×",
    )
    v = tp.get("ocrkit_j2_pdf / ocrmypdf_j2")
    add(
        "ocrkit / OCRmyPDF, --jobs 2, searchable PDF",
        "≥ 2×",
        v,
        v is not None and v >= 2,
        "{:.2f}×",
    )
    tl = r.get("textlayer", {}).get("cli", {}).get("pages_per_s")
    add(
        "born-digital pages (CLI, text layer kept)",
        "≥ 100 pages/s",
        tl,
        tl is not None and tl >= 100,
        "{:.0f} pages/s",
    )
    mem = r.get("memory", {})
    for k, cli in mem.items():
        if not (k.startswith("cli_") and isinstance(cli, dict)):
            continue
        lang = f" `-l {cli['language']}`" if cli.get("language") else ""
        add(
            f"peak RSS, `ocrkit ocr -j 2 -f pdf`{lang} {mem['pages']}-page PDF",
            "≤ 400 MB",
            cli["peak_rss_mb"],
            cli["peak_rss_mb"] <= 400,
            "{:.0f} MB",
        )
    for label in ("ocrkit --help", "ocrkit ocr --help"):
        st = r.get("startup", {}).get(label, {}).get("median_ms")
        add(f"`{label}`", "≤ 150 ms", st, st is not None and st <= 150, "{:.0f} ms")
    ov = r.get("api", {}).get("overhead_ms_per_request")
    add("API overhead per 1-page request", "≤ 30 ms", ov, ov is not None and ov <= 30, "{:.0f} ms")
    v = r.get("api", {}).get("api8_jobs_per_s / cli_j2_pages_per_s")
    add(
        "API jobs/s at 8 clients / CLI `-j 2` pages/s, same page",
        "≥ 0.9×",
        v,
        v is not None and v >= 0.9,
        "{:.2f}×",
    )
    errs = sum(lv["errors"] for lv in r.get("api", {}).get("levels", {}).values())
    if "api" in r:
        rows.append(("API errors", "0", str(errs), "yes" if errs == 0 else "no"))
    same = r.get("accuracy", {}).get("same_samples_cer", {})
    for cat, d in sorted(same.items()):
        ours = [d[s] for s in ("ocrkit-tesseract", "ocrkit-rapidocr") if s in d]
        base = [d[s] for s in ("tesseract", "rapidocr") if s in d]
        if ours and base:
            rows.append(
                (
                    f"CER {cat} (best ocrkit engine vs best raw, n={d['n']})",
                    "≤ best raw",
                    f"{min(ours):.3f} vs {min(base):.3f}",
                    "yes" if min(ours) <= min(base) + 1e-9 else "no",
                )
            )
    return rows


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        f"# ocrkit benchmark, {r['started_utc']} ({r['mode']} run)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; {m['os']}; "
        f"Python {m['python']}; {m['tesseract']}; OCRmyPDF {m['ocrmypdf']}; "
        f"RapidOCR {m['packages'].get('rapidocr')}; ocrkit {m['git_commit']}. "
        f"Load average {m['load_average_start']} at start, "
        f"{m.get('load_average_end')} at the end.",
        "",
        "The machine was shared with other work while this ran, so absolute times are noisy; "
        "the ratios between tools measured in the same run are what counts. "
        f"Total run time {r.get('total_seconds')} s.",
        "",
    ]
    rows = targets(r)
    if rows:
        out += ["## Targets", "", "| target | goal | measured | met |", "|---|---|---|---|"]
        out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
        out.append("")
    tp = r.get("throughput")
    if tp:
        out += [
            f"## Throughput: {tp['pages']}-page scanned PDF, language `{tp['language']}`",
            "",
            tp["note"] + ".",
            "",
            "| run | pages | wall s | pages/s | CPU s/page (whole process tree) |",
            "|---|---|---|---|---|",
        ]
        for k, v in tp["runs"].items():
            note = f" ({v['note']})" if "note" in v else ""
            out.append(
                f"| {k}{note} | {v.get('pages', tp['pages'])} | {_f(v['seconds'], 1)} | "
                f"{_f(v['pages_per_s'])} | {_f(v.get('cpu_seconds_per_page'), 2)} |"
            )
        cpu = tp.get("cpu_ratios", {})
        out += ["", "| ratio, a / b | pages/s (wall) | pages per CPU-second |", "|---|---|---|"]
        out += [f"| {k} | {_f(v, 2)} | {_f(cpu.get(k), 2)} |" for k, v in tp["ratios"].items()]
        out.append("")
    tl = r.get("textlayer")
    if tl:
        out += [
            "## Born-digital PDF (text layer kept)",
            "",
            f"{tl['pages']} pages ({tl['made_of']}); {tl['pages_text_layer_kept']} kept their "
            f"text layer. `ocrkit ocr -f txt` (process start included): "
            f"{_f(tl['cli']['pages_per_s'], 1)} pages/s; in-process `api.ocr(jobs=1)`: "
            f"{_f(tl['in_process_jobs1']['pages_per_s'], 1)} pages/s. CPU cost: "
            f"{_cpu_rate(tl['cli'], tl['pages'])} pages per CPU-second (CLI, all processes; "
            "on an idle machine wall pages/s approach this times the cores in use).",
            "",
        ]
    mem = r.get("memory")
    if mem:
        out += [
            f"## Memory: {mem['pages']}-page scanned PDF",
            "",
            mem["input"] + ".",
            mem["sampling"] + ".",
            "",
        ]
        if "taken_from" in mem:
            t = mem["taken_from"]
            out += [
                f"Measured in a separate run ({t['file']}, started {t['started_utc']}, "
                f"commit {t['git_commit']}, load average {t['load_average_start']}).",
                "",
            ]
        if "before_fix" in mem:
            out += [mem["before_fix"], ""]
        out += [
            "| run | peak RSS sum (MB) | peak PSS sum (MB) | wall s | pages/s |",
            "|---|---|---|---|---|",
        ]
        for k, v in mem.items():
            if isinstance(v, dict) and "peak_rss_mb" in v:
                idle = f" (idle {v['idle_rss_mb']} MB)" if "idle_rss_mb" in v else ""
                out.append(
                    f"| {k}{idle} | {v['peak_rss_mb']} | {v.get('peak_pss_mb', '–')} | "
                    f"{_f(v['seconds'], 1)} | {_f(v['pages_per_s'])} |"
                )
        out.append("")
    st = r.get("startup")
    if st:
        out += [
            "## Start-up",
            "",
            "| command | median wall ms | min wall ms | median CPU ms |",
            "|---|---|---|---|",
        ]
        out += [
            f"| `{k}` | {v['median_ms']} | {v['min_ms']} | {v.get('cpu_median_ms', '–')} |"
            for k, v in st.items()
            if isinstance(v, dict)
        ]
        out.append("")
    a = r.get("api")
    if a:
        out += [
            f"## API: 1-page jobs ({a['page']}), {a['server']}",
            "",
            "| clients | jobs | errors | p50 ms | p95 ms | jobs/s |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {v['clients']} | {v['jobs']} | {v['errors']} | {v['p50_ms']} | {v['p95_ms']} | "
            f"{_f(v['jobs_per_s'], 2)} |"
            for v in a["levels"].values()
        ]
        out += [
            "",
            f"Overhead per request: {a['overhead_ms_per_request']} ms "
            f"({a['overhead_definition']}; in-process {a['in_process_ms']} ms).",
            "",
        ]
        if a.get("overhead_cpu_ms_per_request") is not None:
            out += [
                f"In CPU (load-independent): the server's process tree spent "
                f"{a['levels']['1']['server_cpu_ms_per_job']} ms per 1-client job, "
                f"in-process `api.ocr()` {a['in_process_cpu_ms']} ms: "
                f"{a['overhead_cpu_ms_per_request']} ms overhead.",
                "",
            ]
        cli = a.get("cli_j2")
        if cli:
            out += [
                f"The CLI on the same page ({cli['pages']} copies in one TIFF, `ocrkit ocr "
                f"-j 2`): {_f(cli['pages_per_s'], 2)} pages/s; API jobs/s at 8 clients / "
                f"that: {_f(a['api8_jobs_per_s / cli_j2_pages_per_s'], 2)}×.",
                "",
            ]
    acc = r.get("accuracy")
    if acc:
        systems = [s for s in SYSTEM_ORDER if any(s in d for d in acc["summary"].values())]
        out += [
            "## Accuracy: mean CER / WER per category (n samples)",
            "",
            "| category | " + " | ".join(systems) + " |",
            "|---|" + "---|" * len(systems),
        ]
        for cat, d in sorted(acc["summary"].items()):
            cells = [
                f"{d[s]['cer']:.3f} / {d[s]['wer']:.3f} (n={d[s]['n']})" if s in d else "–"
                for s in systems
            ]
            out.append(f"| {cat} | " + " | ".join(cells) + " |")
        out += [
            "",
            "Mean CER on the samples every system read (RapidOCR ran on a spread "
            "subset of each category):",
            "",
            "| category | n | " + " | ".join(systems) + " |",
            "|---|---|" + "---|" * len(systems),
        ]
        for cat, d in sorted(acc["same_samples_cer"].items()):
            out.append(f"| {cat} | {d['n']} | " + " | ".join(_f(d.get(s)) for s in systems) + " |")
        if acc["rotated_vs_upright"]:
            out += [
                "",
                "Rotated vs upright (same truth):",
                "",
                "| system | rotated | CER rotated | CER upright |",
                "|---|---|---|---|",
            ]
            out += [
                f"| {x['system']} | {x['rotated']} | {x['cer_rotated']:.3f} | "
                f"{x['cer_upright']:.3f} |"
                for x in acc["rotated_vs_upright"]
            ]
        t = acc["tables"]
        out += [
            "",
            "Tables (`extract-tables`, cell accuracy vs the corpus grids): "
            + (
                f"{_f(t.get('mean_cell_accuracy'))} mean over {t['n']} tables "
                f"({t['errors']} errors)"
                if t.get("n")
                else t.get("note", "not run")
            )
            + ".",
            "",
            NORMALISATION,
            "",
        ]
        errs = [s for s in acc["samples"] if "error" in s]
        if errs:
            out += ["Samples a system could not read (not in the means):", ""]
            out += [f"- {s['system']} {s['id']}: {s['error']}" for s in errs]
            out.append("")
    out += languages_markdown(r.get("languages"))
    tb = r.get("tables")
    if tb:
        out += [
            "## Tables: cell-text F1 / cell accuracy (mean per table)",
            "",
            "`extract-tables` with default options vs img2table (TesseractOCR, "
            "borderless_tables=True); corpus ruled = ICDAR 2013, unruled = PubTabNet; "
            "made tables in a tuning and a held-out half.",
            "",
            "| group | tables | ocrkit | img2table |",
            "|---|---|---|---|",
        ]
        for g, d in tb["summary"].items():
            cells = [
                f"{_f(d[s]['f1'])} / {_f(d[s]['cell_accuracy'])}" if s in d else "–"
                for s in ("ocrkit", "img2table")
            ]
            out.append(f"| {g} | {d['tables']} | " + " | ".join(cells) + " |")
        out.append("")
    ch = r.get("chat")
    if ch:
        out += [
            "## Chat recall (extractive, no model)",
            "",
            "| half:kind | questions | right | rate |",
            "|---|---|---|---|",
        ]
        for k, d in ch["summary"].items():
            out.append(f"| {k} | {d['n']} | {d['right']} | {d['rate']:.3f} |")
        out.append("")
    if r.get("vlm_boxes"):
        from bench.vlm_boxes import markdown as vlm_boxes_markdown

        out += vlm_boxes_markdown(r["vlm_boxes"])
    if r.get("reading_order"):
        from bench.reading_order import markdown as reading_order_markdown

        out += reading_order_markdown(r["reading_order"])
    return "\n".join(out)


def languages_markdown(lang: dict[str, Any] | None) -> list[str]:
    """The languages section: auto vs the right language, per set, category and half."""
    if not lang:
        return []
    out = [
        "## Languages: `auto` vs the right language (mean CER)",
        "",
        f"Target: {lang['target']}. Halves: {lang['halves']}.",
        "",
        "| set | category | half | n | right | auto | auto - right | CPU auto/right |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, cats in lang["summary"].items():
        for cat, halves in sorted(cats.items()):
            for half, d in halves.items():
                out.append(
                    f"| {s} | {cat} | {half} | {d['n']} | {d['cer_right']:.4f} | "
                    f"{d['cer_auto']:.4f} | {d['auto_minus_right']:+.4f} | "
                    f"{_f(d['cpu_auto_over_right'], 2)} |"
                )
    return [*out, ""]


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    ax = axes[0][0]
    tp = r.get("throughput")
    if tp:
        names = list(tp["runs"])
        vals = [tp["runs"][k]["pages_per_s"] for k in names]
        colors = ["tab:blue" if tp["runs"][k]["tool"] == "ocrkit" else "tab:gray" for k in names]
        ax.barh(names, vals, color=colors)
        ax.invert_yaxis()
        ax.set_xlabel("pages/s (higher is better)")
        ax.set_title(f"Throughput, {tp['pages']}-page scanned PDF")
    ax = axes[0][1]
    acc = r.get("accuracy")
    if acc:
        cats = sorted(acc["summary"])
        systems = [s for s in SYSTEM_ORDER if any(s in acc["summary"][c] for c in cats)]
        w = 0.8 / max(len(systems), 1)
        for i, s in enumerate(systems):
            vals = [acc["summary"][c].get(s, {}).get("cer", 0) for c in cats]
            ax.bar([j + i * w for j in range(len(cats))], vals, w, label=s)
        ax.set_xticks([j + 0.4 - w / 2 for j in range(len(cats))], cats)
        ax.set_ylabel("mean CER (lower is better)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        ax.set_title("Accuracy per category")
    ax = axes[1][0]
    a = r.get("api")
    if a:
        lv = list(a["levels"].values())
        xs = [str(v["clients"]) for v in lv]
        ax.plot(xs, [v["p50_ms"] for v in lv], "o-", label="p50 ms")
        ax.plot(xs, [v["p95_ms"] for v in lv], "s-", label="p95 ms")
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("latency ms")
        ax.legend()
        ax.set_title(f"API, 1-page jobs (overhead {a['overhead_ms_per_request']} ms/request)")
    ax = axes[1][1]
    mem = r.get("memory")
    if mem:
        keys = [k for k, v in mem.items() if isinstance(v, dict) and "peak_rss_mb" in v]
        ax.bar(keys, [mem[k]["peak_rss_mb"] for k in keys], color="tab:green")
        ax.axhline(400, color="red", linestyle="--", label="target 400 MB")
        ax.set_ylabel("peak RSS MB, process tree")
        ax.legend()
        ax.set_title(f"Memory, {mem['pages']}-page scanned PDF")
    m = r["machine"]
    fig.suptitle(
        f"ocrkit bench {r['started_utc']} — {m['cpu']}, {m['cores']} cores "
        f"(shared machine: compare ratios)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write(r: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md, png = (out_dir / f"{stamp}.{ext}" for ext in ("json", "md", "png"))
    js.write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown(r), encoding="utf-8")
    chart(r, png)
    for p in (js, md, png):
        shutil.copyfile(p, out_dir / f"latest{p.suffix}")
    return [js, md, png]


def main(argv: list[str]) -> None:
    """``python -m bench.report RESULT.json [--take SECTION FROM.json ...]``: re-render
    RESULT's md and png; ``--take`` first copies SECTION from another run into RESULT
    (noted in the section as ``taken_from``), e.g. after re-measuring one section."""
    src = Path(argv[0])
    data = json.loads(src.read_text(encoding="utf-8"))
    rest = argv[1:]
    while rest:
        if rest[0] != "--take" or len(rest) < 3:
            raise SystemExit("usage: python -m bench.report RESULT.json [--take SECTION FROM.json]")
        section, other = rest[1], json.loads(Path(rest[2]).read_text(encoding="utf-8"))
        data[section] = {
            **other[section],
            "taken_from": {
                "file": Path(rest[2]).name,
                "started_utc": other["started_utc"],
                "git_commit": other["machine"]["git_commit"],
                "load_average_start": other["machine"]["load_average_start"],
            },
        }
        rest = rest[3:]
    src.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    src.with_suffix(".md").write_text(markdown(data), encoding="utf-8")
    chart(data, src.with_suffix(".png"))
    print(src.with_suffix(".md"))


if __name__ == "__main__":
    main(sys.argv[1:])
