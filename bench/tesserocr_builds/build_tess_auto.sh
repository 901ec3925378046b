#!/usr/bin/env bash
# usage: build_tess_auto.sh SRC PREFIX [configure args]: as scripts/tesserocr_nolegacy.sh does (autotools, -O3)
set -euo pipefail
src=$1; prefix=$2; shift 2
rm -rf "$prefix"
cd "$src"
./autogen.sh >/dev/null
./configure -q --prefix="$prefix" --disable-openmp --disable-static \
  --disable-doc --disable-graphics --without-curl --without-archive \
  --disable-tessdata-prefix CXXFLAGS="-O3 -fPIC" "$@" >/dev/null
nice -n 10 make -s -j2 libtesseract.la >/dev/null
make -s install-libLTLIBRARIES install-pkgincludeHEADERS install-pkgconfigDATA >/dev/null
