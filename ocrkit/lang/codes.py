"""Language codes: one table from every accepted spelling to ocrkit's canonical code.

Canonical codes are Tesseract traineddata names (``eng``, ``deu``, ``chi_sim``, ...).
:func:`resolve` accepts, case-insensitively and joined with ``+``:

* the seed's short codes and PaddleOCR's names (``en``, ``ch`` = Chinese simplified,
  ``cht``/``chinese_cht`` = traditional, ``japan``, ``korean``, ``german``, ...);
* ISO 639-1 (``de``), ISO 639-3 / 639-2 in both B and T forms (``ger``, ``deu``);
* Tesseract names (``chi_sim``, ``srp_latn``), plus any other installed traineddata
  (``script/Latin``) as it is spelt by ``tesseract --list-langs``;
* BCP 47 tags: a language subtag with a script or region that picks a model
  (``zh-Hant``, ``zh-TW``, ``sr-Latn``, ``uz-Cyrl``), other regions ignored (``pt-BR``);
* a few English names (``french``) and Tesseract's script models (``Latin``).

An unknown code raises :class:`BadOption` (CLI exit 2, API 400) naming the nearest
valid ones. ISO codes are a hand table rather than a library such as ``langcodes``:
the mapping that matters is to Tesseract's model names (``chi_tra`` for ``zh-Hant``,
``srp_latn`` for ``sr-Latn``), which no ISO library knows, and the table is short.

``auto`` is not handled here: the pipeline maps it to :func:`default_languages`.
"""

from __future__ import annotations

import os
import re
from functools import cache, lru_cache
from typing import Any, NamedTuple

from ocrkit.errors import BadOption, EngineUnavailable

