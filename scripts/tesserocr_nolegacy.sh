#!/usr/bin/env bash
# tesserocr built against a Tesseract without the legacy engine (issue 14), installed into
# the venv in place of the PyPI wheel.
#
#   scripts/tesserocr_nolegacy.sh VENV_PYTHON CACHE_DIR [nolegacy|wheel]
#
# Why: the PyPI wheel's Tesseract is compiled with the legacy engine, and such a build
# makes every language it loads carry the legacy classifier's start-up state (universal
# ambiguities, adaptive templates: ~9.5 MB per language, whatever the OEM), which
# ocrkit's LSTM-only models never use. Under `-l auto` a page worker holds 7 languages.
# docs/benchmarks.md ("Where `-l auto`'s memory goes") has the numbers.
#
# What: Debian's own Tesseract source (the version of the installed tesseract-ocr, from
# the deb-src index through a private apt list: the system's apt sources are not
# touched), configured with --disable-legacy (and without OpenMP, as the PyPI wheel),
# only the library built; then the tesserocr sdist of the version pip installed, built
# against it with Debian's Leptonica, its libtesseract copied into the wheel
# (tesserocr.libs/, found through the extension's RPATH, as the PyPI wheel does). The
# wheel's version carries "+nolegacy.<key>" (key: this script, the tesserocr, Tesseract
# and Leptonica versions, the Python): a cached wheel with the same key is installed
# without building (seconds); anything else is rebuilt (about 15 CPU minutes).
#
# Exits non-zero on any failure, leaving the venv's tesserocr as it was: `make install`
# then keeps the PyPI wheel. With `wheel` (make install TESSEROCR=wheel) it only puts the
# PyPI wheel back in place of a built one.
set -euo pipefail

