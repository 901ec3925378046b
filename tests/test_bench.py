"""`make bench`'s scripts: a tiny real run (start-up, text-layer PDF, accuracy on the
printed word image) and the shape and consistency of what it writes. Speed targets are
NOT checked here: they are the benchmark's job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from conftest import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import metrics  # noqa: E402


def test_bench_normalisation_is_the_test_suites_plus_corpus_folds() -> None:
    for text in ("“Quote’s” — a\n\tb  c", "ﬁne – x", "plain"):
        assert metrics.normalise(text) == conftest.normalise(text)
    assert metrics.normalise("n^o 3 wor¬\nding") == "no 3 wor- ding"


def test_one_metric_for_tests_and_bench_agrees_with_jiwer() -> None:
    import random

    import jiwer

    from ocrkit.eval import textmetrics

    assert conftest.cer is textmetrics.cer and conftest.normalise is textmetrics.normalise
    assert conftest.normalise("n^o wor¬ding") == "n^o wor¬ding"  # folds only when asked
    rng = random.Random(7)
    alphabet = "ab cd’—é\n"
    for _ in range(300):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        h = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        nt, nh = textmetrics.normalise(t), textmetrics.normalise(h)
        if nt:
            assert textmetrics.cer(t, h) == pytest.approx(jiwer.cer(nt, nh))
        if nt and nh:
            assert textmetrics.wer(t, h) == pytest.approx(jiwer.wer(nt, nh))


def test_metrics_cer_wer_and_cells() -> None:
    assert metrics.cer("abcd", "abcd") == 0.0
    assert metrics.cer("abcd", "abxd") == pytest.approx(0.25)
    assert metrics.wer("one two three four", "one two tree four") == pytest.approx(0.25)
    assert metrics.wer("one", "") == 1.0
    truth = [["a", "b"], ["c", ""]]
    assert metrics.cell_accuracy(truth, [["a", "b"], ["c", ""]]) == 1.0
    assert metrics.cell_accuracy(truth, [["a", "x"], ["c", "y"]]) == 0.5
    assert metrics.cell_accuracy(truth, [["a"]]) == 0.25


@pytest.mark.slow
def test_quick_bench_run_writes_consistent_results(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--sections",
            "startup,textlayer,accuracy",
            "--categories",
            "printed",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert data["schema"] == 1 and data["mode"] == "quick"
    m = data["machine"]
    assert m["cores"] >= 1 and m["ram_gb"] > 0 and m["cpu"] and "tesseract" in m["tesseract"]

    for label in ("ocrkit --help", "ocrkit ocr --help"):
        st = data["startup"][label]
        assert 0 < st["min_ms"] <= st["median_ms"] < 30_000

    tl = data["textlayer"]
    assert tl["pages"] >= 20 and tl["pages_text_layer_kept"] == tl["pages"]
    for run in (tl["cli"], tl["in_process_jobs1"]):
        assert run["seconds"] > 0
        assert run["pages_per_s"] == pytest.approx(tl["pages"] / run["seconds"], rel=1e-3)

    acc = data["accuracy"]
    printed = acc["summary"]["printed"]
    assert {"ocrkit-tesseract", "tesseract"} <= set(printed)
    for d in printed.values():
        assert d["n"] >= 1 and 0 <= d["cer"] <= 1.5 and 0 <= d["wer"] <= 1.5
        assert d["seconds_per_page"] > 0
    # The per-sample rows are what the summary averages.
    rows = [s for s in acc["samples"] if s["system"] == "tesseract" and "cer" in s]
    assert printed["tesseract"]["cer"] == pytest.approx(
        sum(r["cer"] for r in rows) / len(rows), abs=1e-3
    )
    md = (out / "latest.md").read_text(encoding="utf-8")
    assert "## Accuracy" in md and "## Start-up" in md and m["cpu"] in md

    from PIL import Image

    with Image.open(out / "latest.png") as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 300


@pytest.mark.slow
def test_quick_tables_and_chat_sections(tmp_path: Path, corpus: Path) -> None:
    """bench.run's `tables` (extract-tables vs img2table) and `chat` (extractive recall)
    sections in quick mode: per-table rows, summaries that are their means, the report."""
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--sections", "tables,chat"]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    tb = data["tables"]
    rows = tb["tables"]
    # quick: one page of each source (two corpus sources, three made kinds)
    assert {r["source"] for r in rows} == {
        "icdar2013",
        "pubtabnet",
        "made-scan",
        "made-pdf",
        "made-crop",
    }
    for r in rows:
        assert 0 <= r["ocrkit"]["f1"] <= 1 and 0 <= r["ocrkit"]["cell_accuracy"] <= 1
        assert "img2table" in r  # a score, or the error saying why it could not run
    for group, d in tb["summary"].items():
        kind, _, value = group.partition(":")
        if kind == "source":
            mine = [r["ocrkit"]["f1"] for r in rows if r["source"] == value]
            assert d["tables"] == len(mine)
            assert d["ocrkit"]["f1"] == pytest.approx(sum(mine) / len(mine), abs=1e-4)
    icdar = next(r for r in rows if r["source"] == "icdar2013")
    assert icdar["ocrkit"]["f1"] >= 0.9 and icdar["ocrkit"]["readers"] == ["text-layer"]
    ch = data["chat"]
    assert {d["id"] for d in ch["documents"]} == {"en-word", "de-ehri"}
    assert ch["summary"] and all(0 <= v["rate"] <= 1 for v in ch["summary"].values())
    md = (out / "latest.md").read_text(encoding="utf-8")
    assert "## Tables: cell-text F1" in md and "## Chat recall" in md


@pytest.mark.slow
def test_quick_languages_section(tmp_path: Path, corpus: Path) -> None:
    """`make bench`'s languages section: auto vs the right language per category, on
    the corpus and on the made scan-like pages, in tune and test halves."""
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--sections",
            "languages",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lang = json.loads((out / "latest.json").read_text(encoding="utf-8"))["languages"]
    assert set(lang["summary"]) == {"corpus", "langpages"}
    rows = lang["samples"]
    assert {r["set"] for r in rows} == {"corpus", "langpages"}
    for r in rows:
        for k in ("right", "auto"):
            assert 0 <= r[k]["cer"] <= 1.5 and r[k]["cpu"] > 0, r
        assert len(r["auto"]["models"]) >= 1
    zh = lang["summary"]["langpages"]["zh"]["test"]
    mine = [r for r in rows if r["set"] == "langpages" and r["category"] == "zh"]
    assert zh["cer_auto"] == pytest.approx(
        sum(r["auto"]["cer"] for r in mine) / len(mine), abs=1e-3
    )
    assert zh["auto_minus_right"] == pytest.approx(zh["cer_auto"] - zh["cer_right"], abs=1e-3)
    md = (out / "latest.md").read_text(encoding="utf-8")
    assert "## Languages" in md and "| langpages | zh | test |" in md