# One row per Tesseract traineddata Debian ships (plus its vertical/old variants):
#   tesseract-name  iso-code-for-output  script  other-accepted-names...
# The output ISO code is 639-1 where one exists, else 639-3 ("-" = the tesseract name).
# It is also accepted as input unless an earlier row already claimed it ("zh" means
# chi_sim, not chi_tra). Spell names with "_" (input "-" is read as "_"). Other names
# are ISO 639-2/B codes, ISO 639-3 individual languages of a macrolanguage (cmn, arb,
# pes), BCP 47 forms (zh_hant, sr_latn) and English or PaddleOCR names.
# ``script`` is the writing system, spelt as Tesseract's script models and OSD spell
# it: this is the one script table (orient and readpage use it through
# :func:`script_languages` / :func:`script_of`). Within a script, earlier rows are
# preferred when ``auto`` picks a model for a page in that script.
_TABLE = """
eng en Latin english
chi_sim zh HanS ch chi zho cmn chinese zh_cn zh_hans zh_sg chinese_simplified cn
chi_tra zh HanT cht chinese_cht zh_tw zh_hant zh_hk zh_mo yue chinese_traditional
jpn ja Japanese japan japanese jp
kor ko Hangul korean kr
ara ar Arabic arabic arb
rus ru Cyrillic russian
hin hi Devanagari hindi
deu de Latin ger german
fra fr Latin fre french
spa es Latin spanish es_es es_mx
por pt Latin portuguese pt_br pt_pt
ita it Latin italian
nld nl Latin dut dutch flemish
pol pl Latin polish
tur tr Latin turkish
ukr uk Cyrillic ukrainian
vie vi Latin vietnamese
tha th Thai thai
heb he Hebrew iw hebrew
ell el Greek gre greek
fas fa Arabic per persian farsi pes prs dari
urd ur Arabic urdu
ben bn Bengali bengali bangla
tam ta Tamil tamil
tel te Telugu telugu
mar mr Devanagari marathi
guj gu Gujarati gujarati
kan kn Kannada kannada
mal ml Malayalam malayalam
pan pa Gurmukhi punjabi panjabi
nep ne Devanagari nepali npi
ind id Latin in indonesian
msa ms Latin may malay zsm
fil fil Latin tgl tl filipino tagalog
swe sv Latin swedish
dan da Latin danish
nor no Latin nob nb nno nn norwegian
fin fi Latin finnish
ces cs Latin cze czech
slk sk Latin slo slovak
slv sl Latin slovenian
hrv hr Latin croatian
srp sr Cyrillic serbian sr_cyrl rs_cyrillic
srp_latn sr Latin sr_latn rs_latin serbian_latin
bos bs Latin bosnian
bul bg Cyrillic bulgarian
mkd mk Cyrillic mac macedonian
ron ro Latin rum mo romanian
hun hu Latin hungarian
est et Latin estonian ekk
lav lv Latin latvian lvs
lit lt Latin lithuanian
bel be Cyrillic belarusian
kaz kk Cyrillic kazakh
uzb uz Latin uzbek uzn uz_latn
uzb_cyrl uz Cyrillic uz_cyrl uzbek_cyrillic
aze az Latin azerbaijani azj az_latn
aze_cyrl az Cyrillic az_cyrl azerbaijani_cyrillic
kir ky Cyrillic kyrgyz
tgk tg Cyrillic tajik
tat tt Cyrillic tatar
mon mn Cyrillic mongolian khk
hye hy Armenian arm armenian
kat ka Georgian geo georgian
kat_old ka Georgian georgian_old
sqi sq Latin alb albanian als
cat ca Latin catalan
eus eu Latin baq basque
glg gl Latin galician
cym cy Latin wel welsh
gle ga Latin irish
gla gd Latin scottish_gaelic gaelic
isl is Latin ice icelandic
fao fo Latin faroese
fry fy Latin frisian
ltz lb Latin luxembourgish
bre br Latin breton
cos co Latin corsican
oci oc Latin occitan
lat la Latin latin
epo eo Latin esperanto
mlt mt Latin maltese
afr af Latin afrikaans
swa sw Latin swahili swh
yor yo Latin yoruba
amh am Ethiopic amharic
tir ti Ethiopic tigrinya
hat ht Latin haitian
ceb - Latin cebuano
jav jv Latin javanese
sun su Latin sundanese
mri mi Latin mao maori
ton to Latin tongan
que qu Latin quechua
khm km Khmer khmer
lao lo Lao lao
mya my Myanmar bur burmese
bod bo Tibetan tib tibetan
dzo dz Tibetan dzongkha
sin si Sinhala sinhala
asm as Bengali assamese
ori or Oriya oriya odia
san sa Devanagari sanskrit
snd sd Arabic sindhi
pus ps Arabic pashto pbt
kmr ku Latin kur kurdish
uig ug Arabic uyghur
div dv Thaana dhivehi
syr - Syriac syriac
iku iu Canadian_Aboriginal inuktitut
chr - Cherokee cherokee
yid yi Hebrew yiddish
grc - Greek ancient_greek
enm - Latin middle_english
frm - Latin middle_french
frk de Fraktur fraktur
ita_old it Latin italian_old
spa_old es Latin spanish_old
chi_sim_vert zh HanS_vert zh_hans_vert
chi_tra_vert zh HanT_vert zh_hant_vert
jpn_vert ja Japanese_vert
kor_vert ko Hangul_vert
osd - -
"""

# OSD's and Unicode's other names for the scripts above.
SCRIPT_ALIASES: dict[str, str] = {
    "Han": "HanS",
    "Hans": "HanS",
    "Hant": "HanT",
    "Hiragana": "Japanese",
    "Katakana": "Japanese",
    "Jpan": "Japanese",
    "Korean": "Hangul",
    "Hang": "Hangul",
    "Kore": "Hangul",
}

# BCP 47 script subtags (ISO 15924) that choose a model of their own.
_BCP47_SCRIPT = {
    ("zh", "hant"): "chi_tra",
    ("zh", "hans"): "chi_sim",
    ("sr", "latn"): "srp_latn",
    ("sr", "cyrl"): "srp",
    ("uz", "cyrl"): "uzb_cyrl",
    ("uz", "latn"): "uzb",
    ("az", "cyrl"): "aze_cyrl",
    ("az", "latn"): "aze",
}
# BCP 47 regions that choose a model of their own (Chinese written in Taiwan, Hong Kong
# and Macau is traditional).
_BCP47_REGION = {("zh", "tw"): "chi_tra", ("zh", "hk"): "chi_tra", ("zh", "mo"): "chi_tra"}


