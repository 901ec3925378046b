"""Package discovery: every package under ``ocrkit/`` and, installed as ``ocrkit_plugins``,
under ``plugins/`` (pyproject.toml maps the directory). Nothing else lives here."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["ocrkit", "ocrkit.*"]),
        "ocrkit_plugins",
        *(f"ocrkit_plugins.{name}" for name in find_packages("plugins")),
    ]
)
