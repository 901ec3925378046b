"""tesserocr against a Tesseract without the legacy engine (issue 14, `make install`'s
scripts/tesserocr_nolegacy.sh): the source patch that lets tesserocr import against such a
library, and ``ocrkit engines`` telling which build reads the pages."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
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


def _build_key(root: Path) -> str:
    """The wheel version (with its cache key) that the build script in ROOT would build."""
    env = dict(os.environ, TESSEROCR_TESSERACT_SOURCE="debian")
    out = subprocess.run(
        [
            "bash",
            str(root / "scripts" / "tesserocr_nolegacy.sh"),
            sys.executable,
            "/nonexistent",
            "key",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(
    tesserocr_backend._module() is None or shutil.which("dpkg-query") is None,
    reason="needs tesserocr and Debian's dpkg",
)
def test_the_build_key_names_the_tesseract_source_patches(tmp_path: Path) -> None:
    # Debian's Tesseract source is built with scripts/tesseract_patches/*.patch applied
    # (issue 14, branch i14nn): a cached wheel built with other patches, or none, must not
    # be taken for the one these patches make
    patches = sorted((ROOT / "scripts" / "tesseract_patches").glob("*.patch"))
    # applied in name order: lstm-gates (branch i14gate) after lstm-copies (i14nn)
    assert [p.name for p in patches] == ["lstm-copies.patch", "lstm-gates.patch"]
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", scripts)
    key = _build_key(tmp_path)
    assert key.startswith(f"{importlib.metadata.version('tesserocr').split('+')[0]}+nolegacy.")
    assert _build_key(ROOT) == key  # the copy keys as the original
    seen = {key}
    for name in ("lstm-copies.patch", "lstm-gates.patch"):
        patch = scripts / "tesseract_patches" / name
        text = patch.read_text(encoding="utf-8")
        patch.write_text(text + "\n", encoding="utf-8")
        changed = _build_key(tmp_path)
        assert changed not in seen
        seen.add(changed)
        patch.unlink()
        assert _build_key(tmp_path) not in seen
        patch.write_text(text, encoding="utf-8")
        assert _build_key(tmp_path) == key


def test_the_pgo_variant_still_applies_to_the_build_script(tmp_path: Path) -> None:
    # bench/tesserocr_builds/pgo.patch is a diff against scripts/tesserocr_nolegacy.sh; a
    # change to the script that breaks it must regenerate it (its wrapper refuses to run)
    if shutil.which("patch") is None:
        pytest.skip("no patch(1)")
    out = subprocess.run(
        [
            "patch",
            "--dry-run",
            "--fuzz=0",
            f"--output={tmp_path / 'pgo.sh'}",
            str(ROOT / "scripts" / "tesserocr_nolegacy.sh"),
            str(ROOT / "bench" / "tesserocr_builds" / "pgo.patch"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


ACT_CHECK = ROOT / "bench" / "tesserocr_builds" / "act_check.cpp"
GATES = ROOT / "scripts" / "tesseract_patches" / "lstm-gates.patch"


def _code(lines: list[str]) -> str:
    """C++ lines without comments, blank lines, `static` or indentation: to compare code."""
    out = []
    for line in lines:
        line = line.split("//")[0].strip()
        if line:
            out.append(line.removeprefix("static "))
    return "\n".join(out)


def _gates_code() -> str:
    added = [
        line[1:]
        for line in GATES.read_text(encoding="utf-8").splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    start = next(i for i, line in enumerate(added) if "TableInterpolate4(const" in line)
    end = next(i for i, line in enumerate(added) if line.startswith("template <>"))
    return _code(added[start:end])


def test_the_activation_checker_tests_the_patched_code() -> None:
    # act_check.cpp's copy of lstm-gates.patch's Tanh4/Logistic4 is the patch's code: the
    # exhaustive check (all 2^32 floats, docs/benchmarks.md) is only worth what it checks
    lines = ACT_CHECK.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if "TableInterpolate4(const" in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("// The network's loops"))
    assert _code(lines[start:end]) == _gates_code()
    assert "Tanh4(__m128 x)" in _gates_code() and "Logistic4(__m128 x)" in _gates_code()


def _act_check(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    cpp = tmp_path / "act_check.cpp"
    cpp.write_text(source, encoding="utf-8")
    exe = tmp_path / "act_check"
    subprocess.run(["g++", "-O3", "-std=gnu++17", str(cpp), "-o", str(exe)], check=True)
    # one block of 2^16 bit patterns in 251: both signs, every exponent range, NaN
    return subprocess.run([str(exe), "--every", "251"], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_the_patched_activations_give_tesseracts_values(tmp_path: Path) -> None:
    # a sample of the exhaustive check: the four-lane Tanh/Logistic equal Tesseract's
    # scalar ones bit for bit wherever those are defined; and the check does tell a
    # version that rounds differently (the same interpolation written v0 (1 - f) + v1 f)
    source = ACT_CHECK.read_text(encoding="utf-8")
    ok = _act_check(tmp_path, source)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "identical wherever the original is defined" in ok.stdout
    exact = (
        "__m128 v = _mm_add_ps(v0, _mm_mul_ps(_mm_sub_ps(v1, v0), "
        "_mm_sub_ps(a, _mm_cvtepi32_ps(index))));"
    )
    assert source.count(exact) == 1
    rounded = (
        "__m128 f = _mm_sub_ps(a, _mm_cvtepi32_ps(index));\n"
        "  __m128 v = _mm_add_ps(_mm_mul_ps(v0, _mm_sub_ps(_mm_set1_ps(1.0f), f)), "
        "_mm_mul_ps(v1, f));"
    )
    bad = _act_check(tmp_path, source.replace(exact, rounded))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "DIFFERENT" in bad.stdout
