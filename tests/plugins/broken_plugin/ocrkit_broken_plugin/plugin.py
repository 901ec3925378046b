"""Imports a module that does not exist, as a plugin with a missing dependency would."""

import ocrkit_example_missing_dependency  # noqa: F401

from ocrkit import hookimpl


@hookimpl
def register_engines(register):  # never reached
    raise AssertionError("unreachable")
