"""tesserocr against a Tesseract without the legacy engine (issue 14, `make install`'s
scripts/tesserocr_nolegacy.sh): the source patch that lets tesserocr import against such a
library, and ``ocrkit engines`` telling which build reads the pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ocrkit_plugins.engines.tesseract import tesserocr_backend

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location(
    "tesserocr_nolegacy_patch", ROOT / "scripts" / "tesserocr_nolegacy_patch.py"
)
assert SPEC and SPEC.loader
patcher = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(patcher)

# The shapes these methods have in tesserocr 2.7/2.8's tesserocr.pyx: a plain method, one
# nested in a compile-time IF with a cdef block, one with a cdef local before the call.
PYX = '''
__version__ = '2.8.0'

cdef class PyTessBaseAPI:
    def ClearAdaptiveClassifier(self):
        """Forget adaptive data."""
        self._baseapi.ClearAdaptiveClassifier()

    def SetImageBytes(self, imagedata, int width, int height,
                      int bytes_per_pixel, int bytes_per_line):
        self._baseapi.SetImage(imagedata, width, height, bytes_per_pixel, bytes_per_line)

    IF TESSERACT_VERSION >= 0x3999800:
        def DetectOrientationScript(self):
            """Detect the orientation."""
            cdef:
                int orient_deg
            if self._baseapi.DetectOrientationScript(&orient_deg, NULL, NULL, NULL):
                return {'orient_deg': orient_deg}
            return None

    def AdaptToWordStr(self, PageSegMode psm,
                       word):
        cdef bytes py_word = _b(word)
        return self._baseapi.AdaptToWordStr(psm, py_word)

    def DetectOS(self):
        cdef OSResults results
        if self._baseapi.DetectOS(&results):
            return {'orientation': results.best_result.orientation_id}
        return None

    def GetUnichar(self, int unichar_id):
        return self._baseapi.GetUnichar(unichar_id)

    cdef TessResultRenderer *_get_renderer(self, cchar_t *outputbase):
        IF TESSERACT_VERSION >= 0x3040100:
            if self._baseapi.GetPageSegMode() == PSM.OSD_ONLY:
                renderer = new TessOsdRenderer(outputbase)
                return renderer
        self._baseapi.GetBoolVariable("tessedit_create_hocr", &b)
'''


def test_legacy_only_calls_become_errors_and_the_rest_stays() -> None:
    out, done = patcher.patch(PYX, "2.8.0+nolegacy.abc")
    assert sorted(done) == sorted([*patcher.LEGACY_ONLY, "TessOsdRenderer"])
    assert (
        "TessOsdRenderer" not in out and "renderer = NULL\n                return renderer" in out
    )
    assert "__version__ = '2.8.0+nolegacy.abc'" in out
    for name in patcher.LEGACY_ONLY:
        assert f"_baseapi.{name}(" not in out  # no reference left to an absent symbol
        assert f"raise RuntimeError('{name} needs the legacy engine" in out
    # the other methods, the signatures (one over two lines) and the IF are untouched
    for kept in (
        "self._baseapi.SetImage(imagedata, width, height, bytes_per_pixel, bytes_per_line)",
        "    IF TESSERACT_VERSION >= 0x3999800:\n        def DetectOrientationScript(self):\n"
        "            raise RuntimeError(",
        "    def AdaptToWordStr(self, PageSegMode psm,\n                       word):\n"
        "        raise RuntimeError(",
        "    def GetUnichar(self, int unichar_id):\n"
        "        return self._baseapi.GetUnichar(unichar_id)",
        'self._baseapi.GetBoolVariable("tessedit_create_hocr", &b)',
    ):
        assert kept in out


def test_a_source_without_one_of_them_is_refused(tmp_path: Path) -> None:
    pyx = tmp_path / "tesserocr.pyx"
    pyx.write_text(PYX.replace("self._baseapi.DetectOS(&results)", "False"), encoding="utf-8")
    assert patcher.main(["patch", str(pyx), "2.8.0+nolegacy.abc"]) == 1
    assert "__version__ = '2.8.0'" in pyx.read_text(encoding="utf-8")  # left as it was


@pytest.mark.skipif(tesserocr_backend._module() is None, reason="tesserocr not installed")
def test_engines_says_whether_the_legacy_engine_is_compiled_in() -> None:
    tess = tesserocr_backend._module()
    legacy = tesserocr_backend.legacy_engine()
    assert legacy is not None
    # told from the library's symbols; the API object agrees: without the legacy engine,
    # a legacy-only call is the patched error, with it the call simply runs
    api = tess.PyTessBaseAPI(path=tesserocr_backend.tessdata_dir(), lang="eng")
    try:
        if legacy:
            assert api.ClearAdaptiveClassifier() is None
        else:
            with pytest.raises(RuntimeError, match="needs the legacy engine"):
                api.ClearAdaptiveClassifier()
    finally:
        api.End()
    words = "legacy engine compiled in" if legacy else "no legacy engine"
    assert words in tesserocr_backend.describe()
