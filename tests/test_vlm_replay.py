"""bench/vlm_replay.py (issue 21): replaying ``build_result`` on captured inputs, with the
detector's regions from the cache, scores a page as the live pipeline did.

Real Tesseract, the real line detector, the stand-in model server over real HTTP
answering with the true text; one made handwriting-style page (bench/handpages.py) whose
line boxes are known.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import handpages, vlm_boxes, vlm_replay  # noqa: E402

pytestmark = pytest.mark.skipif(not handpages.fonts(), reason="no handwriting fonts")


def test_replay_of_a_made_page_scores_as_the_live_pipeline(tmp_path: Path) -> None:
    seed = handpages.held_out_seeds(1)[0]
    run = vlm_boxes.Runner()
    try:
        cache = vlm_replay.RegionCache(tmp_path / "regions.pkl")
        (rec,) = vlm_replay.capture([vlm_replay.made_page(seed)], run, cache)
    finally:
        run.close()
    live = rec["live"]
    assert live["lines"] >= 5 and live["ok"] >= 1  # a page with boxes to compare
    assert cache.misses >= 1 and (tmp_path / "regions.pkl").is_file()
    with vlm_replay.RegionCache(tmp_path / "regions.pkl") as again:
        page = vlm_replay.replay(rec)
    assert again.misses == 0  # the detector's model was not called again
    res = vlm_replay.score(rec, page)
    assert (res["ok"], res["lines"]) == (live["ok"], live["lines"])
    assert res["ious"] == live["ious"]


def test_held_out_sets_need_to_be_asked_for() -> None:
    assert "poilus-heldout" not in vlm_replay.chosen_sets(None, held_out=False)
    assert "poilus-heldout" not in vlm_replay.chosen_sets("all", held_out=False)
    with pytest.raises(SystemExit):
        vlm_replay.chosen_sets("poilus-tuning,poilus-heldout", held_out=False)
    assert vlm_replay.chosen_sets("poilus-heldout", held_out=True) == ["poilus-heldout"]


def test_category_sets_score_the_boxed_share_and_are_asked_for_by_name() -> None:
    """The corpus categories (printed, non-Latin, rotated, PDF) have no true line boxes:
    replayed, they count the boxed lines (the bench's boxed share per category), with
    every box kept for a box-for-box comparison; ``all`` does not take them in."""
    assert vlm_replay.chosen_sets("categories", held_out=False) == list(vlm_replay.CATEGORIES)
    assert not set(vlm_replay.CATEGORIES) & set(vlm_replay.chosen_sets("all", held_out=True))

    class Block:
        def __init__(self, bbox: list[float] | None) -> None:
            self.bbox, self.text = bbox, "a line"

    class Page:
        blocks = [Block([0.0, 0.0, 9.0, 9.0]), Block(None), Block([0.0, 10.0, 9.0, 19.0])]

    res = vlm_replay.score({"kind": "cat", "id": "x"}, Page())
    assert (res["ok"], res["lines"]) == (2, 3) and res["ious"][1] is None
    a = {"cat-printed": {"ok": 2, "lines": 3, "pages": {"x": {"ok": 2, "ious": res["ious"]}}}}
    moved = [[1.0, 0.0, 9.0, 9.0], None, [0.0, 10.0, 9.0, 19.0]]
    b = {"cat-printed": {"ok": 2, "lines": 3, "pages": {"x": {"ok": 2, "ious": moved}}}}
    assert "cat-printed x: 2 boxed both, 1 box(es) moved" in vlm_replay.compare(a, b)


def test_a_page_the_model_was_not_asked_about_counts_its_lines_as_missed() -> None:
    """A page found blank is not sent to the model, so ``build_result`` never runs: the
    capture keeps it (``not_asked``: its warnings) and the replay scores none of its
    lines as placed, as the bench does, instead of stopping (the fresh set's envelope
    AD78_0009-1 under the old blank guard)."""
    truth = {
        "width": 1000,
        "height": 800,
        "lines": [
            {"text": "Madame Guyot", "box": [100.0, 100.0, 600.0, 160.0]},
            {"text": "Sorel-le-Grand", "box": [120.0, 200.0, 640.0, 260.0]},
        ],
    }
    rec = {"kind": "poilus", "id": "blank", "truth": truth, "not_asked": ["blank page"]}
    page = vlm_replay.replay(rec)
    assert page.blocks == [] and page.warnings == ["blank page"]
    res = vlm_replay.score(rec, page)
    assert (res["ok"], res["lines"], res["ious"]) == (0, 2, [None, None])
