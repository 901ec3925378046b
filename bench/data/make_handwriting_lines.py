"""How ``handwriting_lines.json`` was made (run once; kept for provenance).

The corpus's full handwritten pages (``../shared/corpus/handwriting/*_page_*`` and the
two pages of ``pdf/scan_poilus_AN_0240``) come from two CC-BY-4.0 repositories that
ship ALTO XML with a box per ``TextLine`` (drawn by the datasets' annotators, not by
OCR). This script reads the ALTO files at the commits the corpus names and writes, per
sample, the lines in the ALTO order: their text (String CONTENT joined by spaces, as the
corpus truth was made) and the box ``[x0, y0, x1, y1]`` (HPOS, VPOS, HPOS+WIDTH,
VPOS+HEIGHT) in pixels of the corpus image, which is the same file (checked by hash).

    python bench/data/make_handwriting_lines.py POILUS_GIT_DIR STANFORD_GIT_DIR

Sources (CC-BY-4.0):
HTR-United/CREMMA-AN-TestamentsDePoilus@8ffa4a8cd40f691d68f188e2ed1c6458bf2d6ec9 and
PSL-Chartes-HTR-Students/HN2021-Memorials_Jane_Lathrop_Stanford
@9266adbc8aea6564b4b8447bcbe205ae1c1e87f2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

POILUS = "8ffa4a8cd40f691d68f188e2ed1c6458bf2d6ec9"
STANFORD = "9266adbc8aea6564b4b8447bcbe205ae1c1e87f2"
SAMPLES = {
    # corpus id (page index for a PDF) -> (repo key, path of the ALTO file)
    "poilus_page_AD78_0063-0": ("poilus", "data/batch-1/TestamentsDePoilus_will_AD78_0063-0.xml"),
    "poilus_page_AN_0001-0": ("poilus", "data/batch-1/TestamentsDePoilus_will_AN_0001-0.xml"),
    "poilus_page_AN_0057-0": ("poilus", "data/batch-1/TestamentsDePoilus_will_AN_0057-0.xml"),
    "poilus_page_AN_0079-0": ("poilus", "data/batch-1/TestamentsDePoilus_will_AN_0079-0.xml"),
    "poilus_page_AN_0218-0": ("poilus", "data/batch-2/TestamentsDePoilus_will_AN_0218-0.xml"),
    "poilus_page_AN_0232-0": ("poilus", "data/batch-1/TestamentsDePoilus_will_AN_0232-0.xml"),
    "scan_poilus_AN_0240#0": ("poilus", "data/batch-2/TestamentsDePoilus_will_AN_0240-0.xml"),
    "scan_poilus_AN_0240#1": ("poilus", "data/batch-2/TestamentsDePoilus_will_AN_0240-1.xml"),
    "stanford1905_page_SC0033B_s4_b01_f14_i093": (
        "stanford",
        "data/by_ingrid_guimaraes/PageX-LettreX/SC0033B_s4_b01_f14_i093.xml",
    ),
}


def lines_of(xml: bytes) -> dict:
    root = ET.fromstring(xml)
    ns = root.tag.split("}")[0] + "}"
    page = root.find(f".//{ns}Page")
    out = []
    for tl in root.iter(f"{ns}TextLine"):
        text = " ".join(s.get("CONTENT", "") for s in tl.iter(f"{ns}String")).strip()
        x, y = float(tl.get("HPOS")), float(tl.get("VPOS"))
        w, h = float(tl.get("WIDTH")), float(tl.get("HEIGHT"))
        out.append({"text": text, "box": [x, y, x + w, y + h]})
    return {"width": int(page.get("WIDTH")), "height": int(page.get("HEIGHT")), "lines": out}


def main() -> None:
    git = {"poilus": (sys.argv[1], POILUS), "stanford": (sys.argv[2], STANFORD)}
    result = {}
    for sid, (key, path) in SAMPLES.items():
        gdir, commit = git[key]
        xml = subprocess.run(
            ["git", "--git-dir", gdir, "show", f"{commit}:{path}"], capture_output=True, check=True
        ).stdout
        result[sid] = {"source": f"{key}@{commit}:{path}", **lines_of(xml)}
    out = Path(__file__).with_name("handwriting_lines.json")
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
