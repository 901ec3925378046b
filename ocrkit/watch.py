"""A watched folder: every file dropped into ``IN_DIR`` is OCR'd into ``OUT_DIR``.

This is what ``ocrkit watch IN_DIR OUT_DIR`` and ``ocrkit serve --watch IN_DIR:OUT_DIR``
run (both added by the built-in ``watch`` plugin through ``register_commands`` and
``register_services``). For scanners that write into a shared folder:

- **Waking up.** :mod:`watchfiles` (inotify) wakes the loop on changes; on network
  shares (NFS, SMB/CIFS, sshfs, 9p), where inotify sees nothing of other machines'
  writes, it polls instead (``poll=True`` forces it). Either way the folder is listed
  again at least every ``poll_interval`` seconds, so events are only wake-ups.
- **Waiting for the scanner.** A file is taken once its size and modification time
  have not changed for ``settle`` seconds. Hidden files (``.name``) and sub-folders
  are ignored.
- **Working.** Up to ``runners`` files at a time, each read with :func:`ocrkit.api.ocr`
  on the shared page-worker pool (a burst of 100 files queues there).
- **Publishing, crash-safe.** The outputs are written as hidden temp files in
  ``OUT_DIR`` (fsynced), then a journal entry names their final names and the input's
  destination (``IN_DIR/done/`` or ``IN_DIR/failed/``), then each temp is hard-linked
  to its final name (which never replaces an existing file: a clash takes ``name-2``),
  the input is moved, and the entry is deleted. After a crash the start-up recovery
  finishes every journal entry it finds and deletes temp files without one, so an input
  that was being read is read again from scratch, and each input ends with exactly one
  output set and one move. A failed input gets ``failed/<name>.error.txt`` with the
  reason (the CLI's message).
- **One watcher per folder.** ``IN_DIR/.ocrkit-watch/lock`` is held with ``flock`` for
  the watcher's life; a second watcher exits with a clear error.
- **One log line per file** (logger ``ocrkit.watch``): ``done NAME -> OUTPUTS`` or
  ``failed NAME: REASON``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrkit.errors import BadOption, ExitCode, OcrkitError

log = logging.getLogger("ocrkit.watch")

STATE_DIR = ".ocrkit-watch"
DONE, FAILED = "done", "failed"
TEMP_PREFIX = ".ocrkit-watch-"
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph", "davfs"}


class FolderLocked(OcrkitError):
    """Another watcher holds the folder."""

    exit_code = ExitCode.bad_args


@dataclass
class WatchOptions:
    """What to do with each file: the ``ocrkit ocr`` options and output formats."""

    formats: list[str] = field(default_factory=lambda: ["txt"])
    ocr: dict[str, Any] = field(default_factory=dict)  # engine, tier, language, tool, ...
    settle: float = 2.0
    poll: bool | None = None  # None: poll only on a network file system
    poll_interval: float = 1.0
    runners: int = 2


def folders_option(
    specs: tuple[str, ...] | list[str], formats: tuple[str, ...] | list[str], registry: Any
) -> list[tuple[Path, Path, WatchOptions]]:
    """``serve --watch IN_DIR:OUT_DIR`` values, checked (a clear error, never a traceback)."""
    out = []
    for spec in specs:
        in_dir, sep, out_dir = spec.rpartition(":")
        if not sep or not in_dir or not out_dir:
            raise BadOption(f"--watch takes IN_DIR:OUT_DIR, not {spec!r}")
        if not Path(in_dir).is_dir():
            raise BadOption(f"--watch: {in_dir}: no such folder")
        for fmt in formats:
            registry.exporter(fmt)
        options = WatchOptions(formats=list(formats) or ["txt"], runners=2)
        out.append((Path(in_dir), Path(out_dir), options))
    return out


def fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def link_no_replace(src: Path, dest: Path) -> bool:
    """Give ``src`` the name ``dest`` unless ``dest`` exists; remove ``src``. Returns
    False (and leaves ``src``) when ``dest`` is taken by another file. Hard links make
    this atomic; a file system without them (some SMB mounts) gets a checked rename."""
    try:
        os.link(src, dest)
    except FileExistsError:
        if dest.exists() and src.exists() and src.samefile(dest):
            src.unlink()  # linked before a crash, not yet unlinked
            return True
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if dest.exists():
            return False
        src.replace(dest)
        return True
    src.unlink()
    return True


def network_filesystem(path: Path) -> str | None:
    """The file-system type of ``path`` when it is a network one (from /proc/mounts)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype if fstype in NETWORK_FS else None


