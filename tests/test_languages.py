"""Language codes: every accepted spelling maps to one Tesseract name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ocrkit import lang
from ocrkit.errors import BadOption, EngineUnavailable
from ocrkit.lang import codes as languages


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("en", ["eng"]),
        ("ch", ["chi_sim"]),  # the seed's (PaddleOCR's) Chinese, not Chamorro
        ("zh", ["chi_sim"]),
        ("cht", ["chi_tra"]),
        ("chinese_cht", ["chi_tra"]),
        ("zh-TW", ["chi_tra"]),
        ("japan", ["jpn"]),
        ("ja", ["jpn"]),
        ("korean", ["kor"]),
        ("ar", ["ara"]),
        ("deu", ["deu"]),  # ISO 639-3 / 639-2/T
        ("ger", ["deu"]),  # ISO 639-2/B
        ("fre", ["fra"]),
        ("gre", ["ell"]),
        ("chi_sim", ["chi_sim"]),
        ("srp_latn", ["srp_latn"]),
        ("rs_latin", ["srp_latn"]),
        ("EN", ["eng"]),
        (" De ", ["deu"]),
        ("Chi_Sim", ["chi_sim"]),
        ("en+de", ["eng", "deu"]),
        ("en+de+fr+it+es+pt", ["eng", "deu", "fra", "ita", "spa", "por"]),
        ("en+eng+english", ["eng"]),  # duplicates dropped, order kept
        ("hi+ru+he+th+ko", ["hin", "rus", "heb", "tha", "kor"]),
    ],
)
def test_resolve(spec: str, expected: list[str]) -> None:
    assert languages.resolve(spec) == expected


@pytest.mark.parametrize("spec", ["xx", "en+klingon", "", "+", "auto"])
def test_unknown_is_bad_option_naming_it(spec: str) -> None:
    with pytest.raises(BadOption) as err:
        languages.resolve(spec)
    if spec.strip("+"):
        assert spec.split("+")[-1] in err.value.message


# The traineddata names of Debian's tesseract-ocr-* packages (bookworm).
DEBIAN_TRAINEDDATA = (
    "afr amh ara asm aze aze_cyrl bel ben bod bos bre bul cat ceb ces chi_sim chi_tra chr "
    "cos cym dan deu div dzo ell eng enm epo est eus fao fas fil fin fra frk frm fry gla "
    "gle glg grc guj hat heb hin hrv hun hye iku ind isl ita ita_old jav jpn kan kat "
    "kat_old kaz khm kir kmr kor lao lat lav lit ltz mal mar mkd mlt mon mri msa mya nep "
    "nld nor oci ori pan pol por pus que ron rus san sin slk slv snd spa spa_old sqi srp "
    "srp_latn sun swa swe syr tam tat tel tgk tha tir ton tur uig ukr urd uzb uzb_cyrl "
    "vie yid yor"
)


def test_every_debian_traineddata_name_resolves_to_itself() -> None:
    for name in DEBIAN_TRAINEDDATA.split():
        assert languages.resolve(name) == [name]


@pytest.mark.parametrize(
    ("code", "iso"),
    [
        ("chi_sim", "zh"),
        ("chi_tra", "zh"),
        ("eng", "en"),
        ("deu", "de"),
        ("ger", "de"),
        ("jpn", "ja"),
        ("ara", "ar"),
        ("ceb", "ceb"),  # no ISO 639-1: 639-3
        ("frk", "de"),
        ("CH", "zh"),
    ],
)
def test_to_iso(code: str, iso: str) -> None:
    assert languages.to_iso(code) == iso


def test_default_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCRKIT_DEFAULT_LANGUAGE", raising=False)
    assert lang.default_languages() == ["eng"]
    monkeypatch.setenv("OCRKIT_DEFAULT_LANGUAGE", "de+en")
    assert lang.default_languages() == ["deu", "eng"]
    monkeypatch.setenv("OCRKIT_DEFAULT_LANGUAGE", "nope")
    with pytest.raises(BadOption):
        lang.default_languages()


def test_tesseract_languages_lists_installed_data() -> None:
    installed = languages.tesseract_languages()
    assert "eng" in installed
    assert installed == sorted(installed)
    languages.require_tesseract(["eng"])  # no error


def test_uninstalled_language_names_the_installed_ones(
    reduced_tessdata: Callable[..., Path],
) -> None:
    reduced_tessdata("eng", "osd", "deu")
    assert languages.tesseract_languages() == ["deu", "eng", "osd"]
    with pytest.raises(EngineUnavailable) as err:
        languages.require_tesseract(["eng", "yor"])
    assert "yor" in err.value.message
    assert "eng" in err.value.message.split("(installed:")[1]
    assert "tesseract-ocr-yor" in err.value.message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("zh-Hant", ["chi_tra"]),
        ("zh-Hans", ["chi_sim"]),
        ("zh-Hant-TW", ["chi_tra"]),
        ("zh-CN", ["chi_sim"]),
        ("zh-HK", ["chi_tra"]),
        ("sr-Latn", ["srp_latn"]),
        ("sr-Cyrl-RS", ["srp"]),
        ("uz-Cyrl", ["uzb_cyrl"]),
        ("az-Latn", ["aze"]),
        ("pt-BR", ["por"]),
        ("en-GB", ["eng"]),
        ("de-CH-1996", ["deu"]),
        ("fa-IR", ["fas"]),
        ("cmn", ["chi_sim"]),  # ISO 639-3 individual language of a macrolanguage
        ("pes", ["fas"]),
        ("arb", ["ara"]),
        ("nb", ["nor"]),
        ("vi+ko", ["vie", "kor"]),
        ("Latin", ["Latin"]),  # Tesseract's script model (names are case-sensitive)
        ("script/Cyrillic", ["Cyrillic"]),
        ("latin", ["lat"]),  # the language
        ("ja-vert", ["jpn"]),  # unknown subtags after a language are ignored
        ("jpn_vert", ["jpn_vert"]),
    ],
)
def test_resolve_bcp47_and_iso639_3(spec: str, expected: list[str]) -> None:
    assert languages.resolve(spec) == expected


@pytest.mark.parametrize(
    ("spec", "near"),
    [("englsh", "english (eng)"), ("kore", "kor"), ("chi_smp", "chi_sim"), ("frnch", "french")],
)
def test_unknown_code_names_the_nearest(spec: str, near: str) -> None:
    with pytest.raises(BadOption) as err:
        languages.resolve(f"en+{spec}")
    assert "nearest:" in err.value.message and near in err.value.message, err.value.message


def test_every_installed_model_is_listed_with_iso_and_script() -> None:
    rows = languages.catalogue()
    assert len([r for r in rows if r["iso"]]) >= 100
    by = {r["tesseract"]: r for r in rows}
    assert by["vie"]["iso"] == "vi" and by["fas"]["script"] == "Arabic"
    assert by["chi_tra_vert"]["installed"] and by["Latin"]["package"] == (
        "tesseract-ocr-script-latn"
    )


def test_one_script_table() -> None:
    """orient's OSD script -> model choice reads languages.py's table."""
    from ocrkit.page import orient

    installed = languages.tesseract_languages()
    assert orient.script_languages("Arabic", installed) == ["ara"]
    assert orient.script_languages("Han", installed) == ["chi_sim"]
    assert orient.script_languages("Korean", installed) == ["kor"]
    assert orient.script_languages("Latin", installed) == []
    assert languages.script_languages("Arabic", ["fas", "urd"], n=3) == ["fas", "urd"]
    assert languages.script_of("fas") == "Arabic" and languages.script_of("vie") == "Latin"


def test_auto_tries_at_most_three_model_sets() -> None:
    from ocrkit.page import autolang

    budget = autolang.Budget()
    for models in (["eng"], ["Latin"], ["vie"], ["fra"]):
        if budget.fresh(models):
            budget.add(models)
    assert budget.tried == [("eng",), ("Latin",), ("vie",)]
    assert not budget.fresh(["fra"]) and budget.allows(["eng"])


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("利用者は本を二週間借りることができます。", "Japanese"),
        ("读者可以把书借回家两个星期。", "HanS"),
        ("독자들은 책을 이 주일 동안 빌릴 수 있다.", "Hangul"),
        ("Город расположен на реке", "Cyrillic"),
        ("القاهرة هي عاصمة", "Arabic"),
        ("पुस्तकालय हर दिन", "Devanagari"),
        ("Ji stitategnr Cefn a me", None),  # Latin: the probe names no script
        ("", None),
    ],
)
def test_probe_names_the_script_by_its_characters(text: str, script: str | None) -> None:
    from ocrkit.page import autolang

    assert autolang.text_script(text) == script
