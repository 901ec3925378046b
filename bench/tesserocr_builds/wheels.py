"""One tesserocr wheel in one process: the captured Tesseract calls of the throughput pages
(``python -m bench.tesslevers capture``) replayed through ``recognize_tsv``, thread CPU per
call and a TSV hash per call, and each model set's load CPU and heap (glibc ``mallinfo2``:
in-use arena + mmapped bytes) and RSS per API object held. Which wheel: the venv's, or
one installed with ``pip install --target DIR tesserocr==X`` and put in front through
``PYTHONPATH=DIR`` (issue 14, branch ``i14tess55``).

    python bench/tesserocr_builds/wheels.py OUT.json ROUNDS [CALLS.pkl]
"""

import ctypes
import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["OMP_THREAD_LIMIT"] = "1"
SETS = ["eng", "deu", "spa+por+eng+fra+deu+ita"]


class Mallinfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = Mallinfo2


def heap_mb() -> float:
    m = _libc.mallinfo2()
    return (m.uordblks + m.hblkhd) / 2**20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    out, rounds = sys.argv[1], int(sys.argv[2])
    calls_path = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/ocrkit-tesslevers-calls.pkl")
    import tesserocr
    from ocrkit_plugins.engines.tesseract import rawlines
    from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb
    from PIL import Image

    res: dict = {
        "tesserocr": tesserocr.__version__,
        "file": tesserocr.__file__,
        "tesseract": tesserocr.tesseract_version().split("\n")[0],
        "legacy": tb.legacy_engine(),
        "load": {},
        "heap": {},
        "rss": {},
        "calls": [],
        "tsv": [],
    }
    rawlines.install()
    res["rawlines"] = rawlines.active()
    # model loads: each set made and held (heap and RSS growth), then ended; `rounds` times
    for _r in range(rounds):
        for s in SETS:
            h0, r0 = heap_mb(), rss_mb()
            t = time.thread_time()
            api = tesserocr.PyTessBaseAPI(
                path=tb.tessdata_dir(), lang=s, psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.DEFAULT
            )
            res["load"].setdefault(s, []).append(round(time.thread_time() - t, 4))
            res["heap"].setdefault(s, []).append(round(heap_mb() - h0, 2))
            res["rss"].setdefault(s, []).append(round(rss_mb() - r0, 2))
            api.End()
    with calls_path.open("rb") as f:
        calls = pickle.load(f)
    images = [(Image.frombytes(m, s, px), langs, p, d, tsv) for m, s, px, langs, p, d, tsv in calls]
    tb.recognize_tsv(images[-1][0], images[-1][1], images[-1][2], images[-1][3])  # warm
    per_call: list[list[float]] = [[] for _ in images]
    for _r in range(rounds):
        for i, (im, langs, p, d, _tsv) in enumerate(images):
            t = time.thread_time()
            tsv = tb.recognize_tsv(im, langs, p, d)
            per_call[i].append(round(time.thread_time() - t, 4))
            if _r == 0:
                res["tsv"].append(hashlib.sha1(tsv.encode()).hexdigest()[:12])
                res.setdefault("as_captured", []).append(tsv == _tsv)
    res["calls"] = per_call
    res["loadavg"] = os.getloadavg()
    Path(out).write_text(json.dumps(res, indent=1))
    tot = [sum(c[r] for c in per_call) for r in range(rounds)]
    print(
        f"{res['tesserocr']} ({res['tesseract']}, legacy {res['legacy']}, rawlines"
        f" {res['rawlines']}): rounds {[round(x, 2) for x in tot]} CPU s /{len(images)} calls;"
        f" load ms {[round(1000 * min(v)) for v in res['load'].values()]};"
        f" heap MB {[min(v) for v in res['heap'].values()]}; loadavg {res['loadavg'][0]:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
