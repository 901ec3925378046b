#!/usr/bin/env bash
# usage: build_tesserocr.sh PREFIX SITE [legacy]: tesserocr 2.8.0 against PREFIX's libtesseract, into SITE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=$1; site=$2; mode=${3:-nolegacy}
work=$site.build; rm -rf "$work" "$site"; mkdir -p "$work" "$site"
tar -xzf "$here"/sdist/tesserocr-2.8.0.tar.gz -C "$work"
tsrc="$work/tesserocr-2.8.0"
if [ "$mode" = nolegacy ]; then
  "$here/bvenv/bin/python" "$here/../../scripts/tesserocr_nolegacy_patch.py" "$tsrc/tesserocr/tesserocr.pyx" "2.8.0+local"
fi
pc=$(dirname "$(find "$prefix" -name tesseract.pc | head -1)")
(cd "$tsrc" && PKG_CONFIG_PATH="$pc" CFLAGS="-O2" LDFLAGS="-Wl,--disable-new-dtags,-rpath,$(dirname "$pc")" \
  nice -n 10 "$here/bvenv/bin/python" -m pip wheel -q --no-build-isolation --no-deps . -w "$work/dist")
"$here/bvenv/bin/python" -m pip install -q --no-deps --target "$site" "$work"/dist/*.whl
ldd "$site"/tesserocr/*.so | grep -E 'tess|lept'
