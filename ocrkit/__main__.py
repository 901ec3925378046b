"""``python -m ocrkit``: the same as the ``ocrkit`` command."""

from ocrkit.cli import main

if __name__ == "__main__":
    main()
