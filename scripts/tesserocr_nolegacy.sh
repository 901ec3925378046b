#!/usr/bin/env bash
# tesserocr built against a Tesseract without the legacy engine (issue 14), installed into
# the venv in place of the PyPI wheel.
#
#   scripts/tesserocr_nolegacy.sh VENV_PYTHON CACHE_DIR [nolegacy|wheel|key]
#
# (`key` prints the wheel version, with its cache key, that `nolegacy` would build or
# install, and does nothing else.)
#
# Why: the PyPI wheel's Tesseract is compiled with the legacy engine, and such a build
# makes every language it loads carry the legacy classifier's start-up state (universal
# ambiguities, adaptive templates: ~9.5 MB per language, whatever the OEM), which
# ocrkit's LSTM-only models never use. Under `-l auto` a page worker holds 7 languages.
# docs/benchmarks.md ("Where `-l auto`'s memory goes") has the numbers.
#
# What: Tesseract's own source at the version the PyPI wheel bundles (5.3.4 for tesserocr
# 2.8.0), cloned from its Git repository at that tag and checked against the commit pinned
# below (TESSEROCR_TESSERACT_GIT names another repository or mirror, e.g. file:///path),
# built as the wheel builds it (CMake, Release, shared library, no OpenMP) but with
# DISABLED_LEGACY_ENGINE=ON and link-time optimisation, library only; then the tesserocr sdist of the version pip
# installed, built against it with Debian's Leptonica, its libtesseract copied into the
# wheel (tesserocr.libs/, found through the extension's RPATH, as the PyPI wheel does).
# The same version and build as the wheel's read the corpus as the wheel does, at its CPU
# per page (docs/benchmarks.md; Debian's 5.3.0 source built with autotools did neither).
# TESSEROCR_TESSERACT_SOURCE=debian (issue 14, branch i14deb530) takes Tesseract 5.3.0
# from Debian's archive instead (the bookworm orig tarball, sha256 pinned below; reachable
# where GitHub is not; TESSEROCR_DEBIAN_MIRROR names another mirror), built with the same
# CMake flags: a different version from the wheel's, see docs/benchmarks.md ("Debian's
# 5.3.0 through CMake") for how it reads and what it costs.
# The wheel's version carries "+nolegacy.<key>" (key: this script, the tesserocr,
# Tesseract and Leptonica versions, the Python): a cached wheel with the same key is
# installed without building (seconds); anything else is rebuilt (about 4 CPU minutes).
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
# The Tesseract the PyPI wheel bundles, and its release commit upstream. Read from the
# installed tesserocr: a wheel built by this script keeps the same version; one built by
# an older one (Debian's 5.3.0) has none pinned, and the PyPI wheel is put back to ask it.
tesseract_version() { "$PY" -c 'import tesserocr; print(tesserocr.tesseract_version().split()[1])'; }
pinned() {
	case "$1" in
	5.3.4) echo 8ee020e14cf5be4e3f0e9beb09b6b050a1871854 ;;
	esac
}
source=${TESSEROCR_TESSERACT_SOURCE:-git}
# Debian's archive: the orig tarball of bookworm's tesseract 5.3.0-2 (its .dsc's sha256)
deb_version=5.3.0
deb_sha256=7e70870f8341e5ea228af2836ce79a36eefa11b01b56177b4a8997f330c014b8
deb_url=${TESSEROCR_DEBIAN_MIRROR:-http://deb.debian.org/debian}/pool/main/t/tesseract/tesseract_${deb_version}.orig.tar.gz
case "$source" in
git | debian) ;;
*)
	say "TESSEROCR_TESSERACT_SOURCE=$source: git or debian"
	exit 1
	;;
esac
tess_version=$(tesseract_version)
if [ "$source" = debian ]; then
	tess_version=$deb_version
elif [ -z "$(pinned "$tess_version")" ] && [ "$installed" != "$base" ]; then
	if [ "${3:-nolegacy}" = key ]; then # `key` changes nothing
		say "key: the Git source's key needs the PyPI wheel installed, not $installed"
		exit 1
	fi
	"$PY" -m pip install -q --no-deps --force-reinstall "tesserocr==$base" >&2
	installed=$base
	tess_version=$(tesseract_version)
fi
if [ "$source" = debian ]; then
	tess_commit="debian-orig-$deb_sha256"
else
	tess_commit=$(pinned "$tess_version")
fi
if [ -z "$tess_commit" ]; then
	say "no pinned commit for Tesseract $tess_version (tesserocr $base): add it to $0"
	exit 1
fi
tess_git=${TESSEROCR_TESSERACT_GIT:-https://github.com/tesseract-ocr/tesseract.git}
lept_deb=$(dpkg-query -W -f='${Version}' liblept5)
pytag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
# Tesseract's CMake options: as the wheel builds it (Release: -O3, symbols hidden but the
# API's) plus DISABLED_LEGACY_ENGINE; no OpenMP (ocrkit runs one thread per worker), no
# training tools, no curl/libarchive (ocrkit reads the files), no ScrollView; and
# link-time optimisation (ENABLE_LTO: -flto), which inlines the LSTM's small helpers across
# source files (StrideMap::Index, NetworkIO's copies): without it this build costs ~3 % CPU
# per page more than the wheel, with it less (docs/benchmarks.md). Generic x86-64 code as
# the wheel's, never -march=native: a cached wheel must run on any CPU of the same arch
# (Tesseract picks its AVX/FMA dot products at run time).
tess_cmake=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DDISABLED_LEGACY_ENGINE=ON
	-DENABLE_LTO=ON -DENABLE_NATIVE=OFF -DOPENMP_BUILD=OFF -DBUILD_TRAINING_TOOLS=OFF
	-DGRAPHICS_DISABLED=ON -DDISABLE_CURL=ON -DDISABLE_ARCHIVE=ON -DINSTALL_CONFIGS=OFF)
