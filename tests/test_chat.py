"""Chat over a finished job: retrieval quality, the API, the model path, storage, CLI.

Everything is real: the app runs with its lifespan on a real SQLite store (Starlette's
TestClient), the docling PDF goes through ocrkit's pipeline (its text layer), the model
path talks HTTP to the stand-in server of tests/openai_standin.py, the seed's curl
example runs against a real uvicorn server on a job Tesseract read, and the CLI runs as
a subprocess.

The evaluation (tests/chat_questions.json) asks questions whose page is known from the
corpus TRUE text: the docling PDF is read by the real pipeline (its text layer), the
2-page Dracula scan by Tesseract (real OCR, 200 dpi); the other book pages (Udolpho,
Kovalewsky) and the UDHR pages are jobs built from their truth text, one page per truth
file (OCR of 11 more scanned pages would take about a minute).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_store
from conftest import normalise as fold
from openai_standin import Reply, StandinServer
from test_server import account, bearer, make_settings, png, serving, store_of, submit

from ocrkit.chat import NO_ANSWER, DocumentIndex, ask
from ocrkit.chat.retrieval import query_units
from ocrkit.chat.text import normalise, tokenize
from ocrkit.models import Job, Page

ROOT = Path(__file__).resolve().parent.parent
database_url = test_store.database_url  # the fixture: SQLite, and PostgreSQL when it answers
QUESTIONS = Path(__file__).with_name("chat_questions.json")
DOCLING = "pdf/docling_multi_page.pdf"
CHAT_PER_MINUTE = 5


# ----------------------------------------------------------------------------- helpers


def build_job(corpus: Path, doc: dict[str, Any]) -> Job:
    if doc["build"] == "ocr":
        from ocrkit.api import ocr

        return ocr(corpus / doc["file"], jobs=1, dpi=doc.get("dpi", 300))
    pages: list[str] = []
    for t in doc["truth"]:
        pages += (corpus / t).read_text("utf-8").split("\f")
    return Job(
        status="done",
        pages=[
            Page(index=i, width=2480, height=3508, dpi=300, text=t) for i, t in enumerate(pages)
        ],
    )


def true_pages(corpus: Path, doc: dict[str, Any]) -> list[str]:
    pages: list[str] = []
    for t in doc["truth"]:
        pages += (corpus / t).read_text("utf-8").split("\f")
    return pages


def page_text(job: dict[str, Any], page: int) -> str:
    return normalise(job["pages"][page - 1]["text"])


# ----------------------------------------------------------------------------- evaluation


def test_question_set_finds_the_right_page(corpus: Path) -> None:
    spec = json.loads(QUESTIONS.read_text("utf-8"))
    docs = {d["id"]: d for d in spec["documents"]}
    indexes = {k: DocumentIndex(build_job(corpus, d)) for k, d in docs.items()}
    answerable = [q for q in spec["questions"] if q["page"] is not None]
    unanswerable = [q for q in spec["questions"] if q["page"] is None]
    assert len(answerable) >= 30 and len(unanswerable) >= 5
    # the questions really are about those pages: the answer is in the page's true text
    for q in answerable:
        truth = fold(true_pages(corpus, docs[q["doc"]])[q["page"] - 1])
        assert fold(q["answer"]) in truth, q
    pages_used = {(q["doc"], q["page"]) for q in answerable}
    for d in docs:  # every page of every document is asked about
        n = len(true_pages(corpus, docs[d]))
        assert all((d, p) in pages_used for p in range(1, n + 1)), d

    hits, with_answer, misses = 0, 0, []
    for q in answerable:
        doc = indexes[q["doc"]]
        msg = ask(doc, q["q"]).message()
        cites = msg["citations"]
        # every citation quotes its page, whatever the page
        for c in cites:
            assert normalise(c["snippet"]) in doc.page_texts[c["page"]], c
        if cites and cites[0]["page"] == q["page"]:
            hits += 1
        else:
            misses.append((q["q"], [c["page"] for c in cites]))
        if any(fold(q["answer"]) in fold(c["snippet"]) for c in cites if c["page"] == q["page"]):
            with_answer += 1
    rate = hits / len(answerable)
    print(
        f"\nchat right-page hit rate {hits}/{len(answerable)} = {rate:.2f}; "
        f"answer phrase in a snippet {with_answer}/{len(answerable)}; misses: {misses}"
    )
    assert rate >= 0.8, misses

    for q in unanswerable:
        msg = ask(indexes[q["doc"]], q["q"]).message()
        assert msg["citations"] == [] and msg["content"] == NO_ANSWER, (q, msg)
        assert msg["answered"] is False


def _chat_eval() -> Any:
    from conftest import ROOT as root

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import chat_eval

    return chat_eval


def test_made_question_set_covers_the_issue() -> None:
    """bench/chat_eval.py's set: >= 10 documents in several languages, split by document
    into a tuning and a test half, every kind of question in both halves."""
    ce = _chat_eval()
    from conftest import CORPUS

    docs = ce.DOCUMENTS
    assert len(docs) >= 10 and len({d["lang"] for d in docs}) >= 5
    assert {d["half"] for d in docs} == {"tuning", "test"}
    qs = ce.make_questions(CORPUS)
    assert qs == ce.make_questions(CORPUS)  # seeded
    half = {d["id"]: d["half"] for d in docs}
    for h in ("tuning", "test"):
        kinds = {q.kind for q in qs if half[q.doc] == h}
        assert kinds == {"rare", "numeric", "none", "paraphrase"}, h
    pages = {d["id"]: ce.doc_pages(CORPUS, d) for d in docs}
    for q in qs:
        if q.kind in ("rare", "numeric"):  # the asked words are on that page, and only there
            text = pages[q.doc][q.page - 1]
            assert ce._only_on(q.words, pages[q.doc], q.page - 1), q
            assert q.number is None or q.number in text
        if q.kind == "none":  # at least three asked words are nowhere in the document
            assert sum(w not in ce._df(pages[q.doc]) for w in q.words) >= 3, q
        if q.kind == "paraphrase":
            assert fold(q.words[0]) in fold(pages[q.doc][q.page - 1]), q


@pytest.mark.slow
def test_chat_recall_on_the_test_half(tmp_path: Path) -> None:
    """The test half of bench/chat_eval.py (no threshold was chosen on it), extractive
    mode: rare-term and numeric questions cite the right page with a verbatim snippet
    holding the asked words or the number; unanswerable ones cite nothing. Measured
    87/87 and 31/31 (paraphrases 4/7, reported, not gated)."""
    ce = _chat_eval()
    from conftest import CORPUS

    res = ce.evaluate(CORPUS, tmp_path, half="test")
    s = res["summary"]
    print("\nchat test half:", {k: (v["right"], v["n"]) for k, v in s.items()})
    assert s["test:rare+numeric"]["n"] >= 60 and s["test:none"]["n"] >= 20
    assert s["test:rare+numeric"]["rate"] >= 0.97, res["misses"]
    assert s["test:none"]["rate"] >= 0.96, res["misses"]


def test_tokenizer_keeps_scripts_apart() -> None:
    zh = tokenize("世界人权宣言")
    assert "世" in zh and "人权" in zh and "宣言" in zh
    hi = tokenize("सभी मनुष्यों को गौरव")  # vowel signs stay inside their words
    assert "मनुष्यों" in hi and "गौरव" in hi
    assert tokenize("Élections ÉTÉ")[:1] == ["élections"]
    ru = tokenize("Всеобщая декларация", query=True)
    assert "всеобщая" in ru and "всео~" in ru
    # stopwords leave queries, not passages
    assert "the" not in tokenize("What is the total?", query=True)
    assert "the" in tokenize("the total")
    # question words and particles do not count as what a CJK question is about
    assert query_units("大会发布了什么?") == [("大会",), ("会发",), ("发布",)]


def test_questions_in_other_scripts() -> None:
    pages = [
        "مرحبا بالعالم. هذا نص عربي عن الاقتصاد والتجارة.",
        "世界人权宣言。大会发布这一世界人权宣言。",
        "Всеобщая декларация прав человека. Генеральная Ассамблея провозглашает её.",
    ]
    doc = DocumentIndex(
        Job(
            status="done",
            pages=[Page(index=i, width=1, height=1, dpi=300, text=t) for i, t in enumerate(pages)],
        )
    )
    for question, page, phrase in (
        ("ما هو الاقتصاد؟", 1, "الاقتصاد"),
        ("大会发布了什么?", 2, "大会发布"),
        ("Что провозглашает Генеральная Ассамблея?", 3, "Ассамблея"),
    ):
        msg = ask(doc, question).message()
        assert msg["citations"] and msg["citations"][0]["page"] == page, (question, msg)
        assert phrase in msg["citations"][0]["snippet"]
    assert ask(doc, "大会的成员是谁?").message()["citations"] == []


def test_follow_up_uses_the_previous_question(corpus: Path) -> None:
    spec = json.loads(QUESTIONS.read_text("utf-8"))
    word = next(d for d in spec["documents"] if d["id"] == "word")
    doc = DocumentIndex(build_job(corpus, word))
    alone = ask(doc, "When was it introduced?").message()
    history = [
        {"role": "user", "content": "What did the IBM MT/ST combine?"},
        ask(doc, "What did the IBM MT/ST combine?").message(),
    ]
    follow = ask(doc, "When was it introduced?", history).message()
    assert follow["citations"] and "1964" in follow["citations"][0]["snippet"]
    assert alone["citations"] == [] or "1964" not in alone["citations"][0]["snippet"]


# ----------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = make_settings(
        tmp_path_factory.mktemp("chat") / "data",
        workers=1,
        chat_per_minute=CHAT_PER_MINUTE,
        max_upload_bytes=5_000_000,
    )
    with serving(settings) as c:
        yield c


@pytest.fixture(scope="module")
def docling_pdf(corpus: Path) -> bytes:
    return (corpus / DOCLING).read_bytes()


@pytest.fixture(scope="module")
def alice(client: Any) -> str:
    return account(client, "alice")


@pytest.fixture(scope="module")
def job(client: Any, alice: str, docling_pdf: bytes) -> dict[str, Any]:
    r = submit(client, docling_pdf, "history.pdf", headers=bearer(alice))
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return r.json()  # type: ignore[no-any-return]


def chat(client: Any, uuid: str, body: Any, token: str | None, slash: bool = True) -> Any:
    headers = bearer(token) if token else {}
    path = f"/api/v1/chat/{uuid}/" if slash else f"/api/v1/chat/{uuid}"
    if isinstance(body, (bytes, str)):
        return client.post(path, content=body, headers=headers)
    return client.post(path, json=body, headers=headers)


def test_anonymous_and_bad_tokens_are_401(client: Any, job: dict[str, Any]) -> None:
    uuid = job["uuid"]
    r = chat(client, uuid, {"message": "When was Google Docs introduced?"}, None)
    assert r.status_code == 401 and "token" in r.json()["detail"]
    assert chat(client, uuid, {"message": "x"}, "not-a-token").status_code == 401
    assert client.get(f"/api/v1/chat/{uuid}/history/").status_code == 401
    r = client.post(f"/api/v1/chat/{uuid}/?api_token=wrong", json={"message": "x"})
    assert r.status_code == 401
    # an anonymous job is reachable by its uuid, but chat on it needs an account token
    anon = submit(client, png(["Quarterly report", "Total 215 USD"]))
    assert anon.status_code == 200 and anon.json()["status"] == "done"
    r = chat(client, anon.json()["uuid"], {"message": "What is the total?"}, None)
    assert r.status_code == 401
    r = chat(
        client, anon.json()["uuid"], {"message": "What is the total?"}, _token_of(client, "alice")
    )
    assert r.status_code == 200 and "215" in r.json()["message"]["citations"][0]["snippet"]


def test_unknown_and_other_accounts_jobs_are_404(client: Any, job: dict[str, Any]) -> None:
    bob = account(client, "bob")
    r = chat(client, job["uuid"], {"message": "When was Google Docs introduced?"}, bob)
    assert r.status_code == 404 and r.json() == {"detail": "job not found"}
    assert (
        client.get(f"/api/v1/chat/{job['uuid']}/history/", headers=bearer(bob)).status_code == 404
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    assert chat(client, unknown, {"message": "x"}, bob).status_code == 404
    assert chat(client, "not-a-uuid", {"message": "x"}, bob).status_code == 404


def test_409_until_the_job_is_done(client: Any) -> None:
    from ocrkit.store import Caller

    token = account(client, "carol")
    store = store_of(client)
    carol = store.get_account("carol")
    pending = Job(status="pending", page_count=3)
    store.create_job(pending, caller=Caller(account=carol, ip="testclient"))
    r = chat(client, pending.uuid, {"message": "What is the total?"}, token)
    assert r.status_code == 409 and "pending" in r.json()["detail"]
    store.set_status(pending.uuid, "processing")
    assert chat(client, pending.uuid, {"message": "x"}, token, slash=False).status_code == 409
    store.set_status(pending.uuid, "failed", error="the engine crashed")
    r = chat(client, pending.uuid, {"message": "What is the total?"}, token)
    assert r.status_code == 409 and "failed" in r.json()["detail"]


def test_bad_bodies_are_400(client: Any, job: dict[str, Any], alice: str) -> None:
    uuid = job["uuid"]
    for body in (b"{not json", b"", b'"just a string"', b"[1]", {"message": ""},
                 {"message": "   "}, {"message": 42}, {"msg": "hi"},
                 {"message": "hi", "conversation": 7}, {"message": "x" * 5000}):  # fmt: skip
        r = chat(client, uuid, body, alice)
        assert r.status_code == 400, (body, r.text)
        assert isinstance(r.json()["detail"], str)
    r = chat(client, uuid, {"message": "When?", "conversation": "nope"}, alice)
    assert r.status_code == 400 and "conversation" in r.json()["detail"]


def test_answers_cite_pages_and_conversations_continue(client: Any, job: dict[str, Any]) -> None:
    uuid = job["uuid"]
    other = account(client, "erin")
    alice = _token_of(client, "alice")
    r = chat(client, uuid, {"message": "What did the IBM MT/ST combine?"}, alice)
    assert r.status_code == 200, r.text
    first = r.json()
    conv = first["conversation"]
    msg = first["message"]
    assert msg["role"] == "assistant" and msg["citations"] and msg["grounded"] is True
    cite = msg["citations"][0]
    assert cite["page"] == 1 and cite["snippet"] in page_text(job, 1)
    assert "magnetic tape" in cite["snippet"]
    # a follow-up in the same conversation (no slash this time)
    r = chat(client, uuid, {"message": "When was it introduced?", "conversation": conv},
             alice, slash=False)  # fmt: skip
    assert r.status_code == 200 and r.json()["conversation"] == conv
    follow = r.json()["message"]
    assert follow["citations"] and "1964" in follow["citations"][0]["snippet"]
    # a question the document does not answer: no citation, no invention
    r = chat(client, uuid, {"message": "What is the capital of France?", "conversation": conv},
             alice)  # fmt: skip
    assert r.json()["message"]["citations"] == []
    assert r.json()["message"]["content"] == NO_ANSWER
    # without an id a new conversation starts
    r = chat(client, uuid, {"message": "Which screenwriting tools are mentioned?"}, alice)
    new = r.json()
    assert new["conversation"] != conv and new["message"]["citations"][0]["page"] == 3

    for path in (f"/api/v1/chat/{uuid}/history/", f"/api/v1/chat/{uuid}/history"):
        h = client.get(path, headers=bearer(alice))
        assert h.status_code == 200, h.text
        convs = h.json()["conversations"]
        assert [c["id"] for c in convs] == [conv, new["conversation"]]
        messages = convs[0]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 3
        assert [m["content"] for m in messages[::2]] == [
            "What did the IBM MT/ST combine?",
            "When was it introduced?",
            "What is the capital of France?",
        ]
        assert messages[1]["citations"] == msg["citations"]
        assert messages[3]["citations"] == follow["citations"]
        assert messages[5]["citations"] == []
        stamps = [m["created_at"] for m in messages]
        assert stamps == sorted(stamps)
    one = client.get(
        f"/api/v1/chat/{uuid}/history/?conversation={conv}", headers=bearer(alice)
    ).json()
    assert [c["id"] for c in one["conversations"]] == [conv]
    # another account sees none of it
    assert chat(client, uuid, {"message": "x", "conversation": conv}, other).status_code == 404
    assert client.get(f"/api/v1/chat/{uuid}/history/", headers=bearer(other)).status_code == 404


def _token_of(client: Any, name: str) -> str:
    return store_of(client).create_token(name)[1]  # type: ignore[no-any-return]


def test_chat_is_rate_limited_per_account(client: Any, docling_pdf: bytes) -> None:
    token = account(client, "frank")
    r = submit(client, docling_pdf, "f.pdf", headers=bearer(token))
    uuid = r.json()["uuid"]
    for _ in range(CHAT_PER_MINUTE):
        assert (
            chat(client, uuid, {"message": "Who patented the typewriter?"}, token).status_code
            == 200
        )
    r = chat(client, uuid, {"message": "Who patented the typewriter?"}, token)
    assert r.status_code == 429, r.text
    retry = r.json()["retry_after"]
    assert isinstance(retry, int) and 1 <= retry <= 60
    assert r.headers["Retry-After"] == str(retry)
    # the refused question was not stored; other accounts are not limited by frank
    convs = client.get(f"/api/v1/chat/{uuid}/history/", headers=bearer(token)).json()
    assert sum(len(c["messages"]) for c in convs["conversations"]) == 2 * CHAT_PER_MINUTE


def test_conversations_go_with_the_job(client: Any, docling_pdf: bytes) -> None:
    from ocrkit.store.chat import ChatStore
    from ocrkit.store.models import jobs

    token = account(client, "gina")
    st = client.app.state.ocrkit
    chats = ChatStore(st.store)
    uuids = []
    for _ in range(2):
        uuid = submit(client, docling_pdf, "g.pdf", headers=bearer(token)).json()["uuid"]
        assert chat(client, uuid, {"message": "What is LaTeX?"}, token).status_code == 200
        assert chats.count(uuid) == (1, 2)
        uuids.append(uuid)
    # DELETE removes the conversations at once
    assert client.delete(f"/api/v1/ocr/{uuids[0]}/", headers=bearer(token)).status_code == 204
    assert chats.count(uuids[0]) == (0, 0)
    assert client.get(f"/api/v1/chat/{uuids[0]}/history/", headers=bearer(token)).status_code == 404
    # the retention sweep too
    old = datetime.now(UTC) - timedelta(seconds=st.settings.retention_seconds + 60)
    with st.store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.uuid == uuids[1]).values(finished_at=old))
    assert st.jobs.sweep() >= 1
    assert chats.count(uuids[1]) == (0, 0)
    assert st.store.get_job(uuids[1]) is None


def test_chat_store_meters_limits_and_deletes(tmp_path: Path, database_url: str) -> None:
    """On SQLite and PostgreSQL: answers are charged, refused turns cost nothing, the
    rate limit counts questions, deleting the job deletes its conversations."""
    from ocrkit.settings import load_settings
    from ocrkit.store import Caller, PaymentRequired, Store
    from ocrkit.store.chat import ChatStore, RateLimited

    settings = load_settings(
        env={},
        data_dir=tmp_path,
        database_url=database_url,
        chat_cost=2,
        free_monthly_pages=5,
        chat_per_minute=4,
    )
    with Store.open(settings) as store:
        acct = store.create_account("henry")
        caller = Caller(account=acct, ip="127.0.0.1")
        job = Job(status="done")
        store.create_job(job, caller=caller)
        chats = ChatStore(store)
        for _ in range(2):
            turn = chats.begin_turn(acct, job.uuid, None, "q?")
            chats.end_turn(acct, turn, {"role": "assistant", "content": "a", "citations": []})
        assert store.usage(caller)["used"] == 4
        with pytest.raises(PaymentRequired) as info:
            chats.begin_turn(acct, job.uuid, None, "q?")
        assert info.value.http_status == 402 and info.value.cap == 5
        # a question that got no answer costs nothing and is not kept
        paid = store.create_account("ivy", "paid")
        store.credit("ivy", 3)
        paid = store.get_account("ivy")
        turn = chats.begin_turn(paid, job.uuid, None, "q?")
        chats.abort_turn(turn)
        assert chats.history(job.uuid, paid.id) == []
        turn = chats.begin_turn(paid, job.uuid, None, "q?")
        chats.end_turn(paid, turn, {"role": "assistant", "content": "a", "citations": []})
        assert store.get_account("ivy").credits == 1
        with pytest.raises(PaymentRequired):
            chats.begin_turn(paid, job.uuid, None, "q?")
        # ivy has one stored question (the aborted and the refused ones were not kept):
        # three more fit the limit of 4 a minute, then 429
        store.credit("ivy", 100)
        for _ in range(3):
            chats.begin_turn(paid, job.uuid, None, "q?")
        with pytest.raises(RateLimited) as limited:
            chats.begin_turn(paid, job.uuid, None, "q?")
        assert limited.value.http_status == 429 and 1 <= limited.value.retry_after <= 60
        assert chats.count(job.uuid)[0] >= 3
        assert store.delete_job(job.uuid)
        assert chats.count(job.uuid) == (0, 0) and chats.count() == (0, 0)


def test_openapi_documents_the_chat_routes(client: Any, docling_pdf: bytes) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/chat/{uuid}/"]["post"]
    assert {"200", "400", "401", "404", "409", "429"} <= set(post["responses"])
    assert "get" in doc["paths"]["/api/v1/chat/{uuid}/history/"]
    schemas = doc["components"]["schemas"]
    alice = account(client, "lena")  # her own job and rate limit
    job = submit(client, docling_pdf, "l.pdf", headers=bearer(alice)).json()
    r = chat(client, job["uuid"], {"message": "When was Google Docs introduced?"}, alice)
    body = r.json()
    assert set(schemas["ChatAnswer"]["required"]) <= set(body)
    assert set(schemas["ChatMessage"]["required"]) <= set(body["message"])
    assert set(schemas["Citation"]["required"]) <= set(body["message"]["citations"][0])
    h = client.get(f"/api/v1/chat/{job['uuid']}/history/", headers=bearer(alice)).json()
    assert set(schemas["ChatHistory"]["required"]) <= set(h)


# ----------------------------------------------------------------------------- the model


def _passages(text: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for m in re.finditer(r"^\[p(\d+)\] (.+)$", text, re.MULTILINE):
        out.setdefault(int(m[1]), []).append(m[2])
    return out


class FakeModel:
    """Answers from the passages it is sent, like a sloppy model: a good quote, a real
    quote under the wrong page, a close paraphrase of a real sentence, and fabricated
    quotes; or only fabricated ones ("fabricate"); or fails ("down"). ``expected`` is
    what verification should keep: (page, sentence) of the first three."""

    def __init__(self) -> None:
        self.mode = "mixed"
        self.expected: list[tuple[int, str]] = []

    def __call__(self, req: Any) -> str | Reply:
        if self.mode == "down":
            return Reply(status=500, text="model crashed")
        if self.mode == "fabricate":
            return json.dumps(
                {
                    "answer": "It was invented on the moon in 1492 [p2].",
                    "citations": [
                        {"page": 2, "quote": "The typewriter was invented on the moon in 1492."},
                        {"page": 7, "quote": "Nothing of this is in the document."},
                    ],
                }
            )
        sentences = [
            (page, s)
            for page, texts in _passages(req.user_text).items()
            for text in texts
            for s in re.split(r"(?<=[.!?])\s+", text)
            if len(s.split()) >= 12 and "e.g." not in s
        ]
        (p1, s1), (p2, s2), (p3, s3) = sentences[0], sentences[1], sentences[2]
        wrong = next(p for p in range(1, 6) if s2 not in self.page_texts[p - 1])
        words = s3.split()
        words[2] = "really"  # one word changed, the last one dropped
        paraphrase = " ".join(words[:-1])
        self.expected = [(p1, s1), (p2, s2), (p3, s3)]
        body = {
            "answer": f"{s1} [p{p1}]",
            "citations": [
                {"page": p1, "quote": s1},
                {"page": wrong, "quote": s2},
                {"page": p3, "quote": paraphrase},
                {"page": p1, "quote": "Word processors were first sold on Mars."},
                {"page": 99, "quote": "a page that does not exist"},
            ],
        }
        return "```json\n" + json.dumps(body) + "\n```"

    page_texts: list[str] = []


@pytest.fixture(scope="module")
def model_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    fake = FakeModel()
    with StandinServer(fake) as srv:
        settings = make_settings(
            tmp_path_factory.mktemp("chat-llm") / "data",
            workers=1,
            max_upload_bytes=5_000_000,
            llm_base_url=srv.url,
            llm_model="standin",
            llm_retries=0,
        )
        with serving(settings) as c:
            yield c, srv, fake


def test_model_answers_keep_only_verified_citations(
    model_client: tuple[Any, Any, Any], docling_pdf: bytes
) -> None:
    client, srv, fake = model_client
    token = account(client, "kim")
    job = submit(client, docling_pdf, "m.pdf", headers=bearer(token)).json()
    uuid = job["uuid"]

    fake.mode = "mixed"
    fake.page_texts = [normalise(p["text"]) for p in job["pages"]]
    r = chat(client, uuid, {"message": "Which word processors are mentioned?"}, token)
    assert r.status_code == 200, r.text
    msg = r.json()["message"]
    assert msg["mode"] == "model" and msg["grounded"] is True
    sent = srv.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "ONLY" in sent[0]["content"]
    assert len(_passages(sent[-1]["content"])) >= 2  # passages of several pages
    # the good quote is kept, the one under a wrong page moves to its page, the
    # paraphrase becomes the sentence it paraphrases, the fabricated ones are dropped
    got = [(c["page"], c["snippet"]) for c in msg["citations"]]
    want = [(p, normalise(s)) for p, s in fake.expected]
    assert len(got) == 3 and got[:2] == want[:2], (got, want)
    # (the model's "sentence" may include a heading ocrkit keeps apart)
    assert got[2][0] == want[2][0] and got[2][1] in want[2][1] and "really" not in got[2][1]
    assert len(got[2][1].split()) >= 12
    for c in msg["citations"]:
        assert normalise(c["snippet"]) in page_text(job, c["page"])

    # a model that only fabricates: no citation survives, the answer is ungrounded;
    # a follow-up sends the conversation so far
    fake.mode = "fabricate"
    r = chat(client, uuid, {"message": "What did the IBM MT/ST combine?"}, token)
    first = r.json()
    assert first["message"]["citations"] == [] and first["message"]["grounded"] is False
    assert first["message"]["warnings"]
    body = {"message": "When was it introduced?", "conversation": first["conversation"]}
    r = chat(client, uuid, body, token)
    sent = srv.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "What did the IBM MT/ST combine?"
    assert sent[2]["content"] == first["message"]["content"]
    assert "1964" in sent[-1]["content"]  # retrieval used the previous question too
    assert r.json()["message"]["grounded"] is False

    # history keeps the grounded flag with each answer
    h = client.get(f"/api/v1/chat/{uuid}/history/", headers=bearer(token)).json()
    flags = [[m["grounded"] for m in c["messages"][1::2]] for c in h["conversations"]]
    assert flags == [[True], [False, False]]

    # a model server that fails: answered offline, with a warning
    fake.mode = "down"
    r = chat(client, uuid, {"message": "When did Microsoft launch Word for MS-DOS?"}, token)
    down = r.json()["message"]
    assert r.status_code == 200 and down["mode"] == "extractive" and down["warnings"]
    assert down["citations"][0]["page"] == 1

    # nothing relevant: the model is not even asked
    n = len(srv.requests)
    r = chat(client, uuid, {"message": "What is the capital of France?"}, token)
    assert r.json()["message"]["citations"] == [] and len(srv.requests) == n


# ----------------------------------------------------------------------------- the CLI


def test_cli_chat_for_pipes(client: Any, job: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job), "utf-8")
    cmd = [sys.executable, "-m", "ocrkit", "chat"]
    env_extra = {"OCRKIT_DATA_DIR": str(tmp_path / "none")}
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_")} | env_extra
    run = subprocess.run(
        [*cmd, str(path), "When did Microsoft launch Word for MS-DOS?", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["message"]["citations"][0]["page"] == 1
    assert "1983" in out["message"]["citations"][0]["snippet"]
    # text, from stdin, a follow-up after the first question
    run = subprocess.run(
        [*cmd, "-", "What did the IBM MT/ST combine?", "When was it introduced?"],
        input=json.dumps(job), capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert re.search(r"^\[p1\] .*1964", run.stdout, re.MULTILINE), run.stdout
    # not a job: exit 3 with a message, nothing on stdout
    run = subprocess.run(
        [*cmd, str(ROOT / "pyproject.toml"), "anything"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 3 and run.stdout == "" and "not a saved ocrkit job" in run.stderr


def test_cli_chat_on_the_local_store(client: Any, job: dict[str, Any]) -> None:
    import os

    data_dir = client.app.state.ocrkit.settings.data_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_")}
    run = subprocess.run(
        [sys.executable, "-m", "ocrkit", "chat", job["uuid"], "Which screenwriting tools "
         "are mentioned?", "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "[p3]" in run.stdout and "Celtx" in run.stdout


# ----------------------------------------------------------------------------- the seed


def _invoice_pdf(path: Path) -> list[str]:
    """A 2-page image-only invoice: items on page 1, total and due date on page 2."""
    import pymupdf
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 34)
    pages = [
        ["INVOICE 2026-117", "Acme Corp, 12 Harbour Road", "Widget A 3 x 10.00 USD",
         "Widget B 2 x 6.00 USD"],
        ["Invoice total: 42.00 USD", "Due date: March 3, 2026", "Thank you for your order."],
    ]  # fmt: skip
    doc = pymupdf.open()
    for lines in pages:
        img = Image.new("L", (1275, 825), 255)
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(lines):
            draw.text((80, 80 + 70 * i), line, font=font, fill=0)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        page = doc.new_page(width=612, height=396)
        page.insert_image(page.rect, stream=buf.getvalue())
    doc.save(path, deflate=True)
    return [" ".join(p) for p in pages]


def seed_chat_curl(text: str) -> str:
    lines = text.splitlines()
    start = next(
        i
        for i, ln in enumerate(lines)
        if ln.startswith("curl -X POST https://ocr.chat/api/v1/chat/")
    )
    block = []
    for ln in lines[start:]:
        block.append(ln)
        if not ln.rstrip().endswith("\\"):
            break
    return "\n".join(block) + "\n"


def test_seed_chat_curl_example(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import requests
    from test_seed_examples import SEED_BASE, SEED_TOKEN, _wait_healthy, free_port, seed_text

    from ocrkit.settings import load_settings
    from ocrkit.store import Store

    curl = seed_chat_curl(seed_text())
    placeholder = "9f2c1b7e4a..."
    assert SEED_BASE in curl and SEED_TOKEN in curl and placeholder in curl
    assert "What is the invoice total and due date?" in curl

    data = tmp_path / "data"
    with Store.open(load_settings(env={}, data_dir=data)) as store:
        store.create_account("seed-chat", "free")
        token = store.create_token("seed-chat")[1]
    port = free_port()
    log = tmp_path / "server.log"
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_")}
    env |= {"OCRKIT_DPI": "150", "OMP_THREAD_LIMIT": "1"}
    cmd = [sys.executable, "-m", "ocrkit", "serve", "--port", str(port), "--data-dir", str(data),
           "--workers", "1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        _invoice_pdf(tmp_path / "invoice.pdf")
        with (tmp_path / "invoice.pdf").open("rb") as f:
            job = requests.post(
                base + "/api/v1/ocr/", headers=bearer(token), files={"file": f}, timeout=120
            ).json()
        deadline = time.monotonic() + 120
        while job["status"] in ("pending", "processing") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = requests.get(f"{base}/api/v1/ocr/{job['uuid']}/", headers=bearer(token)).json()
        assert job["status"] == "done", job
        assert "42" in job["pages"][1]["text"], job["pages"][1]["text"]

        script = curl.replace(SEED_BASE, base).replace(SEED_TOKEN, token)
        script = script.replace(placeholder, job["uuid"])
        run = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
        assert run.returncode == 0, run.stderr
        answer = json.loads(run.stdout)
        print("\nseed chat answer:", run.stdout)
        msg = answer["message"]
        assert answer["conversation"] and msg["role"] == "assistant"
        assert msg["citations"], msg
        for c in msg["citations"]:
            assert c["page"] == 2, msg  # the total and the due date are on page 2
            assert normalise(c["snippet"]) in normalise(job["pages"][1]["text"])
        assert "42.00" in msg["content"] and "March 3" in msg["content"]
        # and the history route of the seed answers the same conversation
        h = requests.get(f"{base}/api/v1/chat/{job['uuid']}/history/", headers=bearer(token))
        assert h.status_code == 200
        assert h.json()["conversations"][0]["id"] == answer["conversation"]
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert token not in log.read_text("utf-8", "replace")
