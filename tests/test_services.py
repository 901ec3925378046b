"""The ``register_services`` hook: services run for the lifetime of ``ocrkit serve``."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ocrkit
from ocrkit.hookspecs import Service
from ocrkit.plugins import build_registry, get_plugin_manager


class Recorder(Service):
    name = "recorder"
    description = "records its lifespan"

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        # the server's state is up before services start
        self.events.append(f"start store={app.state.ocrkit.store is not None}")
        try:
            yield
        finally:
            self.events.append("stop")


class Broken(Service):
    name = "broken"

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        raise RuntimeError("cannot start")
        yield  # pragma: no cover


def test_register_services_runs_for_the_server_lifetime(tmp_path: Path) -> None:
    from ocrkit.server.app import create_app, plugin_services
    from ocrkit.settings import load_settings

    events: list[str] = []

    class Plugin:
        @ocrkit.hookimpl
        def register_services(self, register: Any) -> None:
            register(Broken())  # a failing service is logged and skipped
            register(Recorder(events))

    registry = build_registry(get_plugin_manager(extra_plugins=[Plugin()]))
    names = [s.name for s in plugin_services(registry)]
    assert {"watch", "mcp"} <= set(names), "the built-in services come through the hook"
    assert names.index("broken") + 1 == names.index("recorder"), names
    app = create_app(load_settings(data_dir=tmp_path / "data"), registry, warm_workers=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with TestClient(app) as client:
        assert events == ["start store=True"]
        assert client.get("/api/v1/health").status_code == 200
    assert events == ["start store=True", "stop"]


def test_register_services_rejects_what_is_not_a_service() -> None:
    from ocrkit.server.app import plugin_services

    class Plugin:
        @ocrkit.hookimpl
        def register_services(self, register: Any) -> None:
            register(object())

    registry = build_registry(get_plugin_manager(extra_plugins=[Plugin()]))
    assert "recorder" not in [s.name for s in plugin_services(registry)]
