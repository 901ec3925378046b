"""Issue 20: fuzz every query and form parameter of a real ``ocrkit serve`` (uvicorn
subprocess, real HTTP); no answer may be a 5xx, and the server log gets no traceback.

Values come from :func:`values`: digits of other scripts (``²``, ``٣``, ``５``), huge,
negative and zero numbers, empty strings, whitespace, control characters, long text,
uuids of jobs the caller may or may not see, ISO times; a parameter may be sent twice
(repeated) or left out. The parameters are read from the server's own OpenAPI document
(every ``in: query`` parameter of every operation, path parameters too) plus the
submit form's fields and the web forms' fields.

``make test`` sends :data:`QUICK_REQUESTS`; ``OCRKIT_FUZZ_REQUESTS=5000`` (``make fuzz``)
sends that many and prints the count and the status histogram.
"""

from __future__ import annotations

import os
import sys
import uuid as uuidlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import Server  # noqa: E402
from test_security import _accounts  # noqa: E402
from test_server import png  # noqa: E402

pytestmark = pytest.mark.slow

QUICK_REQUESTS = 400
REQUESTS = int(os.environ.get("OCRKIT_FUZZ_REQUESTS", QUICK_REQUESTS))
CSRF = "f" * 32

ODD_DIGITS = ["²", "٣", "５", "১", "Ⅻ", "¹²", "߁", "𝟗"]
SPECIAL = [
    "", " ", "0", "-1", "-0", "+1", "1_0", "1e3", "0x10", "1.5", "NaN", "inf", "9" * 40,
    str(2**63), str(-(2**63)), "\x00", "\n", "%", "..", "../../etc/passwd", "null", "[]",
    "{}", "all", "ALL", " all ", "auto", "eng", "deu+eng", "cpu", "vlm", "csv", "pdf",
    "xlsx", "md", "json", "txt", "docx", "hocr", "extract-tables", "translate",
    "2026-01-01T00:00:00Z", "2026-13-45", "a" * 5000, "\u202e", "\ud7ff", "é", "<script>",
]  # fmt: skip


def values(known: list[str]) -> st.SearchStrategy[str]:
    digitish = st.lists(st.sampled_from([*ODD_DIGITS, *"0123456789"]), min_size=1, max_size=6)
    return st.one_of(
        st.sampled_from(SPECIAL + known),
        st.sampled_from(ODD_DIGITS),
        digitish.map("".join),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    )


def params(names: list[str], known: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Some of ``names``, each once or repeated (a list of pairs keeps repeats)."""
    if not names:
        return st.just([])
    return st.lists(st.tuples(st.sampled_from(names), values(known)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    tokens = _accounts(data, "fuzzer", "other")
    srv = Server(
        data,
        OCRKIT_SIGNUP="open",
        OCRKIT_ANON_DAILY_PAGES="1000000",
        OCRKIT_TRUSTED_PROXIES="127.0.0.1",
    ).start()
    jobs = {}
    for name in ("fuzzer", "other"):
        r = srv.post(png(["Fuzz 1"]), token=tokens[name], tool="extract-tables")
        assert r.status_code in (200, 202), r.text
        jobs[name] = r.json()["uuid"]
        srv.poll(jobs[name], tokens[name], lambda j: j["status"] in ("done", "failed"))
    doc = requests.get(srv.url + "/api/v1/openapi.json", timeout=30).json()
    try:
        yield {"srv": srv, "tokens": tokens, "jobs": jobs, "doc": doc}
    finally:
        srv.stop()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, query parameter names, path parameter names) of every GET/DELETE
    operation (POST bodies are fuzzed below)."""
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "delete"):
                continue
            ps = op.get("parameters", []) + ops.get("parameters", [])
            query = sorted({p["name"] for p in ps if p.get("in") == "query"} | {"api_token"})
            in_path = sorted({p["name"] for p in ps if p.get("in") == "path"})
            out.append((method.upper(), path, query, in_path))
    return out


