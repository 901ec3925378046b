"""``make bench``: speed, memory and accuracy of ocrkit against raw Tesseract, OCRmyPDF
and RapidOCR on the shared corpus (not shipped; see docs/benchmarks.md)."""
