"""RSS of one process holding eng + the 6-model set (as a page worker under -l auto)."""
import json, sys, resource
from pathlib import Path
from PIL import Image

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

import tesserocr
from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb
r0 = rss()
a = tesserocr.PyTessBaseAPI(path=tb.tessdata_dir(), lang="eng", psm=3, oem=3)
r1 = rss()
b = tesserocr.PyTessBaseAPI(path=tb.tessdata_dir(), lang="spa+por+eng+fra+deu+ita", psm=3, oem=3)
r2 = rss()
print(json.dumps({"import": round(r0, 1), "eng": round(r1 - r0, 1), "set6": round(r2 - r1, 1),
                  "total": round(r2, 1), "legacy": tb.legacy_engine(),
                  "version": tesserocr.tesseract_version().split("\n")[0]}))
