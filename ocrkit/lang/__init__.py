"""Languages: codes (:mod:`~ocrkit.lang.codes`, every accepted spelling to Tesseract's
name, what is installed) and detection (:mod:`~ocrkit.lang.detect`, which languages a
page's text is in).

Plugins may import the names re-exported here (see docs/plugins.md)."""

from ocrkit.lang.codes import (
    default_languages,
    require_tesseract,
    resolve,
    tesseract_languages,
    to_iso,
)

__all__ = ["default_languages", "require_tesseract", "resolve", "tesseract_languages", "to_iso"]