def _norm(code: str) -> str:
    return code.strip().lower().replace("-", "_")


class _Row(NamedTuple):
    tess: str
    iso: str
    script: str
    names: tuple[str, ...]


class _Tables(NamedTuple):
    rows: list[_Row]
    alias: dict[str, str]  # every accepted spelling -> the Tesseract name
    iso: dict[str, str]  # Tesseract name -> ISO 639-1 (or -3)
    script: dict[str, str]  # Tesseract name -> the script it is written in


@cache
def _tables() -> _Tables:
    """The table parsed on first use, not at import: `ocrkit ocr --help` imports this
    module (through the engine plugins) and needs none of it."""
    rows = []
    for line in _TABLE.strip().splitlines():
        tess, iso_code, script, *others = line.split()
        rows.append(_Row(tess, tess if iso_code == "-" else iso_code, script, tuple(others)))
    alias: dict[str, str] = {}
    iso: dict[str, str] = {}
    for row in rows:
        iso[row.tess] = row.iso
        for name in (row.tess, *row.names, row.iso):
            alias.setdefault(name, row.tess)
    scripts = {row.tess: row.script for row in rows if row.script != "-"}
    return _Tables(rows, alias, iso, scripts)


def __getattr__(name: str) -> Any:
    """The tables under their old module-level names (``_ISO``...), built on first use."""
    field = {"_ROWS": "rows", "_ALIAS": "alias", "_ISO": "iso", "_SCRIPT": "script"}.get(name)
    if field is None:
        raise AttributeError(name)
    return getattr(_tables(), field)


# Tesseract's script models (Debian's tesseract-ocr-script-*): one model for every
# language written in a script ("Latin", "Cyrillic", "HanS_vert", ...).
SCRIPT_MODELS = [
    "Arabic",
    "Armenian",
    "Bengali",
    "Canadian_Aboriginal",
    "Cherokee",
    "Cyrillic",
    "Devanagari",
    "Ethiopic",
    "Fraktur",
    "Georgian",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "HanS",
    "HanS_vert",
    "HanT",
    "HanT_vert",
    "Hangul",
    "Hangul_vert",
    "Hebrew",
    "Japanese",
    "Japanese_vert",
    "Kannada",
    "Khmer",
    "Lao",
    "Latin",
    "Malayalam",
    "Myanmar",
    "Oriya",
    "Sinhala",
    "Syriac",
    "Tamil",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Vietnamese",
]


def tesseract_languages() -> list[str]:
    """Installed Tesseract traineddata names (``osd`` and script models such as
    ``Latin`` included), sorted; [] without Tesseract. Cached per ``TESSDATA_PREFIX``
    (a test or a deployment may point Tesseract at another model directory)."""
    return list(_list_langs(os.environ.get("TESSDATA_PREFIX", "")))


@lru_cache(maxsize=8)
def _list_langs(_prefix: str) -> tuple[str, ...]:
    import shutil
    import subprocess

    exe = shutil.which("tesseract")
    if exe is None:
        return ()
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    # The first line is 'List of available languages in "..." (N):'. Script models
    # installed under script/ are listed as "script/Latin" by some builds.
    names = (line.strip().removeprefix("script/") for line in out.splitlines()[1:])
    return tuple(sorted(n for n in names if n))


# script (4 letters), region (2 letters or 3 digits), variant (5-8 alphanumerics or a
# digit and 3 alphanumerics), extension/private-use singletons and their subtags.
_BCP47_SUBTAG = re.compile(r"[a-z]{4}|[a-z]{2}|[0-9]{3}|[a-z0-9]{5,8}|[0-9][a-z0-9]{3}|[a-z0-9]")


def _bcp47(key: str) -> str | None:
    """A BCP 47 tag (``zh_hant``, ``sr_latn_rs``, ``pt_br``) -> a Tesseract name: the
    language subtag, then a script subtag (4 letters) or region (2 letters / 3 digits)
    that chooses another model; other subtags (variants, extensions) are ignored."""
    parts = key.split("_")
    if len(parts) < 2 or not parts[0].isalpha() or len(parts[0]) not in (2, 3):
        return None
    lang = _tables().alias.get(parts[0])
    if lang is None:
        return None
    base = _tables().iso[lang]
    for sub in parts[1:]:
        if not _BCP47_SUBTAG.fullmatch(sub):
            return None
        if len(sub) == 4 and sub.isalpha():
            if (base, sub) in _BCP47_SCRIPT:
                return _BCP47_SCRIPT[(base, sub)]
        elif (base, sub) in _BCP47_REGION:
            return _BCP47_REGION[(base, sub)]
    return lang


