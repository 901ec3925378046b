"""Every corpus sample (bench.languages' set) read straight through tesserocr_backend.recognize_tsv
(grey, PSM 3, 300 dpi; PDFs rendered at 300 dpi) with its right language, and Latin ones also
with auto's re-read set spa+por+eng+fra+deu+ita: word text per line, its CER and a hash.
    python corpus_tsv.py OUT.jsonl"""
import hashlib, json, os, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["OMP_THREAD_LIMIT"] = "1"
from PIL import Image
from bench import languages as L
from ocrkit.eval.textmetrics import cer
from ocrkit.lang import codes, script_of
from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb
SET6 = ["spa", "por", "eng", "fra", "deu", "ita"]

def images(path):
    if path.suffix.lower() == ".pdf":
        import pymupdf
        for page in pymupdf.open(path):
            pix = page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
            yield Image.frombytes("L", (pix.width, pix.height), pix.samples)
    else:
        im = Image.open(path); im.load(); yield im.convert("L")

def text_of(tsv):
    lines, key = [], None
    for row in tsv.splitlines()[1:]:
        c = row.split("\t")
        if c[0] != "5" or len(c) < 12: continue
        k = tuple(c[2:5])
        if k != key: lines.append([]); key = k
        lines[-1].append(c[11])
    return "\n".join(" ".join(l) for l in lines)

out = Path(sys.argv[1])
with out.open("w") as f:
    for s in L.corpus_samples():
        truth = Path(s["truth"]).read_text(encoding="utf-8")
        langs = codes.resolve(s["language"])
        row = {"id": s["id"], "category": s["category"]}
        sets = {"right": langs}
        if all(script_of(c) == "Latin" for c in langs):
            sets["set6"] = SET6
        pages = list(images(Path(s["file"])))
        for key, ls in sets.items():
            tsvs = [tb.recognize_tsv(im, ls, 3, 300) for im in pages]
            text = "\f".join(text_of(t) for t in tsvs)
            row[key] = {"cer": round(cer(truth, text, transcription_marks=True), 4),
                        "sha": hashlib.sha1("".join(tsvs).encode()).hexdigest()[:12]}
        f.write(json.dumps(row) + "\n"); f.flush()