# 5.3.0's CMake has no ENABLE_NATIVE: it compiles dotproduct.cpp with -march=native when
# the compiler takes it; stating the check's answer keeps that file generic x86-64 too.
if [ "$source" = debian ]; then
	tess_cmake=("${tess_cmake[@]/-DENABLE_NATIVE=OFF/-DCOMPILER_SUPPORTS_MARCH_NATIVE=OFF}")
fi
# Source patches to Tesseract (issue 14, branch i14nn): scripts/tesseract_patches/*.patch,
# applied in name order with `patch -p1` before CMake, to Debian's 5.3.0 (the source they
# were written and checked against; the Git source builds unpatched). lstm-copies.patch:
# the LSTM forward pass's stride bookkeeping done directly, the same values computed
# (docs/benchmarks.md, "A patched network copy"). lstm-gates.patch (branch i14gate): the
# LSTM's Tanh/Logistic four at a time and the int8 max-pool, without a branch per value,
# the same values (docs/benchmarks.md, "The LSTM's activations without a branch"). A patch
# that does not apply fails the build, which keeps the PyPI wheel.
tess_patches=()
if [ "$source" = debian ]; then
	for p in "$ROOT"/scripts/tesseract_patches/*.patch; do
		if [ -e "$p" ]; then tess_patches+=("$p"); fi
	done
fi
# The key names everything the wheel depends on, the build flags and the patches included
# (they are in this script or its folder, and written out too so that the key changes with
# them).
key=$({ cat "$0" "$ROOT/scripts/tesserocr_nolegacy_patch.py" ${tess_patches[@]+"${tess_patches[@]}"}; echo "$base $tess_version $tess_commit $lept_deb $pytag $(uname -m)"; echo "${tess_cmake[*]}"; } | sha256sum | cut -c1-10)
version="$base+nolegacy.$key"
if [ "${3:-nolegacy}" = key ]; then # the version this would build or install, nothing done
	echo "$version"
	exit 0
fi

if [ "$installed" = "$version" ]; then
	say "tesserocr $version already installed"
	exit 0
fi
build() {
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	# build tools and Leptonica's headers (libleptonica-dev matches the installed liblept5)
	# (and curl for Debian's tarball)
	tools=(g++ make cmake git pkg-config libleptonica-dev patch)
	if [ "$source" = debian ]; then tools+=(curl); fi
	if ! dpkg -s "${tools[@]}" >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
			"${tools[@]}" >&2
	fi
	rm -rf "$WORK"
	mkdir -p "$WORK"
	src="$WORK/tesseract-$tess_version"
	if [ "$source" = debian ]; then
		curl -sSfL --retry 3 -o "$WORK/orig.tar.gz" "$deb_url"
		got=$(sha256sum "$WORK/orig.tar.gz" | cut -d' ' -f1)
		if [ "$got" != "$deb_sha256" ]; then
			say "$deb_url has sha256 $got, not $deb_sha256"
			return 1
		fi
		tar -xzf "$WORK/orig.tar.gz" -C "$WORK"
	else
		git -c advice.detachedHead=false clone -q --depth 1 --branch "$tess_version" "$tess_git" "$src" >&2
		got=$(git -C "$src" rev-parse HEAD)
		if [ "$got" != "$tess_commit" ]; then
			say "Tesseract $tess_version from $tess_git is commit $got, not $tess_commit"
			return 1
		fi
	fi
	for p in ${tess_patches[@]+"${tess_patches[@]}"}; do
		say "applying $(basename "$p") to Tesseract's source"
		patch -p1 --forward --batch -d "$src" <"$p" >&2
	done
	prefix="$WORK/prefix"
	cmake -S "$src" -B "$WORK/cmake" -DCMAKE_INSTALL_PREFIX="$prefix" "${tess_cmake[@]}" \
		>"$WORK/cmake.log"
	# ENABLE_LTO is dropped silently when the compiler cannot do it: then this is not the
	# build the key names (nor the measured one), so fail and keep the PyPI wheel
	if ! grep -q "Link-time optimization: TRUE" "$WORK/cmake.log"; then
		say "CMake turned link-time optimisation off (a compiler without LTO support?)"
		return 1
	fi
	cmake --build "$WORK/cmake" -j"$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" >/dev/null
	cmake --install "$WORK/cmake" >/dev/null
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
	(cd "$tsrc" && PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name tesseract.pc | head -n 1)")" \
		CFLAGS="-O2" LDFLAGS="-Wl,--disable-new-dtags,-rpath,\$ORIGIN/../tesserocr.libs" \
		"$bpy" -m pip wheel -q --no-build-isolation --no-deps . -w "$WORK/dist" >&2)
	built=$(find "$WORK/dist" -name "tesserocr-$version-*.whl" | head -n 1)
	"$bpy" -m wheel unpack -d "$WORK/unpacked" "$built" >&2
	tree="$WORK/unpacked/tesserocr-$version"
	mkdir -p "$tree/tesserocr.libs"
	lib=$(find "$prefix" -name libtesseract.so | head -n 1)
	soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
	cp -L "$lib" "$tree/tesserocr.libs/$soname"
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
	say "building tesserocr $base against Tesseract $tess_version without the legacy engine"
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
