"""Language codes: every accepted spelling maps to one Tesseract name."""

from __future__ import annotations

import pytest

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
    assert languages.default_languages() == ["eng"]
    monkeypatch.setenv("OCRKIT_DEFAULT_LANGUAGE", "de+en")
    assert languages.default_languages() == ["deu", "eng"]
    monkeypatch.setenv("OCRKIT_DEFAULT_LANGUAGE", "nope")
    with pytest.raises(BadOption):
        languages.default_languages()


def test_tesseract_languages_lists_installed_data() -> None:
    installed = languages.tesseract_languages()
    assert "eng" in installed
    assert installed == sorted(installed)
    languages.require_tesseract(["eng"])  # no error


def test_uninstalled_language_names_the_installed_ones() -> None:
    absent = next(
        c for c in ("yor", "tir", "chr", "dzo") if c not in languages.tesseract_languages()
    )
    with pytest.raises(EngineUnavailable) as err:
        languages.require_tesseract(["eng", absent])
    assert absent in err.value.message
    assert "eng" in err.value.message.split("(installed:")[1]
    assert f"tesseract-ocr-{absent}" in err.value.message