def nearest(code: str, n: int = 3) -> list[str]:
    """The ``n`` valid codes spelt most like ``code`` (for an error message)."""
    key = _norm(code)
    cands = sorted(set(_tables().alias) | {_norm(c) for c in tesseract_languages()})
    import difflib  # only for a suggestion after a typo

    close = difflib.get_close_matches(key, cands, n=n, cutoff=0.5)
    if not close and len(key) >= 2:
        close = [c for c in cands if c.startswith(key[:2])][:n]
    out: list[str] = []
    for c in close:
        tess = _tables().alias.get(c, c)
        label = c if c == tess else f"{c} ({tess})"
        if label not in out:
            out.append(label)
    return out


def _resolve_one(code: str) -> str:
    key = _norm(code)
    exact = code.strip().removeprefix("script/")
    if exact in SCRIPT_MODELS:  # Tesseract's names are case-sensitive: Latin, not latin
        return exact
    if key in _tables().alias:
        return _tables().alias[key]
    for installed in tesseract_languages():  # e.g. "Latin", or a custom model
        if installed.lower() == key.removeprefix("script/"):
            return installed
    for script in SCRIPT_MODELS:  # a script model, installed or not
        if script.lower() == key.removeprefix("script/"):
            return script
    bcp = _bcp47(key)
    if bcp is not None:
        return bcp
    near = nearest(code)
    hint = f"; nearest: {', '.join(near)}" if near else ""
    raise BadOption(
        f"unknown language {code.strip()!r}{hint}. Use ISO 639-1/639-2/639-3 codes, BCP 47 "
        "tags (zh-Hant, pt-BR) or Tesseract names, several joined with '+' "
        "(`ocrkit languages --all` lists them)"
    )


def resolve(spec: str) -> list[str]:
    """``"en+ger"`` -> ``["eng", "deu"]``; duplicates dropped, order kept."""
    parts = [p for p in spec.split("+") if p.strip()]
    if not parts:
        raise BadOption(f"no language given in {spec!r}")
    out: list[str] = []
    for part in parts:
        code = _resolve_one(part)
        if code not in out:
            out.append(code)
    return out


def to_iso(code: str) -> str:
    """ISO 639-1 where one exists, else 639-3 (``chi_sim`` -> ``zh``, ``ceb`` -> ``ceb``).

    Accepts any spelling :func:`resolve` does; a code it cannot place is returned
    lower-cased rather than raising (this feeds ``detected_languages`` output)."""
    tess = _tables().alias.get(_norm(code)) or _bcp47(_norm(code))
    return _tables().iso[tess] if tess else code.strip().lower()


def script_of(code: str) -> str | None:
    """The script a Tesseract language is written in (``fas`` -> ``Arabic``); a script
    model is its own script; None for codes the table does not know."""
    if code in _tables().script:
        return _tables().script[code]
    if code in SCRIPT_MODELS:
        return code
    return None


def canonical_script(script: str) -> str:
    """OSD's or ISO 15924's name for a script -> the table's (``Han`` -> ``HanS``)."""
    return SCRIPT_ALIASES.get(script, script)


def script_candidates(script: str) -> list[str]:
    """Every language of the table written in ``script``, preferred first."""
    script = canonical_script(script)
    return [row.tess for row in _tables().rows if row.script == script]


def script_languages(script: str, installed: list[str], n: int = 1) -> list[str]:
    """The first ``n`` installed languages written in ``script`` ([] for Latin, which
    keeps the job's languages, or when none is installed)."""
    script = canonical_script(script)
    if script == "Latin":
        return []
    return [c for c in script_candidates(script) if c in installed][:n]


def missing_script_language(script: str) -> str | None:
    """The Tesseract language a script needs when none is installed (for a hint)."""
    cands = script_candidates(script)
    return cands[0] if cands else None


