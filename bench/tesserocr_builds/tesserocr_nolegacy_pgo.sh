#!/usr/bin/env bash
# MEASUREMENT TOOL, not what `make install` runs (issue 14, branch i14pgo): the default
# build script with profile-guided optimisation, kept for docs/benchmarks.md
# ("Profile-guided build"). It read byte-identically and saved ~1-2 % CPU per call (within
# the noise), at twice the build time, so the default build does not use it.
#   bench/tesserocr_builds/tesserocr_nolegacy_pgo.sh VENV_PYTHON CACHE_DIR
# The variant is pgo.patch beside this file, applied to scripts/tesserocr_nolegacy.sh (as
# of main b7c3b94; regenerated on branch i14nn, which added the Tesseract source patches)
# into build/pgo/ and run from there; it installs the wheel it built into VENV_PYTHON's
# venv, as the default script does. `patch` refuses when the default script
# has moved on: then the patch needs refreshing, not a second copy of the script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$root/build/pgo"
out="$root/build/pgo/tesserocr_nolegacy_pgo.sh"
patch --quiet --output="$out" "$root/scripts/tesserocr_nolegacy.sh" "$here/pgo.patch"
chmod +x "$out"
exec "$out" "$@"
