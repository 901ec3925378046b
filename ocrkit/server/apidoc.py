"""Describing an operation next to its handler (as starlette's ``schemas.py`` does with
docstrings): ``@operation({...})`` puts the OpenAPI operation on the endpoint, and
:mod:`ocrkit.server.openapi` reads it from every route the app serves. An operation that
depends on what is installed (formats, tools, engines) is a function of the registry.

Route modules (the job routes, chat's, the web page's) import this module and
:mod:`ocrkit.server.context`, nothing else of the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ocrkit.plugins import Registry

F = TypeVar("F", bound=Callable[..., Any])
Spec = dict[str, Any] | Callable[["Registry"], dict[str, Any]]
J = "application/json"


def operation(spec: Spec) -> Callable[[F], F]:
    """Declare the OpenAPI operation of the decorated endpoint (a dict, or a function of
    the registry returning one)."""

    def mark(endpoint: F) -> F:
        endpoint.openapi = spec  # type: ignore[attr-defined]
        return endpoint

    return mark


def described(endpoint: Any, registry: Registry) -> dict[str, Any] | None:
    """The operation declared on ``endpoint``, or None (a plugin's route)."""
    spec = getattr(endpoint, "openapi", None)
    if spec is None:
        return None
    return spec(registry) if callable(spec) else dict(spec)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {J: {"schema": schema}}}


def error(description: str) -> dict[str, Any]:
    return json_response(ref("Error"), description)


UUID = {"name": "uuid", "in": "path", "required": True, "schema": {"type": "string"}}
AUTH_ERRORS = {
    "401": error("Unknown or revoked API token"),
    "429": json_response(ref("RetryLater"), "Too many failed authentications (Retry-After header)"),
}
JOB_ERRORS = {**AUTH_ERRORS, "404": error("Unknown job (or another account's)")}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
STR_LIST = {"type": "array", "items": STR}


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object with these properties (all required unless ``required`` says)."""
    return {
        "type": "object",
        "required": list(props) if required is None else required,
        "properties": props,
    }