class FolderLock:
    """``flock`` on ``IN_DIR/.ocrkit-watch/lock``, released when the process dies."""

    def __init__(self, in_dir: Path) -> None:
        self.path = in_dir / STATE_DIR / "lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise FolderLocked(
                f"{self.path.parent.parent} is already watched by another ocrkit watch "
                f"(pid {holder}); one watcher per folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class Watcher:
    """Watches ``in_dir``; see the module docstring. Call :meth:`run` (blocks until
    ``stop`` is set) or :meth:`run_once` (until the folder is empty)."""

    def __init__(
        self,
        in_dir: Path,
        out_dir: Path,
        options: WatchOptions,
        *,
        executor: Executor | None = None,
        jobs: int | None = None,
        registry: Any = None,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        self.in_dir = Path(in_dir).resolve()
        self.out_dir = Path(out_dir).resolve()
        self.options = options
        self.executor = executor
        self.jobs = jobs
        self.registry = registry
        self.state = self.in_dir / STATE_DIR
        self.lock = FolderLock(self.in_dir)
        self.stop_event = threading.Event()
        self._seen: dict[str, tuple[int, int, float]] = {}
        self._busy: set[str] = set()
        self._failed_here: set[str] = set()
        self._publish_lock = threading.Lock()
        self._guard = threading.Lock()
        self._runners: ThreadPoolExecutor | None = None
        self._own_pool: Executor | None = None
        self._futures: list[Future[None]] = []
        self.processed = 0
        self._on_log = on_log

    # -- set-up -------------------------------------------------------------------------
    def check(self) -> None:
        """Folders exist and differ, formats and options are valid (before any work)."""
        from ocrkit.plugins import get_registry

        if not self.in_dir.is_dir():
            raise BadOption(f"{self.in_dir}: no such folder")
        if self.in_dir == self.out_dir:
            raise BadOption("IN_DIR and OUT_DIR must be different folders")
        if self.out_dir.parent == self.in_dir and self.out_dir.name in (DONE, FAILED):
            raise BadOption(f"OUT_DIR cannot be IN_DIR/{self.out_dir.name}")
        reg = self.registry or get_registry()
        for fmt in self.options.formats:
            reg.exporter(fmt)
        o = self.options.ocr
        if o.get("engine"):
            reg.engine(o["engine"])
        if o.get("tool"):
            reg.tool(o["tool"])
        if o.get("language") and o["language"] != "auto":
            from ocrkit.lang.codes import resolve

            resolve(o["language"])
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for sub in (DONE, FAILED):
                (self.in_dir / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise BadOption(f"cannot create folders: {exc.strerror or exc}") from None

    def start(self) -> None:
        """Check, lock the folder, finish what a previous run left half-done."""
        self.check()
        self.lock.acquire()
        self.recover()
        if self.executor is None and (self.jobs or 2) > 1:
            from ocrkit.pipeline.pages import make_executor

            self.executor = self._own_pool = make_executor(self.jobs)
        self._runners = ThreadPoolExecutor(
            max_workers=max(1, self.options.runners), thread_name_prefix="ocrkit-watch"
        )

    def close(self) -> None:
        self.stop_event.set()
        if self._runners is not None:
            if self._own_pool is not None:
                self._own_pool.shutdown(wait=False, cancel_futures=True)
            self._runners.shutdown(wait=True, cancel_futures=True)
            self._runners = None
        if self._own_pool is not None:
            self._own_pool.shutdown(wait=True, cancel_futures=True)
            self._own_pool = None
        self.lock.release()

    def recover(self) -> int:
        """Finish journal entries of a previous run; delete temp files without one
        (half-written journal entries included)."""
        n = 0
        for entry in sorted(self.state.glob("journal-*.json")):
            try:
                journal = json.loads(entry.read_text("utf-8"))
            except (OSError, ValueError):
                entry.unlink(missing_ok=True)  # written half: its temps go below
                continue
            self._complete(journal, entry, recovered=True)
            n += 1
        # A journal entry still a temp file was never committed (the rename is the
        # commit): its input was not published and is read again, like one with none.
        for half in self.state.glob("journal-*.part"):
            half.unlink(missing_ok=True)
        for folder in (self.out_dir, self.in_dir / FAILED):
            for tmp in folder.glob(TEMP_PREFIX + "*"):
                tmp.unlink(missing_ok=True)
        return n

    # -- the loop -----------------------------------------------------------------------
    def polling(self) -> bool:
        if self.options.poll is not None:
            return self.options.poll
        return network_filesystem(self.in_dir) is not None

    def candidates(self) -> list[Path]:
        """Files in ``in_dir`` ready to read: not hidden, not busy, settled."""
        now = time.monotonic()
        ready = []
        present = set()
        try:
            entries = list(os.scandir(self.in_dir))
        except OSError as exc:
            log.warning("cannot list %s: %s", self.in_dir, exc.strerror)
            return []
        for e in entries:
            if e.name.startswith(".") or not e.is_file(follow_symlinks=False):
                continue
            present.add(e.name)
            if e.name in self._busy:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            sig = (st.st_size, st.st_mtime_ns)
            prev = self._seen.get(e.name)
            if prev is None or prev[:2] != sig:
                self._seen[e.name] = (*sig, now)
                continue
            if now - prev[2] >= self.options.settle:
                ready.append(Path(e.path))
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return sorted(ready)

    def submit_ready(self) -> int:
        assert self._runners is not None, "start() first"
        n = 0
        for path in self.candidates():
            with self._guard:
                self._busy.add(path.name)
            self._futures.append(self._runners.submit(self._process_guarded, path))
            n += 1
        self._futures = [f for f in self._futures if not f.done()]
        return n

    def idle(self) -> bool:
        with self._guard:
            return not self._busy

    def run(self, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` (or :attr:`stop_event`) is set."""
        import watchfiles

        stop = stop or self.stop_event
        polling = self.polling()
        mode = "polling" if polling else "inotify"
        log.info("watching %s -> %s (%s)", self.in_dir, self.out_dir, mode)
        tick = max(0.05, min(self.options.poll_interval, self.options.settle / 2 or 0.5))
        self.submit_ready()
        for _changes in watchfiles.watch(
            self.in_dir,
            stop_event=stop,
            force_polling=polling,
            poll_delay_ms=int(self.options.poll_interval * 1000),
            rust_timeout=int(tick * 1000),
            yield_on_timeout=True,
            recursive=False,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            if stop.is_set() or self.stop_event.is_set():
                break
            self.submit_ready()

    def run_once(self, timeout: float | None = None) -> None:
        """Read every file in the folder (waiting for each to settle), then return."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stop_event.is_set():
            self.submit_ready()
            with self._guard:
                busy = bool(self._busy)
            waiting = any(
                not e.name.startswith(".") and e.is_file(follow_symlinks=False)
                for e in os.scandir(self.in_dir)
            )
            if not busy and not waiting:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(min(0.2, self.options.settle / 4 or 0.05))

    # -- one file -----------------------------------------------------------------------
    def _process_guarded(self, path: Path) -> None:
        try:
            self.process(path)
        except Exception:
            log.exception("watch: %s: unexpected failure; it stays in %s", path.name, self.in_dir)
            self._heal_pool()
        finally:
            with self._guard:
                self._busy.discard(path.name)
                self._seen.pop(path.name, None)

    def _heal_pool(self) -> None:
        """A page worker that died (the OOM killer, a crashing engine) breaks a process
        pool for good: replace our own pool so the file is read again next time."""
        with self._guard:
            pool = self._own_pool
            if pool is None or pool is not self.executor or not _pool_broken(pool):
                return
            from ocrkit.pipeline.pages import make_executor

            self.executor = self._own_pool = make_executor(self.jobs)
        log.warning("a page worker died; the worker pool was restarted")
        pool.shutdown(wait=False, cancel_futures=True)

    def process(self, path: Path) -> None:
        """OCR one input and publish its outputs (or its failure)."""
        from ocrkit import api

        if self.stop_event.is_set() or not path.is_file():
            return
        log.debug("reading %s", path.name)
        start = time.monotonic()
        o = dict(self.options.ocr)
        try:
            with tempfile.TemporaryDirectory(prefix="ocrkit-watch-") as tmp:
                images = None
                reg = self.registry
                if any(not self._exporter(f).is_text for f in self.options.formats):
                    images = Path(tmp) / "pages"
                job = api.ocr(
                    path,
                    images_dir=images,
                    executor=self.executor,
                    jobs=1 if self.executor is None else None,
                    registry=reg,
                    **o,
                )
                outputs = [
                    (fmt, api.export(job, fmt, source=path, images_dir=images, registry=reg))
                    for fmt in self.options.formats
                ]
        except OcrkitError as exc:
            if self.stop_event.is_set():
                return
            self._fail(path, exc.message, start)
            return
        except Exception as exc:
            if self.stop_event.is_set():
                return  # shutting down: left for the next start
            if _pool_broken(self.executor):
                raise  # not this file's fault: try it again next time
            self._fail(path, f"unexpected {type(exc).__name__}: {exc}", start)
            return
        if self.stop_event.is_set():
            return
        names = self._publish_ok(path, outputs)
        secs = time.monotonic() - start
        pages = len(job.pages)
        self._log(
            f"done {path.name} ({pages} page{'s' if pages != 1 else ''}, {secs:.1f} s) -> "
            + ", ".join(names)
        )

    def _exporter(self, fmt: str) -> Any:
        from ocrkit.plugins import get_registry

        return (self.registry or get_registry()).exporter(fmt)

    def _log(self, line: str) -> None:
        self.processed += 1
        log.info("%s", line)
        if self._on_log is not None:
            self._on_log(line)

    def _fail(self, path: Path, reason: str, start: float) -> None:
        with self._publish_lock:
            dest = _free_name(self.in_dir / FAILED, path.name)
            note = (
                f"{path.name}: {reason}\n"
                f"ocrkit {_version()} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
            ).encode()
            tmp = self.in_dir / FAILED / f"{TEMP_PREFIX}{uuidlib.uuid4().hex}.part"
            fsync_write(tmp, note)
            self._journal_and_complete(
                path, [(tmp, dest.with_name(dest.name + ".error.txt"))], dest
            )
        self._log(f"failed {path.name}: {reason} -> {FAILED}/{dest.name}")

    def _publish_ok(self, path: Path, outputs: list[tuple[str, bytes]]) -> list[str]:
        temps = []
        for fmt, data in outputs:
            tmp = self.out_dir / f"{TEMP_PREFIX}{uuidlib.uuid4().hex}.part"
            fsync_write(tmp, data)
            temps.append((fmt, tmp))
        exts = [(self._exporter(fmt).extension or fmt).lstrip(".") for fmt, _ in outputs]
        with self._publish_lock:
            finals = _free_set(self.out_dir, path.stem, exts)
            dest = _free_name(self.in_dir / DONE, path.name)
            pairs = [(tmp, final) for (_, tmp), final in zip(temps, finals, strict=True)]
            done = self._journal_and_complete(path, pairs, dest)
        return [p.name for p in done]

    def _journal_and_complete(
        self, path: Path, pairs: list[tuple[Path, Path]], dest: Path
    ) -> list[Path]:
        journal = {
            "input": path.name,
            "files": [[str(t), str(f)] for t, f in pairs],
            "move_to": str(dest),
        }
        entry = self.state / f"journal-{uuidlib.uuid4().hex}.json"
        tmp = entry.with_suffix(".part")
        fsync_write(tmp, json.dumps(journal).encode())
        tmp.replace(entry)
        _fsync_dir(self.state)
        return self._complete(journal, entry)

    def _complete(
        self, journal: dict[str, Any], entry: Path, recovered: bool = False
    ) -> list[Path]:
        """Carry out a journal entry; every step may already be done (a crash)."""
        finals = []
        for tmp_s, final_s in journal["files"]:
            tmp, final = Path(tmp_s), Path(final_s)
            if tmp.exists():
                while not link_no_replace(tmp, final):
                    final = _free_name(final.parent, final.name)  # taken meanwhile
            finals.append(final)
        src = self.in_dir / journal["input"]
        dest = Path(journal["move_to"])
        if src.exists():
            while not link_no_replace(src, dest):
                dest = _free_name(dest.parent, dest.name)
        _fsync_dir(self.out_dir)
        _fsync_dir(self.in_dir)
        entry.unlink(missing_ok=True)
        if recovered:
            self._log(
                f"done {journal['input']} (finished after a restart) -> "
                + ", ".join(f.name for f in finals)
            )
        return finals


def _pool_broken(executor: Executor | None) -> bool:
    return bool(getattr(executor, "_broken", False))


def _version() -> str:
    import ocrkit

    return ocrkit.__version__


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``stem-2.ext``, ``stem-3.ext``... the first free one."""
    path = folder / name
    if not path.exists():
        return path
    stem, dot, ext = name.partition(".")
    n = 2
    while True:
        cand = folder / (f"{stem}-{n}{dot}{ext}")
        if not cand.exists():
            return cand
        n += 1


def _free_set(folder: Path, stem: str, exts: list[str]) -> list[Path]:
    """``stem.ext`` for every ext, or ``stem-N.ext`` with the first N free for all."""
    n = 1
    while True:
        base = stem if n == 1 else f"{stem}-{n}"
        cands = [folder / f"{base}.{ext}" for ext in exts]
        if not any(c.exists() for c in cands):
            return cands
        n += 1
