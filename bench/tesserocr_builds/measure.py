"""One build's CPU per page and model-load CPU, in one process (tesserocr found on sys.path:
PYTHONPATH puts a built wheel's install dir in front of the venv's PyPI wheel).

    python measure.py OUT.json ROUNDS
"""
import hashlib, json, os, statistics, sys, time, resource
from pathlib import Path
from PIL import Image

CORPUS = Path("/work/shared/corpus/printed")
PAGES = ["ehri_de_et-wl1375b189_02.jpg", "ehri_en_bf-19380509b_en_01.jpg",
         "fondue_en_dracula_p51.png", "fondue_en_udolpho_p27.png", "fondue_en_udolpho_p29.png",
         "kovalewsky_fr_p69.jpg", "kovalewsky_fr_p71.jpg", "tess_eurotext.tif",
         "tess_phototest.tif", "unlv_8071_093.tif"]
SETS = ["eng", "deu", "spa+por+eng+fra+deu+ita"]

def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    import tesserocr
    from ocrkit_plugins.engines.tesseract import tesserocr_backend as tb, rawlines
    images = {}
    for name in PAGES:
        im = Image.open(CORPUS / name); im.load()
        images[name] = im.convert("L")
    res = {"tesserocr": tesserocr.__file__, "version": tesserocr.tesseract_version().split("\n")[0],
           "legacy": tb.legacy_engine(), "pages": {}, "load": {}, "tsv": {}}
    # model loads: create and end, each set, `rounds` times
    for r in range(rounds):
        for s in SETS:
            t = time.thread_time()
            api = tesserocr.PyTessBaseAPI(path=tb.tessdata_dir(), lang=s, psm=tesserocr.PSM.AUTO,
                                          oem=tesserocr.OEM.DEFAULT)
            res["load"].setdefault(s, []).append(time.thread_time() - t)
            api.End()
    tb.recognize_tsv(images[PAGES[-1]], ["eng"], 3, 300)  # warm: model resident, rawlines installed
    res["rawlines"] = rawlines.active()
    for r in range(rounds):
        for name in PAGES:
            t = time.thread_time()
            tsv = tb.recognize_tsv(images[name], ["eng"], 3, 300)
            res["pages"].setdefault(name, []).append(time.thread_time() - t)
            res["tsv"][name] = hashlib.sha1(tsv.encode()).hexdigest()[:12]
    res["loadavg"] = os.getloadavg()
    Path(out).write_text(json.dumps(res, indent=1))

if __name__ == "__main__":
    main()
