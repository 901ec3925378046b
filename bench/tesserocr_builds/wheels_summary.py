"""Summary of ``wheels.py`` runs: per wheel, the mean over the calls of each call's minimum
and median CPU over all its processes' rounds, each interleaved pair's change (a process
of each wheel run one after the other), model-load CPU and heap, TSV identity.

    python wheels_summary.py 'build/w/b*-*.json' [BASE_VERSION]
"""

import collections
import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    pattern = sys.argv[1]
    base_v = sys.argv[2] if len(sys.argv) > 2 else "2.8.0"
    runs = collections.defaultdict(list)
    for f in sorted(Path().glob(pattern)):
        d = json.loads(f.read_text())
        d["_file"] = str(f)
        runs[d["tesserocr"]].append(d)
    stats = {}
    for v, ds in sorted(runs.items()):
        n = len(ds[0]["calls"])
        per = [[x for d in ds for x in d["calls"][i]] for i in range(n)]
        stats[v] = (
            sum(min(p) for p in per) / n,
            sum(statistics.median(p) for p in per) / n,
        )
    bmin, bmed = stats[base_v]
    for v, ds in sorted(runs.items()):
        mn, md = stats[v]
        loads = {
            s: (
                round(1000 * min(x for d in ds for x in d["load"][s])),
                round(1000 * statistics.median([x for d in ds for x in d["load"][s]])),
            )
            for s in ds[0]["load"]
        }
        heap = {s: min(x for d in ds for x in d["heap"][s]) for s in ds[0]["heap"]}
        same = sum(a == b for a, b in zip(ds[0]["tsv"], runs[base_v][0]["tsv"], strict=True))
        print(
            f"{v} ({ds[0]['tesseract']}): {len(ds)} processes; CPU s per call min {mn:.4f}"
            f" ({100 * (mn / bmin - 1):+.1f} %), median {md:.4f} ({100 * (md / bmed - 1):+.1f} %);"
            f" load ms min/median {loads}; heap MB {heap}; TSV identical to {base_v}:"
            f" {same}/{len(ds[0]['tsv'])}; load average"
            f" {min(d['loadavg'][0] for d in ds):.1f}-{max(d['loadavg'][0] for d in ds):.1f}"
        )

    # pairs: same batch tag and run number, base against each other version
    def key(d):
        name = d["_file"].rsplit("/", 1)[1]
        tag, _v, i = name[:-5].split("-")
        return tag, i

    for v in runs:
        if v == base_v:
            continue
        base = {key(d): d for d in runs[base_v]}
        ch = []
        for d in runs[v]:
            b = base.get(key(d))
            if b is None:
                continue
            sb = sum(min(c) for c in b["calls"])
            sv = sum(min(c) for c in d["calls"])
            ch.append(100 * (sv / sb - 1))
        if ch:
            print(
                f"{v} vs {base_v}, {len(ch)} interleaved pairs (each process's sum of per-call"
                f" minima): {sorted(round(c, 1) for c in ch)}; mean {statistics.mean(ch):+.1f} %,"
                f" median {statistics.median(ch):+.1f} %; faster in {sum(c < 0 for c in ch)}"
            )


if __name__ == "__main__":
    main()