def require_tesseract(codes: list[str]) -> None:
    """Raise :class:`EngineUnavailable` if any canonical code has no installed traineddata."""
    installed = tesseract_languages()
    missing = [c for c in codes if c not in installed]
    if missing:
        have = ", ".join(c for c in installed if c != "osd") or "none"
        raise EngineUnavailable(
            f"no Tesseract language data for {', '.join(missing)} "
            f"(installed: {have}); on Debian/Ubuntu: apt-get install "
            + " ".join(apt_package(c) for c in missing)
        )


def _name(tess: str) -> str:
    """An English name for a Tesseract language from the table ("" when it has none)."""
    if tess in SCRIPT_MODELS:
        return f"{tess.replace('_vert', '').replace('_', ' ')} script" + (
            " (vertical)" if tess.endswith("_vert") else ""
        )
    for row in _tables().rows:
        if row.tess == tess:
            words = [o for o in row.names if len(o) > 3 and o.isalpha() or "_" in o]
            first = next((o for o in row.names if len(o) > 3 and o.isalpha()), "")
            # "japan" -> "japanese", "chinese" -> "chinese_simplified"
            longer = [o for o in words if first and o.startswith(first)]
            name = max(longer, key=len, default=first).replace("_", " ")
            return name + (" (vertical)" if tess.endswith("_vert") else "")
    return ""


def apt_package(tess: str) -> str:
    """Debian/Ubuntu's package for a Tesseract model (``chi_sim`` ->
    ``tesseract-ocr-chi-sim``, the script model ``HanS_vert`` ->
    ``tesseract-ocr-script-hans-vert``)."""
    if tess in SCRIPT_MODELS:
        return "tesseract-ocr-script-" + _SCRIPT_PKG.get(tess, tess.lower()).replace("_", "-")
    return "tesseract-ocr-" + tess.lower().replace("_", "-")


# Debian names script packages by ISO 15924 code.
_SCRIPT_PKG = {
    "Arabic": "arab",
    "Armenian": "armn",
    "Bengali": "beng",
    "Canadian_Aboriginal": "cans",
    "Cherokee": "cher",
    "Cyrillic": "cyrl",
    "Devanagari": "deva",
    "Ethiopic": "ethi",
    "Fraktur": "frak",
    "Georgian": "geor",
    "Greek": "grek",
    "Gujarati": "gujr",
    "Gurmukhi": "guru",
    "HanS": "hans",
    "HanS_vert": "hans_vert",
    "HanT": "hant",
    "HanT_vert": "hant_vert",
    "Hangul": "hang",
    "Hangul_vert": "hang_vert",
    "Hebrew": "hebr",
    "Japanese": "jpan",
    "Japanese_vert": "jpan_vert",
    "Kannada": "knda",
    "Khmer": "khmr",
    "Lao": "laoo",
    "Latin": "latn",
    "Malayalam": "mlym",
    "Myanmar": "mymr",
    "Oriya": "orya",
    "Sinhala": "sinh",
    "Syriac": "syrc",
    "Tamil": "taml",
    "Telugu": "telu",
    "Thaana": "thaa",
    "Thai": "thai",
    "Tibetan": "tibt",
    "Vietnamese": "viet",
}


def catalogue(include_all: bool = False) -> list[dict[str, object]]:
    """Rows for ``ocrkit languages``: installed Tesseract models (``osd`` left out),
    or with ``include_all`` every language and script model too, each with its ISO
    code, script, English name, Debian package and whether it is installed. Languages
    come first, script models after them."""
    installed = [c for c in tesseract_languages() if c != "osd"]
    codes = list(installed)
    if include_all:
        codes += [t for t in _tables().iso if t not in codes and t != "osd"]
        codes += [s for s in SCRIPT_MODELS if s not in codes]
    codes.sort(key=lambda c: (c in SCRIPT_MODELS, c))
    return [
        {
            "tesseract": code,
            "iso": "" if code in SCRIPT_MODELS else _tables().iso.get(code, code),
            "script": script_of(code) or "",
            "name": _name(code),
            "installed": code in installed,
            "package": apt_package(code),
        }
        for code in codes
    ]
