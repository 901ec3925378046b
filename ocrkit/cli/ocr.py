"""``ocrkit ocr`` and ``ocrkit export``."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ocrkit.cli.files import (
    Input,
    choose_format,
    expand_inputs,
    output_paths,
    read_job_file,
    read_stdin,
    refuse_binary_tty,
    write_output,
)
from ocrkit.cli.group import (
    PartialFailure,
    RegistryOption,
    _registry,
    cli,
    debug_enabled,
    protected,
    warn_failed_plugins,
)
from ocrkit.errors import BadInput, BadOption, ExportFailed, OcrkitError
from ocrkit.pipeline.progress import Progress

if TYPE_CHECKING:
    from ocrkit.models import Page
    from ocrkit.plugins import Registry

log = logging.getLogger("ocrkit.cli")


@dataclass
class OcrRun:
    """What ``ocrkit ocr`` does for each input."""

    reg: Registry
    fmt: str
    ocr_options: dict[str, Any]
    export_options: dict[str, Any]
    progress: Progress
    quiet: bool
    save_job: Path | None = None

    def one(self, item: Input, dest: str | Path) -> None:
        import tempfile  # not at import (shutil, random, bz2, lzma): `ocr --help`

        from ocrkit import api

        with tempfile.TemporaryDirectory(prefix="ocrkit-") as tmp:
            if item.path is None:
                path = Path(tmp) / "stdin"
                path.write_bytes(read_stdin())
            elif not item.path.is_file():
                raise BadInput(f"{item.path}: no such file")
            else:
                path = item.path
            images_dir = None
            # A PDF's page images are not kept: the pdf exporter lays its text over the
            # PDF's own pages, and other exporters get a page rendered again on demand
            # (api.render_source_page). A PNG per page cost ~0.3 s of CPU for nothing.
            if not self.reg.exporter(self.fmt).is_text and not _is_pdf(path):
                images_dir = Path(tmp) / "pages"
                images_dir.mkdir()
            self.progress.start(item.name)

            def started(pages: int) -> None:
                log.debug("%s: %d page(s) to read", item.name, pages)
                self.progress.set_total(pages)

            def page_done(page: Page) -> None:
                log.info(
                    "%s: page %d: engine %s, %d line(s)",
                    item.name,
                    page.index + 1,
                    page.engine or "none (text layer)",
                    len(page.blocks),
                )
                seconds = getattr(page, "wall_seconds", None)
                if seconds is not None:
                    log.debug("%s: page %d took %.2f s", item.name, page.index + 1, seconds)
                self.progress.page_done(page)

            job = api.ocr(
                path,
                filename=item.path.name if item.path else None,
                images_dir=images_dir,
                on_start=started,
                on_page=page_done,
                registry=self.reg,
                # nothing written shows them: no language identification per text page
                detect_languages=self.save_job is not None
                or self.reg.exporter(self.fmt).uses_detected_languages,
                **self.ocr_options,
            )
            if not self.quiet:
                for warning in job.warnings:
                    self.progress.message(f"ocrkit: warning: {item.name}: {warning}")
            data = api.export(
                job,
                self.fmt,
                source=path,
                images_dir=images_dir,
                options=self.export_options,
                registry=self.reg,
            )
        if self.save_job is not None:
            text = json.dumps(job.to_dict(), ensure_ascii=False, indent=2) + "\n"
            write_output(text.encode("utf-8"), self.save_job)
        write_output(data, dest)


def _is_pdf(path: Path) -> bool:
    from ocrkit.page.inputs import sniff_file

    try:
        return sniff_file(path) == "pdf"
    except (OSError, OcrkitError):
        return False  # api.ocr reports it


@cli.command("ocr")
@click.argument("inputs", nargs=-1, metavar="[FILE|DIR|-]...")
@click.option(
    "--engine",
    "-e",
    cls=RegistryOption,
    kind="engines",
    metavar="NAME",
    help="OCR engine (default: the tier's best available; see `ocrkit engines`).",
)
@click.option(
    "--tier",
    type=click.Choice(["cpu", "vlm"]),
    default="cpu",
    show_default=True,
    help="cpu: fast, printed text. vlm: an AI model (handwriting, complex layout).",
)
@click.option(
    "--language",
    "-l",
    default="auto",
    show_default=True,
    metavar="LANG",
    help="auto, or codes such as en, deu, chi_sim joined with '+'.",
)
@click.option(
    "--tool",
    "-t",
    cls=RegistryOption,
    kind="tools",
    metavar="NAME",
    help="Apply a tool's preset and post-processing (see `ocrkit tools`).",
)
@click.option("--translate-to", metavar="LANG", help="Target language for the translate tool.")
@click.option(
    "--format",
    "-f",
    "fmt",
    cls=RegistryOption,
    kind="exporters",
    metavar="FORMAT",
    help="Output format (default: from -o's extension, else txt).",
)
@click.option(
    "--output",
    "-o",
    metavar="OUT|-",
    help="Output file, - for stdout (default), or a directory for several inputs.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="Page-worker processes (default: one per core; 1 runs in-process).",
)
@click.option(
    "--engine-option",
    "engine_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the engine, repeatable (Tesseract: psm=6, "
    "c=tessedit_char_whitelist=0123456789; `ocrkit engines --json` lists each engine's).",
)
@click.option("--force-ocr", is_flag=True, help="OCR PDF pages even when they have a text layer.")
@click.option(
    "--dpi",
    type=click.IntRange(50, 1200),
    metavar="N",
    help="Resolution for rendering PDF pages (default: OCRKIT_DPI or 300).",
)
@click.option("--pages", metavar="RANGES", help="Pages to read, e.g. 1-3,7 (1-based).")
@click.option("--password", metavar="PASSWORD", help="Password of a protected PDF.")
@click.option(
    "--keep-active-content",
    is_flag=True,
    help="pdf: keep the input's JavaScript, open actions, javascript: links and embedded "
    "files (removed by default).",
)
@click.option("--table", metavar="N|all", help="csv: which table to write (default: 1).")
@click.option(
    "--save-job",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="JOB.json",
    help="Also save the job as JSON (re-export it later with `ocrkit export`).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no warnings on stderr.")
@protected
def ocr_command(
    inputs: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    table: str | None,
    keep_active_content: bool,
    save_job: Path | None,
    quiet: bool,
    **opts: Any,
) -> None:
    """OCR images and PDFs: text on stdout, or files with -o.

    FILE may be PNG, JPEG, WEBP, GIF, BMP, TIFF or PDF (the type is read from the
    bytes); - or no FILE reads standard input. With several inputs or a directory,
    -o names a directory that gets one output per input; a bad input is reported and
    skipped, and the exit code is then 8 (partial).
    """
    reg = _registry()
    if not quiet:
        warn_failed_plugins(reg)
    from ocrkit.pipeline.plan import JobOptions, plan
    from ocrkit.settings import load_settings

    settings = load_settings()
    if opts["dpi"] is None:
        opts["dpi"] = settings.dpi
    # Every option checked once, before any input is read (api.ocr plans each input the
    # same way).
    plan_keys = (
        "engine",
        "tier",
        "language",
        "tool",
        "translate_to",
        "dpi",
        "force_ocr",
        "engine_options",
    )
    plan(JobOptions.from_call(**{k: opts[k] for k in plan_keys}), reg, settings)
    items, to_dir = expand_inputs(inputs)
    if output and output != "-" and (Path(output).is_dir() or output.endswith(os.sep)):
        to_dir = True
    fmt = choose_format(reg, fmt, output, to_dir)
    if opts["dpi"] is None:
        from ocrkit.settings import load_settings

        opts["dpi"] = load_settings().dpi
    export_options: dict[str, Any] = {"table": table} if table else {}
    if keep_active_content:
        export_options["keep_active_content"] = True
    run = OcrRun(reg, fmt, opts, export_options, Progress(False), quiet)
    if not to_dir:
        refuse_binary_tty(reg, fmt, output)
        run.save_job = save_job
        with Progress(None if not quiet else False) as run.progress:
            run.one(items[0], output or "-")
        return
    if not output or output == "-":
        raise BadOption("several inputs (or a directory) need -o DIR: one output per input")
    if save_job:
        raise BadOption("--save-job takes a single input (use --format json -o DIR instead)")
    outdir = Path(output)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportFailed(f"cannot create output directory {outdir}: {exc.strerror}") from None
    if not items:
        raise BadInput(f"no files found in {', '.join(inputs)}")
    extension = reg.exporter(fmt).extension.lstrip(".") or fmt
    failed = 0
    with Progress(None if not quiet else False) as run.progress:
        for item, dest in zip(items, output_paths(items, outdir, extension), strict=True):
            try:
                run.one(item, dest)
            except OcrkitError as exc:
                if len(items) == 1:  # `-o DIR/` with one input: its own error and code
                    raise
                failed += 1
                run.progress.message(f"ocrkit: error: {item.path or item.name}: {exc.message}")
            except Exception as exc:  # a bug on one file must not lose the others
                failed += 1
                if debug_enabled():
                    import traceback

                    traceback.print_exc()
                run.progress.message(
                    f"ocrkit: error: {item.path}: unexpected {type(exc).__name__}: {exc}"
                )
    if failed:
        raise PartialFailure(f"{failed} of {len(items)} inputs failed; the others are in {outdir}")


@cli.command("export")
@click.argument("job_file", default="-", metavar="JOB.json|-")
@click.option(
    "--format",
    "-f",
    "fmt",
    cls=RegistryOption,
    kind="exporters",
    metavar="FORMAT",
    help="Output format (default: from -o's extension, else txt).",
)
@click.option("--output", "-o", default="-", metavar="OUT|-", help="Output file or - (stdout).")
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    metavar="ORIGINAL",
    help="The original input (the pdf format needs it to keep the pages).",
)
@click.option(
    "--keep-active-content",
    is_flag=True,
    help="pdf: keep the input's JavaScript, open actions, javascript: links and embedded "
    "files (removed by default).",
)
@click.option("--table", metavar="N|all", help="csv: which table to write (default: 1).")
@protected
def export_command(
    job_file: str,
    fmt: str | None,
    output: str,
    source: Path | None,
    table: str | None,
    keep_active_content: bool,
) -> None:
    """Export a saved job (the json format of `ocrkit ocr`) again, without OCR."""
    from ocrkit import api

    reg = _registry()
    fmt = choose_format(reg, fmt, output, False)
    refuse_binary_tty(reg, fmt, output)
    job = read_job_file(job_file)
    if source is not None and not source.is_file():
        raise BadInput(f"{source}: no such file")
    options: dict[str, Any] = {"table": table} if table else {}
    if keep_active_content:
        options["keep_active_content"] = True
    out = api.export(job, fmt, source=source, options=options, registry=reg)
    write_output(out, output)
