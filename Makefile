# ocrkit: `make serve` runs the API on the embedded default; `make test` runs the tests.
# Both install what they need (Debian packages included) on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TESS_LANGS := eng deu fra osd ara chi-sim jpn rus hin ita spa por
# More Tesseract languages: `make system-deps LANGS="nld ukr chi_tra"` (Tesseract names;
# `ocrkit languages --all` lists them with their Debian packages).
LANGS ?=
APT_PKGS := tesseract-ocr $(addprefix tesseract-ocr-,$(TESS_LANGS) $(subst _,-,$(LANGS))) fonts-dejavu-core fonts-noto-cjk
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
	$(BIN)/pip install -q -e '.[rapidocr,test,scale,bench]'
	@# rapidocr pulls opencv-python; keep only the headless build so exactly one cv2 exists.
	@if $(BIN)/pip show -q opencv-python >/dev/null 2>&1; then \
		$(BIN)/pip uninstall -q -y opencv-python && \
		$(BIN)/pip install -q --force-reinstall --no-deps opencv-python-headless; fi

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

# `install` already brings the bench extra (tests/test_bench.py runs the quick bench).
bench-deps: install $(OCRMYPDF_VENV)/bin/ocrmypdf

bench: bench-deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench.run $(BENCH_ARGS)

# A couple of minutes: a few pages per section, results in bench/work/quick/.
bench-quick: bench-deps
	OMP_THREAD_LIMIT=1 $(BIN)/python -m bench.run --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
