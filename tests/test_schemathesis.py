"""Schemathesis (issue 9) generates requests from the server's own OpenAPI document and
sends them to a real ``ocrkit serve`` over HTTP: no answer may be a 5xx.

Requests are anonymous and, in a second pass, with a valid token, so the authenticated
paths (chat, history, usage of an account) are exercised too. A locked store (503) and
a full disk (507) are tested in ``test_faults.py``; here every 5xx is a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import Server  # noqa: E402

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 25  # per operation; each sends two requests (anonymous, with a token)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    from ocrkit.settings import load_settings
    from ocrkit.store import Store

    data = tmp_path_factory.mktemp("schemathesis") / "data"
    store = Store.open(load_settings(env={}, data_dir=data))
    store.create_account("fuzzer", "paid")
    store.credit("fuzzer", 100_000)
    token = str(store.create_token("fuzzer")[1])
    store.close()
    srv = Server(data, OCRKIT_ANON_DAILY_PAGES="100000").start()
    try:
        yield srv, token
    finally:
        srv.stop()


def test_no_request_the_document_allows_gets_a_server_error(live: tuple[Server, str]) -> None:
    srv, token = live
    schema = schemathesis.openapi.from_url(srv.url + "/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the document lists the routes

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            for headers in ({}, {"Authorization": f"Bearer {token}"}):
                response = case.call(headers=headers, timeout=60)
                case.validate_response(response, checks=[not_a_server_error])

        run()
