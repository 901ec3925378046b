"""Package discovery: every package under ``ocrkit/`` (data folders such as
``server/static/swagger`` included) and, installed as ``ocrkit_plugins``, under
``plugins/`` (pyproject.toml maps the directory). Nothing else lives here."""

from setuptools import find_namespace_packages, setup

SKIP = ["*__pycache__*", "*.egg-info*"]

setup(
    packages=[
        *find_namespace_packages(include=["ocrkit", "ocrkit.*"], exclude=SKIP),
        "ocrkit_plugins",
        *(f"ocrkit_plugins.{name}" for name in find_namespace_packages("plugins", exclude=SKIP)),
    ]
)
