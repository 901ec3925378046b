"""``ocrkit chat JOB "question" ["follow-up" ...]``: ask a finished job, for pipes.

JOB is a saved job (``ocrkit ocr -f json``), ``-`` for one on stdin, or the uuid of a
job in the local store (``OCRKIT_DATA_DIR`` / ``--data-dir``). Several questions form
one conversation: each later one is a follow-up of the ones before. Output: the answer,
then one ``[pN] snippet`` line per citation; ``--json`` prints one JSON object per
question (``{"question", "message"}``, the message as the API returns it). With a model
server configured (``OCRKIT_LLM_*``, else ``OCRKIT_VLM_*``) the model answers and its
citations are verified; ``--offline`` answers from the text alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from ocrkit.cli.group import emit, protected, warn
from ocrkit.errors import BadInput

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _load_job(source: str, data_dir: Path | None) -> Any:
    if _UUID.match(source) and not Path(source).exists():
        from ocrkit.settings import load_settings
        from ocrkit.store import Store

        with Store.open(load_settings(data_dir=data_dir)) as store:
            stored = store.get_job(source.lower())
        if stored is None:
            raise BadInput(f"no job {source} in the local store")
        return stored.job
    from ocrkit.cli.files import read_job_file

    return read_job_file(source)


@click.command("chat")
@click.argument("job", metavar="JOB.json|-|UUID")
@click.argument("questions", nargs=-1, required=True, metavar="QUESTION...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@click.option("--offline", is_flag=True, help="Do not ask a model server even if one is set.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The local store a UUID refers to [default: OCRKIT_DATA_DIR].",
)
@protected
def chat(
    job: str, questions: tuple[str, ...], as_json: bool, offline: bool, data_dir: Path | None
) -> None:
    """Ask questions about a finished job; answers cite the pages they come from."""
    from ocrkit.chat import DocumentIndex, ask
    from ocrkit.settings import load_settings

    questions = tuple(q.strip() for q in questions)
    if not all(questions):
        raise click.UsageError("a question is empty")
    the_job = _load_job(job, data_dir)
    if the_job.status == "failed":
        raise BadInput(f"the job failed, so there is nothing to ask about: {the_job.error}")
    if the_job.status != "done":
        raise BadInput(f"the job is {the_job.status}; ask when it is done")
    doc = DocumentIndex(the_job)
    client = None
    if not offline:
        from ocrkit.llm import ModelClient, llm_config

        cfg = llm_config(load_settings(data_dir=data_dir))
        client = ModelClient(cfg) if cfg is not None else None
    history: list[dict[str, Any]] = []
    try:
        for question in questions:
            answer = ask(doc, question, history, client)
            message = answer.message()
            for w in answer.warnings:
                warn(w)
            if as_json:
                emit(json.dumps({"question": question, "message": message}, ensure_ascii=False))
            else:
                lines = [message["content"]]
                lines += [f"[p{c['page']}] {c['snippet']}" for c in message["citations"]]
                if len(questions) > 1:
                    lines = [f"Q: {question}", *lines, ""]
                emit("\n".join(lines))
            history += [{"role": "user", "content": question}, message]
    finally:
        if client is not None:
            client.close()
