"""The ``register_services`` hook: services a plugin runs beside ``ocrkit serve``.

A real service here: a folder watcher that OCRs each PNG dropped into a folder with the
server's registry and settings (real Tesseract) and writes the text beside it. The
server's lifespan starts it and stops it; a service that fails to start is left out
and the server keeps answering.
"""

from __future__ import annotations

import threading
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

import ocrkit
from ocrkit.hookspecs import Service, ServiceContext
from ocrkit.plugins import build_registry, get_plugin_manager
from ocrkit.settings import load_settings

with warnings.catch_warnings():  # starlette warns that httpx is deprecated for its client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


class FolderWatcher(Service):
    name = "folder-watcher"
    description = "OCR every PNG dropped into a folder"

    def __init__(self, folder: Path, events: list[str]) -> None:
        self.folder = folder
        self.events = events
        self.context: ServiceContext | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, context: ServiceContext) -> None:
        self.context = context
        self.events.append("watcher started")
        self._thread = threading.Thread(target=self._run, name="folder-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.context is not None
        while not self._stop.is_set():
            for png in sorted(self.folder.glob("*.png")):
                out = png.with_suffix(".txt")
                if out.exists():
                    continue
                job = ocrkit.ocr(
                    png,
                    language="eng",
                    jobs=1,
                    registry=self.context.registry,
                    settings=self.context.settings,
                )
                out.write_text(job.text, encoding="utf-8")
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.events.append("watcher stopped")


class Refuses(Service):
    name = "refuses"
    description = "cannot start"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def start(self, context: ServiceContext) -> None:
        self.events.append("refuses tried")
        raise RuntimeError("no port free")

    def stop(self) -> None:  # never started, so never stopped
        self.events.append("refuses stopped")


def plugin_with(*services: Service) -> types.ModuleType:
    module = types.ModuleType("services_plugin")

    @ocrkit.hookimpl
    def register_services(register: Callable[[Service], None]) -> None:
        for s in services:
            register(s)

    module.register_services = register_services  # type: ignore[attr-defined]
    return module


def page_png(path: Path, text: str) -> None:
    img = Image.new("L", (900, 160), 255)
    ImageDraw.Draw(img).text((40, 50), text, fill=0, font=ImageFont.truetype(FONT, 40))
    img.save(path, dpi=(300, 300))


def serve(tmp_path: Path, plugin: types.ModuleType) -> Any:
    from ocrkit.server.app import create_app

    settings = load_settings(env={}, data_dir=tmp_path / "data", workers=1)
    registry = build_registry(get_plugin_manager(extra_plugins=[plugin]))
    return settings, TestClient(create_app(settings, registry, warm_workers=False))


def test_register_services_runs_a_service_for_the_servers_life(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events: list[str] = []
    watcher = FolderWatcher(inbox, events)
    settings, client = serve(tmp_path, plugin_with(watcher))
    assert events == []  # building the app starts nothing
    with client:
        assert events == ["watcher started"]
        assert watcher.context is not None
        assert watcher.context.settings is settings
        assert "tesseract" in watcher.context.registry.engines
        page_png(inbox / "note.png", "Harbour board minutes")
        deadline = time.monotonic() + 120
        while not (inbox / "note.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Harbour board minutes" in (inbox / "note.txt").read_text(encoding="utf-8")
        assert client.get("/api/v1/health").status_code == 200
    assert events == ["watcher started", "watcher stopped"]
    assert watcher._thread is not None and not watcher._thread.is_alive()


def test_register_services_a_failing_service_is_left_out(tmp_path: Path) -> None:
    events: list[str] = []
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _, client = serve(tmp_path, plugin_with(Refuses(events), FolderWatcher(inbox, events)))
    with client:
        assert events == ["refuses tried", "watcher started"]
        assert client.get("/api/v1/health").status_code == 200
        assert [s.name for s in client.app.state.ocrkit.services] == ["folder-watcher"]  # type: ignore[attr-defined]
    assert events == ["refuses tried", "watcher started", "watcher stopped"]


def test_register_services_rejects_what_is_not_a_service() -> None:
    module = types.ModuleType("bad_services")

    @ocrkit.hookimpl
    def register_services(register: Callable[[Any], None]) -> None:
        register(object())

    module.register_services = register_services  # type: ignore[attr-defined]
    reg = build_registry(get_plugin_manager(extra_plugins=[module]))
    assert reg.services == {}
    assert any("register_services" in f.error for f in reg.failures)
