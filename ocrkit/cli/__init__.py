"""The ``ocrkit`` command line: every click command of ocrkit lives in this package.

:mod:`~ocrkit.cli.group` holds the group, error handling and exit codes; ``ocr``/``export``
(:mod:`~ocrkit.cli.ocr`) and the listings (:mod:`~ocrkit.cli.views`) register on it when
imported here; ``serve``, ``worker``, ``accounts``/``tokens``, ``chat`` and ``languages``
are imported only when run (:data:`~ocrkit.cli.group.LAZY_COMMANDS`).
"""

from ocrkit.cli import ocr, views  # noqa: F401  (they register their commands on `cli`)
from ocrkit.cli.group import LAZY_COMMANDS, cli, main, run

__all__ = ["LAZY_COMMANDS", "cli", "main", "run"]
