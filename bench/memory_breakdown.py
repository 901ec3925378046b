"""Where the memory section's peak goes, process by process (issue 14).

    python -m bench.memory_breakdown [--pages 100] [--language auto] [--env K=V ...]

Runs ``ocrkit ocr PDF -q -j 2 -l LANG -f pdf`` on :func:`bench.run.build_memory_pdf`'s
scans under :class:`bench.run.RssSampler` (the bench's own figure: RSS and PSS summed
over the process tree, every 50 ms) and, beside it, reads each process's
``/proc/PID/smaps_rollup``: at the sample where the RSS sum peaked, every process's RSS,
PSS, private and shared MB (shared = pages another process maps too: library code the
two workers both run, or heap inherited from the parent at the fork). With
``--maps``, each process's largest mappings at its own highest RSS (``[heap]`` is
the workers' malloc heap: Tesseract's models and the page images).

CPU seconds are the process tree's (``RUSAGE_CHILDREN``), as COMMON.md asks.
``--env`` sets variables for the run (``MALLOC_MMAP_THRESHOLD_=1048576``...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.run import OCRKIT, RssSampler, build_memory_pdf, env1


def rollup(pid: int) -> dict[str, float]:
    """``smaps_rollup`` in MB (Rss, Pss, Private_Dirty, Shared_Clean, Anonymous...)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def top_maps(pid: int, n: int = 10) -> list[tuple[str, float, float, float]]:
    """The ``n`` largest mappings by RSS, each (name, rss, private, shared) in MB."""
    sizes: dict[str, list[float]] = {}
    name = "[anon]"
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            p = line.split()
            if not p:
                continue
            if "-" in p[0] and not p[0].endswith(":"):  # a mapping's header line
                name = p[5].rsplit("/", 1)[-1] if len(p) > 5 else "[anon]"
                continue
            row = sizes.setdefault(name, [0.0, 0.0, 0.0])
            kb = int(p[1]) / 1024 if len(p) > 1 and p[1].isdigit() else 0.0
            if p[0] == "Rss:":
                row[0] += kb
            elif p[0] in ("Private_Clean:", "Private_Dirty:"):
                row[1] += kb
            elif p[0] in ("Shared_Clean:", "Shared_Dirty:"):
                row[2] += kb
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1][0])[:n]
    return [(k, round(v[0], 1), round(v[1], 1), round(v[2], 1)) for k, v in ranked]


def measure(pdf: Path, language: str, env: dict[str, str], maps: bool) -> dict[str, Any]:
    out_pdf = pdf.with_name("memory-breakdown-out.pdf")
    cmd = [OCRKIT, "ocr", str(pdf), "-q", "-j", "2", "-l", language, "-f", "pdf"]
    cmd += ["-o", str(out_pdf)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    best: dict[str, Any] = {"sum": 0.0, "rows": []}
    highest: dict[int, tuple[float, str, list[Any]]] = {}
    stop = threading.Event()

    def watch() -> None:
        root = psutil.Process(proc.pid)
        k = 0
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                rows = []
                for p in [root, *root.children(recursive=True)]:
                    r = rollup(p.pid)
                    if r:
                        rows.append(("parent" if p.pid == proc.pid else "worker", p.pid, r))
                total = sum(r.get("Rss", 0.0) for _, _, r in rows)
                if total > best["sum"]:
                    best.update(sum=total, rows=rows, t=time.perf_counter() - t0)
                if maps and k % 10 == 0:
                    for role, pid, r in rows:
                        if r.get("Rss", 0.0) > highest.get(pid, (0.0,))[0]:
                            highest[pid] = (r["Rss"], role, top_maps(pid))
            k += 1
            stop.wait(0.05)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    with RssSampler(proc.pid, 0.05) as s:
        _, err = proc.communicate()
    stop.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    procs = [
        {
            "role": role,
            "rss_mb": round(r.get("Rss", 0.0), 1),
            "pss_mb": round(r.get("Pss", 0.0), 1),
            "private_mb": round(r.get("Private_Clean", 0.0) + r.get("Private_Dirty", 0.0), 1),
            "shared_mb": round(r.get("Shared_Clean", 0.0) + r.get("Shared_Dirty", 0.0), 1),
            "anonymous_mb": round(r.get("Anonymous", 0.0), 1),
        }
        for role, _, r in best["rows"]
    ]
    return {
        "language": language,
        "peak_rss_mb": round(s.peak / 2**20, 1),
        "peak_pss_mb": round(s.peak_pss / 2**20, 1),
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "at_peak": {"seconds": round(best.get("t", 0.0), 1), "processes": procs},
        "largest_mappings": [
            {"role": role, "rss_mb": round(rss, 1), "maps": m} for rss, role, m in highest.values()
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--language", default="auto")
    ap.add_argument("--env", action="append", default=[], help="K=V for the run")
    ap.add_argument("--maps", action="store_true", help="largest mappings per process")
    ap.add_argument("--work", default="bench/work/memory-breakdown")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    pdf = work / f"memory{args.pages}.pdf"
    if not pdf.exists():
        build_memory_pdf(args.pages, pdf)
    env = env1(**dict(kv.split("=", 1) for kv in args.env))
    json.dump(measure(pdf, args.language, env, args.maps), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