def _fill(path: str, names: list[str], data: st.DataObject, known: list[str]) -> str:
    for name in names:
        pick = data.draw(st.one_of(st.sampled_from(known), values(known)), label=name)
        path = path.replace("{" + name + "}", requests.utils.quote(pick, safe=""))
    return path


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()

    def check(self, r: requests.Response, what: str) -> None:
        self.statuses[r.status_code] += 1
        assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
        if r.status_code >= 400 and r.headers.get("content-type", "").startswith(
            "application/json"
        ):
            assert "detail" in r.json(), what


def test_every_query_form_and_path_parameter_fuzzed_gives_no_server_error(
    live: dict[str, Any],
) -> None:
    srv: Server = live["srv"]
    tokens, jobs = live["tokens"], live["jobs"]
    ops = operations(live["doc"])
    assert len(ops) >= 8
    known = [*jobs.values(), str(uuidlib.uuid4()), "0", "1", "2"]
    tally = Tally()
    session = requests.Session()
    # the share of requests per kind: GET/DELETE operations, the submit form, web forms
    per_example = 3
    examples = max(1, REQUESTS // per_example)

    @given(data=st.data())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(data: st.DataObject) -> None:
        who = [None, tokens["fuzzer"], tokens["fuzzer"], tokens["other"], "bad"]
        auth = data.draw(st.sampled_from(who))
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        headers["X-Forwarded-For"] = f"10.9.{data.draw(st.integers(0, 255))}.1"
        # 1. a GET/DELETE operation with fuzzed query (and path) parameters
        method, path, query, in_path = data.draw(st.sampled_from(ops))
        if method == "DELETE" and data.draw(st.booleans()):
            method = "GET"  # keep the jobs most of the time
        url = srv.url + _fill(path, in_path, data, known)
        q = data.draw(params(query, known))
        r = session.request(method, url, params=q, headers=headers, timeout=120)
        tally.check(r, f"{method} {url} {q}")
        # 2. the submit form: every field fuzzed, a tiny valid image
        fields = data.draw(params(["tier", "language", "tool", "translate_to", "engine"], []))
        r = session.post(
            srv.url + "/api/v1/ocr/",
            files=[("file", ("a.png", TINY)), *[(k, (None, v)) for k, v in fields]],
            headers=headers,
            timeout=120,
        )
        tally.check(r, f"POST /api/v1/ocr/ {fields}")
        # 3. a web form (sign-in, sign-up) and the chat body's fields
        form_path = data.draw(st.sampled_from(["/signin", "/signup", "/account/token"]))
        form = data.draw(params(["email", "password", "csrf"], ["a@example.com", CSRF]))
        r = session.post(
            srv.url + form_path,
            data=[("csrf", CSRF), *form],
            cookies={"ocrkit_csrf": CSRF},
            headers={"X-Forwarded-For": headers["X-Forwarded-For"]},
            allow_redirects=False,
            timeout=120,
        )
        tally.check(r, f"POST {form_path} {form}")

    global TINY
    TINY = png(["x"], size=(40, 20))
    run()
    sent = sum(tally.statuses.values())
    print(f"\nfuzz: {sent} requests, statuses {dict(sorted(tally.statuses.items()))}")
    assert sent >= min(REQUESTS, QUICK_REQUESTS) - per_example
    assert not any(code >= 500 for code in tally.statuses)
    assert "Traceback" not in srv.log.read_text()


TINY = b""


def test_schemathesis_with_the_same_value_strategies(live: dict[str, Any]) -> None:
    """Schemathesis' own cases, with each query parameter's value replaced (sometimes)
    by one from :func:`values`."""
    import schemathesis
    from schemathesis.checks import not_a_server_error

    srv: Server = live["srv"]
    token = live["tokens"]["fuzzer"]
    known = [*live["jobs"].values(), "1"]
    schema = schemathesis.openapi.from_url(srv.url + "/api/v1/openapi.json")
    ops = [result.ok() for result in schema.get_all_operations()]
    for operation in ops:
        names = [p.name for p in operation.query]

        @given(case=operation.as_strategy(), extra=st.one_of(st.just([]), params(names, known)))
        @settings(
            max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case, extra: list[tuple[str, str]]) -> None:
            if extra:
                case.query = {**(case.query or {}), **dict(extra)}
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=120)
            case.validate_response(response, checks=[not_a_server_error])

        run()
