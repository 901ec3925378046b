"""Language codes: one table from every accepted spelling to ocrkit's canonical code.

Canonical codes are Tesseract traineddata names (``eng``, ``deu``, ``chi_sim``, ...).
:func:`resolve` accepts, case-insensitively and joined with ``+``:

* the seed's short codes and PaddleOCR's names (``en``, ``ch`` = Chinese simplified,
  ``cht``/``chinese_cht`` = traditional, ``japan``, ``korean``, ``german``, ...);
* ISO 639-1 (``de``), ISO 639-3 / 639-2 in both B and T forms (``ger``, ``deu``);
* Tesseract names (``chi_sim``, ``srp_latn``), plus any other installed traineddata
  (``script/Latin``) as it is spelt by ``tesseract --list-langs``;
* a few English names (``french``) and regional tags (``zh-TW``, ``pt-BR``).

``auto`` is not handled here: the pipeline maps it to :func:`default_languages`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from ocrkit.errors import BadOption, EngineUnavailable

# One row per Tesseract traineddata Debian ships (plus its vertical/old variants):
#   tesseract-name  iso-code-for-output  other-accepted-names...
# The output ISO code is 639-1 where one exists, else 639-3 ("-" = the tesseract name).
# It is also accepted as input unless an earlier row already claimed it ("zh" means
# chi_sim, not chi_tra). Spell names with "_" (input "-" is read as "_").
_TABLE = """
eng en english
chi_sim zh ch chi zho chinese zh_cn zh_hans zh_sg chinese_simplified cn
chi_tra zh cht chinese_cht zh_tw zh_hant zh_hk chinese_traditional
jpn ja japan japanese jp
kor ko korean kr
ara ar arabic
rus ru russian
hin hi hindi
deu de ger german
fra fr fre french
spa es spanish es_es es_mx
por pt portuguese pt_br pt_pt
ita it italian
nld nl dut dutch
pol pl polish
tur tr turkish
ukr uk ukrainian
vie vi vietnamese
tha th thai
heb he iw hebrew
ell el gre greek
fas fa per persian farsi
urd ur urdu
ben bn bengali bangla
tam ta tamil
tel te telugu
mar mr marathi
guj gu gujarati
kan kn kannada
mal ml malayalam
pan pa punjabi
nep ne nepali
ind id in indonesian
msa ms may malay
fil fil tgl tl filipino tagalog
swe sv swedish
dan da danish
nor no nob nb norwegian
fin fi finnish
ces cs cze czech
slk sk slo slovak
slv sl slovenian
hrv hr croatian
srp sr serbian rs_cyrillic
srp_latn sr rs_latin serbian_latin
bos bs bosnian
bul bg bulgarian
mkd mk mac macedonian
ron ro rum mo romanian
hun hu hungarian
est et estonian
lav lv latvian
lit lt lithuanian
bel be belarusian
kaz kk kazakh
uzb uz uzbek
uzb_cyrl uz uzbek_cyrillic
aze az azerbaijani
aze_cyrl az azerbaijani_cyrillic
kir ky kyrgyz
tgk tg tajik
tat tt tatar
mon mn mongolian
hye hy arm armenian
kat ka geo georgian
kat_old ka georgian_old
sqi sq alb albanian
cat ca catalan
eus eu baq basque
glg gl galician
cym cy wel welsh
gle ga irish
gla gd scottish_gaelic
isl is ice icelandic
fao fo faroese
fry fy frisian
ltz lb luxembourgish
bre br breton
cos co corsican
oci oc occitan
lat la latin
epo eo esperanto
mlt mt maltese
afr af afrikaans
swa sw swahili
yor yo yoruba
amh am amharic
tir ti tigrinya
hat ht haitian
ceb - cebuano
jav jv javanese
sun su sundanese
mri mi mao maori
ton to tongan
que qu quechua
khm km khmer
lao lo
mya my bur burmese
bod bo tib tibetan
dzo dz dzongkha
sin si sinhala
asm as assamese
ori or oriya odia
san sa sanskrit
snd sd sindhi
pus ps pashto
kmr ku kur kurdish
uig ug uyghur
div dv dhivehi
syr - syriac
iku iu inuktitut
chr - cherokee
yid yi yiddish
grc - ancient_greek
enm - middle_english
frm - middle_french
frk de fraktur
ita_old it italian_old
spa_old es spanish_old
chi_sim_vert zh
chi_tra_vert zh
jpn_vert ja
kor_vert ko
osd -
"""


def _norm(code: str) -> str:
    return code.strip().lower().replace("-", "_")


def _build() -> tuple[dict[str, str], dict[str, str]]:
    alias: dict[str, str] = {}
    iso: dict[str, str] = {}
    for line in _TABLE.strip().splitlines():
        tess, iso_code, *others = line.split()
        iso[tess] = tess if iso_code == "-" else iso_code
        for name in (tess, *others, iso_code):
            if name != "-":
                alias.setdefault(name, tess)
    return alias, iso


_ALIAS, _ISO = _build()


@lru_cache(maxsize=1)
def tesseract_languages() -> list[str]:
    """Installed Tesseract traineddata names (``osd`` included), sorted; [] without
    Tesseract. Cached for the process."""
    exe = shutil.which("tesseract")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # The first line is 'List of available languages in "..." (N):'.
    return sorted(line.strip() for line in out.splitlines()[1:] if line.strip())


def _resolve_one(code: str) -> str:
    key = _norm(code)
    if key in _ALIAS:
        return _ALIAS[key]
    for installed in tesseract_languages():  # e.g. "script/Latin", or a custom model
        if installed.lower() == code.strip().lower():
            return installed
    raise BadOption(
        f"unknown language {code.strip()!r}; use ISO 639-1/639-3 codes or Tesseract names "
        "(en, de, ch, ja, chi_sim, ...), several joined with '+'"
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


def default_languages() -> list[str]:
    """The languages used for ``auto``: ``OCRKIT_DEFAULT_LANGUAGE`` (default ``eng``)."""
    return resolve(os.environ.get("OCRKIT_DEFAULT_LANGUAGE") or "eng")


def to_iso(code: str) -> str:
    """ISO 639-1 where one exists, else 639-3 (``chi_sim`` -> ``zh``, ``ceb`` -> ``ceb``).

    Accepts any spelling :func:`resolve` does; a code it cannot place is returned
    lower-cased rather than raising (this feeds ``detected_languages`` output)."""
    tess = _ALIAS.get(_norm(code))
    return _ISO[tess] if tess else code.strip().lower()


def require_tesseract(codes: list[str]) -> None:
    """Raise :class:`EngineUnavailable` if any canonical code has no installed traineddata."""
    installed = tesseract_languages()
    missing = [c for c in codes if c not in installed]
    if missing:
        have = ", ".join(c for c in installed if c != "osd") or "none"
        raise EngineUnavailable(
            f"no Tesseract language data for {', '.join(missing)} "
            f"(installed: {have}); on Debian/Ubuntu: apt-get install "
            + " ".join(f"tesseract-ocr-{c.replace('_', '-')}" for c in missing)
        )


def _name(tess: str) -> str:
    """An English name for a Tesseract language from the table ("" when it has none)."""
    for line in _TABLE.strip().splitlines():
        code, _iso, *others = line.split()
        if code == tess:
            first = next((o for o in others if len(o) > 3 and o.isalpha()), "")
            # "japan" -> "japanese", "chinese" -> "chinese_simplified"
            longer = [o for o in others if first and o.startswith(first)]
            return max(longer, key=len, default=first).replace("_", " ")
    return ""


def apt_package(tess: str) -> str:
    """Debian/Ubuntu's package for a Tesseract language (``chi_sim`` ->
    ``tesseract-ocr-chi-sim``)."""
    return "tesseract-ocr-" + tess.lower().replace("_", "-")


def catalogue(include_all: bool = False) -> list[dict[str, object]]:
    """Rows for ``ocrkit languages``: installed Tesseract languages (``osd`` left out),
    or with ``include_all`` every language of the table too, each with its ISO code,
    English name, Debian package and whether it is installed."""
    installed = [c for c in tesseract_languages() if c != "osd"]
    codes = list(installed)
    if include_all:
        codes += [t for t in _ISO if t not in codes and t != "osd"]
    return [
        {
            "tesseract": code,
            "iso": _ISO.get(code, code),
            "name": _name(code),
            "installed": code in installed,
            "package": apt_package(code),
        }
        for code in codes
    ]
