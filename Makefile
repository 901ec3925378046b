# ocrkit: `make serve` runs the API on the embedded default; `make test` runs the tests.
# Both install what they need (Debian packages included) on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Tesseract models: every language and script pack Debian ships (tesseract-ocr-*, the
# vertical CJK models included; 161 packages, 285 MB download, 714 MB installed; the
# apt-get install took 4 min wall / 39 s CPU here, mostly download). LANGS narrows the set
# for small images: `make install LANGS="eng deu chi_sim"` (Tesseract names or Debian
# suffixes; eng and osd are always installed). LANGS used to ADD languages to a fixed
# list of 12; it now names the whole set, and its default `all` means every pack.
# `ocrkit languages --all` lists them with their ISO codes and Debian packages.
TESS_ALL := \
	afr amh ara asm aze aze-cyrl bel ben bod bos bre bul cat ceb ces chi-sim \
	chi-sim-vert chi-tra chi-tra-vert chr cos cym dan deu div dzo ell eng enm epo est \
	eus fao fas fil fin fra frk frm fry gla gle glg grc guj hat heb hin hrv hun hye iku \
	ind isl ita ita-old jav jpn jpn-vert kan kat kat-old kaz khm kir kmr kor kor-vert \
	lao lat lav lit ltz mal mar mkd mlt mon mri msa mya nep nld nor oci ori osd pan pol \
	por pus que ron rus san script-arab script-armn script-beng script-cans script-cher \
	script-cyrl script-deva script-ethi script-frak script-geor script-grek script-gujr \
	script-guru script-hang script-hang-vert script-hans script-hans-vert script-hant \
	script-hant-vert script-hebr script-jpan script-jpan-vert script-khmr script-knda \
	script-laoo script-latn script-mlym script-mymr script-orya script-sinh script-syrc \
	script-taml script-telu script-thaa script-thai script-tibt script-viet sin slk slv \
	snd spa spa-old sqi srp srp-latn sun swa swe syr tam tat tel tgk tha tir ton tur uig \
	ukr urd uzb uzb-cyrl vie yid yor
LANGS ?= all
TESS_PKGS := $(if $(filter all,$(LANGS)),$(TESS_ALL),$(sort eng osd $(subst _,-,$(LANGS))))
APT_PKGS := tesseract-ocr $(addprefix tesseract-ocr-,$(TESS_PKGS)) fonts-dejavu-core fonts-noto-cjk
# Debian's Noto fonts: the made scan-like test pages (tests/langpages.py) render Arabic,
# Devanagari, Hebrew, Cyrillic and Vietnamese text with them.
APT_PKGS += fonts-noto-core
# pdftotext: tests read searchable PDFs back with a second reader (right-to-left text).
APT_PKGS += poppler-utils
# Handwriting-style fonts for the made handwriting pages (bench/handpages.py: vlm line
# boxes with known truth, tests/test_vlm_boxes.py and make bench).
APT_PKGS += fonts-dkg-handwriting fonts-breip fonts-dancingscript fonts-humor-sans \
	fonts-femkeklaver fonts-kristi fonts-ecolier-court fonts-bwht
# The web page's browser test (tests/test_web_browser.py) drives Debian's Chromium.
APT_PKGS += chromium chromium-driver
CORPUS ?= $(abspath ../shared/corpus)
export OCRKIT_CORPUS ?= $(CORPUS)

.PHONY: test-load install system-deps test-plugins test check serve demo bench bench-deps bench-quick clean

system-deps:
	@if ! command -v tesseract >/dev/null 2>&1 || ! dpkg -s $(APT_PKGS) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(APT_PKGS); \
	fi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: system-deps $(BIN)/python
	@# pip 25.1 reads [dependency-groups] (the test and bench tools are not user extras).
	$(BIN)/pip install -q 'pip>=25.1'
	$(BIN)/pip install -q -e '.[rapidocr,scale]' --group test --group bench
	@# rapidocr pulls opencv-python; keep only the headless build so exactly one cv2 exists.
	@if $(BIN)/pip show -q opencv-python >/dev/null 2>&1; then \
		$(BIN)/pip uninstall -q -y opencv-python && \
		$(BIN)/pip install -q --force-reinstall --no-deps opencv-python-headless; fi
	@# tesserocr against a Tesseract without the legacy engine (see TESSEROCR below).
	@scripts/tesserocr_nolegacy.sh $(BIN)/python "$(TESSEROCR_CACHE)" $(TESSEROCR) || \
		echo "tesserocr-nolegacy: keeping the PyPI tesserocr wheel (legacy engine compiled in)" >&2
	@# Bytecode for the editable sources, as pip writes it for an installed wheel: where
	@# PYTHONDONTWRITEBYTECODE is set (it is on the bench machine) every `ocrkit` start
	@# otherwise compiled ~70 modules again, ~0.2 s CPU before a job's page workers start
	@# (docs/benchmarks.md, "Two workers' idle time"). A source edited later is compiled
	@# in memory as before.
	$(BIN)/python -m compileall -q ocrkit plugins >/dev/null

