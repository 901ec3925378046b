"""The whole command, A/B between tesserocr builds (issue 14, branch ``i14pgo``): CPU s of
the process tree of ``ocrkit ocr scan20.pdf -q -j 1 -l eng -f txt`` with each build put in
front by ``PYTHONPATH=SITE`` (``pip install --target SITE WHEEL``), interleaved with raw
``tesseract IMG stdout -l eng`` one process per page (``OMP_THREAD_LIMIT=1``), as
``bench/run.py`` runs both (its PDF builder and page list), and the ratio per build.

    python bench/tesserocr_builds/cmd_cpu.py OUT.json ROUNDS NAME=SITE [NAME=SITE...]
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.run import build_pdf, manifest, throughput_pages  # noqa: E402


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = children_cpu()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return children_cpu() - t


def main() -> None:
    out, rounds = Path(sys.argv[1]), int(sys.argv[2])
    builds = dict(a.split("=", 1) for a in sys.argv[3:])
    pages = throughput_pages(manifest(), 20)
    ocrkit = str(Path(sys.executable).with_name("ocrkit"))
    base = dict(os.environ, OMP_THREAD_LIMIT="1")
    res: dict = {"rounds": [], "pages": len(pages)}
    with tempfile.TemporaryDirectory() as tmp:
        pdf = build_pdf(pages, Path(tmp) / "scan20.pdf")
        for r in range(rounds):
            row: dict = {"loadavg": os.getloadavg()[0]}
            order = list(builds.items()) if r % 2 == 0 else list(builds.items())[::-1]
            for name, site in order:
                env = dict(base, PYTHONPATH=site)
                row[name] = timed([ocrkit, "ocr", str(pdf), "-q", "-j", "1", "-l", "eng", "-f", "txt"], env) / len(pages)
                if name == order[0][0]:
                    row["tesseract"] = sum(
                        timed(["tesseract", str(p), "stdout", "-l", "eng"], base) for p in pages
                    ) / len(pages)
            res["rounds"].append(row)
            print(json.dumps(row), flush=True)
    summ = {}
    for name in [*builds, "tesseract"]:
        v = [row[name] for row in res["rounds"]]
        summ[name] = {"mean": statistics.mean(v), "min": min(v), "median": statistics.median(v)}
    t = summ["tesseract"]["mean"]
    for name in builds:
        summ[name]["ratio_to_tesseract"] = summ[name]["mean"] / t
    res["summary"] = summ
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(summ, indent=1))


if __name__ == "__main__":
    main()
