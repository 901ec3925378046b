"""Languages: codes (:mod:`~ocrkit.lang.codes`, every accepted spelling to Tesseract's
name, what is installed) and detection (:mod:`~ocrkit.lang.detect`, which languages a
page's text is in).

Plugins may import the names re-exported here (see docs/plugins.md). The codes table
sits below the settings (they validate ``default_language`` with it), so the one
function that reads the settings lives here.
"""

from ocrkit.lang.codes import require_tesseract, resolve, script_of, tesseract_languages, to_iso

__all__ = [
    "default_languages",
    "require_tesseract",
    "resolve",
    "script_of",
    "tesseract_languages",
    "to_iso",
]


def default_languages() -> list[str]:
    """The languages used for ``auto``: the ``default_language`` setting in force
    (``OCRKIT_DEFAULT_LANGUAGE`` or the config file; default ``eng``)."""
    from ocrkit import settings  # not at import: `ocrkit ocr --help` needs no settings

    return resolve(settings.current().default_language or "eng")