# The PyPI tesserocr wheel's Tesseract has the legacy engine compiled in, and each language
# it loads then carries ~9.5 MB of legacy start-up state that LSTM-only models never use
# (7 languages per page worker under -l auto: ~66 MB per worker; docs/benchmarks.md).
# So `make install` (TESSEROCR=nolegacy, the default) replaces it with tesserocr built
# against a Tesseract without the legacy engine (scripts/tesserocr_nolegacy.sh: CMake,
# Release, DISABLED_LEGACY_ENGINE, LTO; ~150 CPU s, ~1.5 min wall, once per machine, then
# the wheel cached in TESSEROCR_CACHE installs in about a second). Its source is Debian's
# Tesseract 5.3.0 (TESSEROCR_TESSERACT_SOURCE=debian, the default: the bookworm orig
# tarball from deb.debian.org, sha256 pinned, reachable wherever apt is), with
# scripts/tesseract_patches/*.patch applied (the LSTM's stride bookkeeping done directly,
# same output, less CPU: docs/benchmarks.md, "A patched network copy"). Measured against
# the PyPI wheel (docs/benchmarks.md, "Debian's 5.3.0 through CMake" and "The default
# build"): -3 % CPU per page, model loads 15-30x cheaper, -l auto 100-page peak RSS ~500 ->
# ~358 MB; 5.3.0 reads 5 of the 65 corpus samples differently from the wheel's 5.3.4, the
# category means within the issue-14 baseline's. TESSEROCR_TESSERACT_SOURCE=git builds the
# wheel's own 5.3.4 instead (the wheel's words exactly; needs Tesseract's Git repository or
# TESSEROCR_TESSERACT_GIT=file:///mirror). When the build fails (no network, a compiler
# error, the smoke test) the PyPI wheel stays (the failure is remembered in the cache, not
# retried). TESSEROCR=wheel keeps the PyPI wheel, or puts it back in place of a built one.
TESSEROCR ?= nolegacy
TESSEROCR_TESSERACT_SOURCE ?= debian
export TESSEROCR_TESSERACT_SOURCE
TESSEROCR_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ocrkit/wheels

# The test plugins are real distributions installed through their entry points, but into
# build/test-plugins (put on sys.path by tests/conftest.py), never into the venv that
# `make serve` uses: a user's server must not list a deliberately broken plugin.
TEST_PLUGINS := build/test-plugins
test-plugins: $(BIN)/python
	rm -rf $(TEST_PLUGINS)
	$(BIN)/pip install -q --no-deps --target $(TEST_PLUGINS) \
		tests/plugins/example_plugin tests/plugins/broken_plugin
	rm -rf tests/plugins/*/build

# pytest exits 5 when it collected nothing: that is a failure here, never a success.
test: install test-plugins
	OMP_THREAD_LIMIT=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
		rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The full load test (issue 9): 50 clients x 200 requests against one real server. The
# test suite runs the same test with 40 requests per client. Figures go to
# build/load-report.json.
test-load: install
	mkdir -p build
	OMP_THREAD_LIMIT=1 OCRKIT_LOAD_REQUESTS=$${OCRKIT_LOAD_REQUESTS:-200} \
		OCRKIT_LOAD_REPORT=build/load-report.json \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_load.py

check: install
	$(BIN)/ruff format --check ocrkit plugins tests
	$(BIN)/ruff check ocrkit plugins tests
	$(BIN)/mypy

serve: install
	$(BIN)/ocrkit serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

demo: install
	$(BIN)/ocrkit ocr $(CORPUS)/printed/tess_phototest.tif --format md

# make bench: speed, memory and accuracy against raw tesseract, OCRmyPDF and RapidOCR, in
# one run (about 15 minutes on 2 cores); results in bench/results/ (JSON, Markdown, PNG).
# OCRmyPDF lives in its own virtualenv: it pins recent pillow/pydantic.
OCRMYPDF_VENV := bench/.venv-ocrmypdf
$(OCRMYPDF_VENV)/bin/ocrmypdf:
	$(PY) -m venv $(OCRMYPDF_VENV)
	$(OCRMYPDF_VENV)/bin/pip install -q --upgrade pip
	$(OCRMYPDF_VENV)/bin/pip install -q ocrmypdf

# img2table (the tables section's comparison) also gets its own virtualenv: it pins
# its own OpenCV build (opencv-contrib-python), which must not replace ours.
IMG2TABLE_VENV := bench/.venv-img2table
$(IMG2TABLE_VENV)/bin/python:
	$(PY) -m venv $(IMG2TABLE_VENV)
	$(IMG2TABLE_VENV)/bin/pip install -q --upgrade pip
	$(IMG2TABLE_VENV)/bin/pip install -q img2table

# `install` already brings the bench extra (tests/test_bench.py runs the quick bench).
bench-deps: install $(OCRMYPDF_VENV)/bin/ocrmypdf $(IMG2TABLE_VENV)/bin/python

bench: bench-deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench.run $(BENCH_ARGS)

# A couple of minutes: a few pages per section, results in bench/work/quick/.
bench-quick: bench-deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench.run --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
