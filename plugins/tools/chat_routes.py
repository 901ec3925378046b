"""Built-in plugin: the chat routes of ``ocrkit serve`` (see :mod:`ocrkit.chat.routes`).

Added through ``register_routes`` like any third-party route; the handlers and the
retrieval code are imported only when the server builds its routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ocrkit import hookimpl

if TYPE_CHECKING:  # `ocrkit --help` imports every plugin module: keep Starlette out
    from starlette.routing import BaseRoute


@hookimpl
def register_routes(register: Callable[[BaseRoute], None]) -> None:
    from ocrkit.chat.routes import routes

    for route in routes():
        register(route)
