"""Shared fixtures: the corpus, pages rendered from known text, the registry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The metric (NFKC, folded quotes/dashes, whitespace collapsed; character edits over the
# truth's length) is ocrkit.textmetrics's: tests, autobench and `make bench` agree.
from ocrkit.eval.textmetrics import cer, normalise  # noqa: F401  (used by the tests)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# The example and broken plugins are installed (`make test-plugins`) into their own
# directory; put it on the path of this process and of every subprocess a test starts.
TEST_PLUGINS = ROOT / "build" / "test-plugins"
if TEST_PLUGINS.is_dir():
    sys.path.insert(0, str(TEST_PLUGINS))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TEST_PLUGINS), os.environ.get("PYTHONPATH", "")) if p
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}; set OCRKIT_CORPUS")
    return CORPUS


@pytest.fixture
def render_page(tmp_path: Path) -> Callable[..., Path]:
    """Render lines of known text to an image file (exact truth, free)."""

    def make(
        lines: list[str],
        name: str = "page.png",
        size: tuple[int, int] = (1700, 2200),
        font_size: int = 40,
        dpi: int = 200,
    ) -> Path:
        from PIL import Image, ImageDraw, ImageFont

        img = Image.new("L", size, 255)
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(FONT, font_size)
        y = 150
        for line in lines:
            draw.text((150, y), line, font=font, fill=0)
            y += int(font_size * 1.8)
        out = tmp_path / name
        img.save(out, dpi=(dpi, dpi))
        return out

    return make