PY=${1:?usage: $0 VENV_PYTHON CACHE_DIR}
CACHE=${2:?usage: $0 VENV_PYTHON CACHE_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${TESSEROCR_WORK:-$ROOT/build/tesserocr-nolegacy}
say() { echo "tesserocr-nolegacy: $*" >&2; }

installed=$("$PY" -c 'import importlib.metadata as m; print(m.version("tesserocr"))')
base=${installed%%+*}
if [ "${3:-nolegacy}" = wheel ]; then  # TESSEROCR=wheel: the PyPI wheel, as pip chose it
	if [ "$installed" != "$base" ]; then
		"$PY" -m pip install -q --no-deps --force-reinstall "tesserocr==$base" >&2
		say "tesserocr $installed replaced by the PyPI wheel $base"
	fi
	exit 0
fi
tess_deb=$(dpkg-query -W -f='${Version}' tesseract-ocr)
lept_deb=$(dpkg-query -W -f='${Version}' liblept5)
pytag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
key=$({ cat "$0" "$ROOT/scripts/tesserocr_nolegacy_patch.py"; echo "$base $tess_deb $lept_deb $pytag $(uname -m)"; } | sha256sum | cut -c1-10)
version="$base+nolegacy.$key"

if [ "$installed" = "$version" ]; then
	say "tesserocr $version already installed"
	exit 0
fi
build() {
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	# build tools and Leptonica's headers (libleptonica-dev matches the installed liblept5)
	if ! dpkg -s g++ make autoconf automake libtool pkg-config libleptonica-dev >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
			g++ make autoconf automake libtool pkg-config libleptonica-dev >&2
	fi
	rm -rf "$WORK"
	mkdir -p "$WORK/apt/lists/partial" "$WORK/src"
	# Debian's source index through a private list: no deb-src line added to the system.
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	echo "deb-src http://deb.debian.org/debian $codename main" >"$WORK/apt/sources.list"
	apt_opts=(-q -o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache")
	apt-get "${apt_opts[@]}" update >&2
	(cd "$WORK/src" && apt-get "${apt_opts[@]}" source --download-only "tesseract=$tess_deb" >&2)
	tar -xzf "$WORK"/src/tesseract_*.orig.tar.gz -C "$WORK/src"
	src=$(find "$WORK/src" -maxdepth 1 -type d -name 'tesseract-*' | head -n 1)
	prefix="$WORK/prefix"
	jobs=$(nproc)
	(
		cd "$src"
		./autogen.sh >/dev/null
		# No OpenMP (as the PyPI wheel: ocrkit runs one thread per worker), no training
		# tools, no curl/libarchive (files are read by ocrkit), shared library only. -O3
		# as the wheel's CMake release build (-O2, Debian's: 3.52-3.67 against 3.51-3.55
		# CPU s on 3 pages, the same TSV).
		./configure -q --prefix="$prefix" --disable-legacy --disable-openmp --disable-static \
			--disable-doc --disable-graphics --without-curl --without-archive \
			--disable-tessdata-prefix CXXFLAGS="-O3 -fPIC" >/dev/null
		make -s -j"$jobs" libtesseract.la >/dev/null
		make -s install-libLTLIBRARIES install-pkgincludeHEADERS install-pkgconfigDATA >/dev/null
	)
	# tesserocr's sdist (setuptools + Cython < 3.1, as its setup.py asks) in a build venv
	"$PY" -m venv "$WORK/venv"
	bpy="$WORK/venv/bin/python"
	"$bpy" -m pip install -q 'Cython>=0.23,<3.1' setuptools wheel >&2
	"$bpy" -m pip download -q --no-deps --no-binary :all: "tesserocr==$base" -d "$WORK/sdist" >&2
	tar -xzf "$WORK"/sdist/tesserocr-*.tar.gz -C "$WORK/sdist"
	tsrc=$(find "$WORK/sdist" -maxdepth 1 -type d -name 'tesserocr-*' | head -n 1)
	"$bpy" "$ROOT/scripts/tesserocr_nolegacy_patch.py" "$tsrc/tesserocr/tesserocr.pyx" "$version"
	# The extension finds libtesseract in tesserocr.libs/ beside it (RPATH, searched before
	# LD_LIBRARY_PATH, so the system's libtesseract with the legacy engine never stands in).
	(cd "$tsrc" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
		CFLAGS="-O2" LDFLAGS="-Wl,--disable-new-dtags,-rpath,\$ORIGIN/../tesserocr.libs" \
		"$bpy" -m pip wheel -q --no-build-isolation --no-deps . -w "$WORK/dist" >&2)
	built=$(find "$WORK/dist" -name "tesserocr-$version-*.whl" | head -n 1)
	"$bpy" -m wheel unpack -d "$WORK/unpacked" "$built" >&2
	tree="$WORK/unpacked/tesserocr-$version"
	mkdir -p "$tree/tesserocr.libs"
	soname=$(objdump -p "$prefix/lib/libtesseract.so" | awk '/SONAME/ {print $2}')
	cp -L "$prefix/lib/libtesseract.so" "$tree/tesserocr.libs/$soname"
	strip --strip-unneeded "$tree/tesserocr.libs/$soname" "$tree"/tesserocr/*.so
	rm -f "$built"
	"$bpy" -m wheel pack -d "$WORK/dist" "$tree" >&2
	built=$(find "$WORK/dist" -name "tesserocr-$version-*.whl" | head -n 1)
	cp "$built" "$CACHE/.$(basename "$built").tmp"
	mv "$CACHE/.$(basename "$built").tmp" "$CACHE/$(basename "$built")"
}

mkdir -p "$CACHE"
failed="$CACHE/tesserocr-$version.failed"
if [ -e "$failed" ]; then
	say "an earlier build with this key failed ($failed, its log inside): not retried;"
	say "delete that file to try again"
	exit 1
fi
wheel=$(find "$CACHE" -maxdepth 1 -name "tesserocr-$version-*.whl" | head -n 1)
if [ -z "$wheel" ]; then
	say "building tesserocr $base against Tesseract $tess_deb without the legacy engine"
	say "(once per machine; log in $WORK.log)"
	started=$SECONDS
	mkdir -p "$(dirname "$WORK")"
	# (not inside an `if`: bash would ignore set -e in the whole build)
	set +e
	(
		set -euo pipefail
		build
	) >"$WORK.log" 2>&1
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		cp "$WORK.log" "$failed"
		tail -n 20 "$WORK.log" >&2
		exit 1
	fi
	wheel=$(find "$CACHE" -maxdepth 1 -name "tesserocr-$version-*.whl" | head -n 1)
	say "built $(basename "$wheel") in $((SECONDS - started)) s"
fi

"$PY" -m pip install -q --no-deps --force-reinstall "$wheel" >&2
# Smoke test: the library loads a model and reads a made line of text; else put the
# PyPI wheel back.
if ! "$PY" - <<-'EOF'; then
	import tesserocr
	from PIL import Image, ImageDraw, ImageFont
	from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb

	img = Image.new("L", (400, 60), 255)
	font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
	ImageDraw.Draw(img).text((10, 12), "HELLO 42", fill=0, font=font)
	text = tb.recognize_tsv(img, ["eng"], 7, 300)
	assert "HELLO" in text, text
	assert not tb.legacy_engine(), "libtesseract still has the legacy engine"
	EOF
	say "smoke test failed: putting tesserocr==$base from PyPI back"
	"$PY" -m pip install -q --no-deps --force-reinstall "tesserocr==$base" >&2
	echo "smoke test failed with $wheel" >"$failed"
	rm -f "$wheel"
	exit 1
fi
say "tesserocr $version installed"
