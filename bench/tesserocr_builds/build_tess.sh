#!/usr/bin/env bash
# usage: build_tess.sh SRC PREFIX [cmake args...]; CMake Release like the tesserocr wheel's
set -euo pipefail
src=$1; prefix=$2; shift 2
bdir=$prefix.cmake
rm -rf "$bdir" "$prefix"
cmake -S "$src" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DBUILD_SHARED_LIBS=ON -DOPENMP_BUILD=OFF -DBUILD_TRAINING_TOOLS=OFF -DGRAPHICS_DISABLED=ON \
  -DDISABLE_CURL=ON -DDISABLE_ARCHIVE=ON -DINSTALL_CONFIGS=OFF "$@"
nice -n 10 cmake --build "$bdir" -j2
nice -n 10 cmake --install "$bdir"
