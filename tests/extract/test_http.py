"""The http adapter, offline: every pagination style, retries, auth and failures over httpx.MockTransport."""

from __future__ import annotations

import datetime
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from reconcile.config import parse_config
from reconcile.errors import SourceError
from reconcile.extract.http import HttpAdapter, HttpSourceConfig, _retry_after

FIELDS = {"contact_id": "id", "name": "name", "email": "contact.email"}
BASE = "https://api.example.test"
TOKEN = "tok-9f8e7d6c5b4a-SECRET"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A mock API that records every request it answers."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def _adapter(handler: Handler, stream: dict[str, Any] | None = None, **source: Any
             ) -> tuple[HttpAdapter, Recorder, list[float]]:
    recorder = Recorder(handler)
    sleeps: list[float] = []
    config = HttpSourceConfig.model_validate({
        "kind": "http",
        "base_url": BASE,
        "streams": {"contact": {"url": "/contacts", "fields": FIELDS, **(stream or {})}},
        **source,
    })
    adapter = HttpAdapter("crm_api", config, transport=httpx.MockTransport(recorder),
                          sleep=sleeps.append)
    return adapter, recorder, sleeps


def _people(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "name": f"Person {i}", "contact": {"email": f"p{i}@example.com"}}
            for i in range(start, stop)]


def _ids(result: Any) -> list[str]:
    return [r["contact_id"] for r in result.records.get("contact", [])]


# --- records and paths ------------------------------------------------------------------


def test_single_request_with_records_at_a_nested_path_and_nested_objects_flattened() -> None:
    adapter, api, _ = _adapter(
        lambda r: httpx.Response(200, json={"data": {"items": _people(1, 4)}}),
        {"records_path": "data.items", "params": {"active": True, "region": "west"},
         "headers": {"X-Trace": "t1"}},
    )
    result = adapter.extract()
    assert result.health is not None and result.health.healthy, result.health
    assert _ids(result) == ["1", "2", "3"]
    assert result.records["contact"][0]["email"] == "p1@example.com"
    (request,) = api.requests
    assert request.url.path == "/contacts"
    assert dict(request.url.params) == {"active": "true", "region": "west"}
    assert request.headers["X-Trace"] == "t1"
    assert request.headers["Accept"] == "application/json"


def test_body_that_is_the_list_and_items_that_are_not_objects_are_quarantined() -> None:
    body = [{"id": "1", "name": "Ann"}, "oops", 7, {"id": "", "name": "No key"}]
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json=body), max_quarantine_fraction=1.0)
    result = adapter.extract()
    health = result.health
    assert health is not None and health.healthy
    assert _ids(result) == ["1"]
    assert health.rows_read == 4 == health.rows_used + health.rows_quarantined
    reasons = {q.row: q.reason for q in result.quarantine}
    assert "expected a JSON object" in reasons["record 2 (page 1)"]
    assert "record 3 (page 1)" in reasons
    assert any(q.field == "contact_id" for q in result.quarantine)


@pytest.mark.parametrize("columnar", [True, False])
def test_a_lone_surrogate_quarantines_its_record_naming_the_column(columnar: bool) -> None:
    body = '[{"id": "1", "name": "Ann"}, {"id": "2", "name": "B\\ud800b"}, {"id": "3", "name": "\\ud83d\\ude00"}]'
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, content=body.encode(),
                                                      headers={"Content-Type": "application/json"}),
                             max_quarantine_fraction=1.0)
    adapter.columnar = columnar
    result = adapter.extract()
    assert result.health is not None and result.health.rows_read == 3 == result.health.rows_used + 1
    assert _ids(result) == ["1", "3"]  # a pair of escapes is one character: fine
    (entry,) = result.quarantine
    assert (entry.row, entry.field) == ("record 2 (page 1) (key '2')", "name")
    assert "lone surrogate" in entry.reason


def test_missing_records_path_is_a_source_error_naming_the_path_and_keys() -> None:
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json={"results": []}),
                             {"records_path": "data.items"})
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "'data.items'" in (health.error or "")
    assert "results" in (health.error or "")
    assert "crm_api" in (health.error or "")


def test_records_path_holding_an_object_is_a_source_error() -> None:
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json={"data": {"id": 1}}),
                             {"records_path": "data"})
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "expected a list of records at 'data'" in (health.error or "")


def test_null_records_are_an_empty_page() -> None:
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json={"data": None}), {"records_path": "data"})
    result = adapter.extract()
    assert result.health is not None and result.health.healthy and result.health.rows_read == 0


def test_malformed_json_is_a_source_error_naming_source_and_url() -> None:
    adapter, _, _ = _adapter(
        lambda r: httpx.Response(200, content=b'{"data": [1, 2', headers={"Content-Type": "application/json"})
    )
    with pytest.raises(SourceError) as err:
        list(adapter.read("contact", adapter.config.streams["contact"]))
    message = str(err.value)
    assert err.value.source == "crm_api"
    assert "not valid JSON" in message and f"{BASE}/contacts" in message
    health = adapter.extract().health
    assert health is not None and not health.healthy and "not valid JSON" in (health.error or "")


# --- pagination -------------------------------------------------------------------------


def test_page_number_pagination_until_an_empty_page() -> None:
    people = _people(1, 8)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["p"])
        size = int(request.url.params["per_page"])
        return httpx.Response(200, json={"items": people[page * size : (page + 1) * size]})

    adapter, api, _ = _adapter(handler, {"records_path": "items", "pagination": {
        "kind": "page", "param": "p", "start": 0, "size_param": "per_page", "size": 3}})
    result = adapter.extract()
    assert _ids(result) == [str(i) for i in range(1, 8)]
    assert [r.url.params["p"] for r in api.requests] == ["0", "1", "2", "3"]
    assert {q.row for q in result.quarantine} == set()


def test_page_number_pagination_can_stop_at_a_short_page() -> None:
    people = _people(1, 8)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=people[(page - 1) * 3 : page * 3])

    adapter, api, _ = _adapter(handler, {"pagination": {
        "kind": "page", "size_param": "size", "size": 3, "stop_when_short": True}})
    assert _ids(adapter.extract()) == [str(i) for i in range(1, 8)]
    assert len(api.requests) == 3  # pages 1, 2 and the short page 3; no empty page 4


def test_positions_count_records_across_pages() -> None:
    pages = {"1": [{"id": "1"}, {"id": "2"}], "2": [{"id": "3"}, {"name": "no id"}], "3": []}
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json=pages[r.url.params["page"]]),
                             {"pagination": {"kind": "page"}})
    result = adapter.extract()
    assert [q.row for q in result.quarantine] == ["record 4 (page 2)"]


def test_offset_pagination_moves_by_what_arrived_so_a_capped_limit_loses_nothing() -> None:
    people = _people(0, 11)

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["skip"])
        limit = min(int(request.url.params["take"]), 4)  # the server caps the limit at 4
        return httpx.Response(200, json={"rows": people[offset : offset + limit]})

    adapter, api, _ = _adapter(handler, {"records_path": "rows", "pagination": {
        "kind": "offset", "offset_param": "skip", "limit_param": "take", "limit": 5}})
    assert _ids(adapter.extract()) == [str(i) for i in range(11)]
    assert [r.url.params["skip"] for r in api.requests] == ["0", "4", "8", "11"]
    assert {r.url.params["take"] for r in api.requests} == {"5"}


def test_offset_pagination_can_stop_at_a_short_page() -> None:
    people = _people(0, 7)

    def handler(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json=people[offset : offset + limit])

    adapter, api, _ = _adapter(handler, {"pagination": {"kind": "offset", "limit": 3,
                                                        "stop_when_short": True}})
    assert len(_ids(adapter.extract())) == 7
    assert [r.url.params["offset"] for r in api.requests] == ["0", "3", "6"]


def test_cursor_pagination_from_a_body_path_to_a_request_param() -> None:
    pages = {
        None: ({"id": "1"}, "c-2"),
        "c-2": ({"id": "2"}, "c-3"),
        "c-3": ({"id": "3"}, None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        record, following = pages[request.url.params.get("after")]
        return httpx.Response(200, json={"data": [record], "meta": {"next": following}})

    adapter, api, _ = _adapter(handler, {"records_path": "data", "params": {"q": "all"}, "pagination": {
        "kind": "cursor", "cursor_path": "meta.next", "param": "after"}})
    assert _ids(adapter.extract()) == ["1", "2", "3"]
    assert [r.url.params.get("after") for r in api.requests] == [None, "c-2", "c-3"]
    assert all(r.url.params["q"] == "all" for r in api.requests)


def test_cursor_stops_when_the_path_is_missing_or_empty() -> None:
    for meta in ({}, {"next": ""}):
        adapter, api, _ = _adapter(lambda r, m=meta: httpx.Response(200, json={"data": [{"id": "1"}], "meta": m}),
                                   {"records_path": "data",
                                    "pagination": {"kind": "cursor", "cursor_path": "meta.next"}})
        assert _ids(adapter.extract()) == ["1"]
        assert len(api.requests) == 1


def test_a_repeated_cursor_is_a_loop_and_fails_the_source() -> None:
    adapter, _, _ = _adapter(
        lambda r: httpx.Response(200, json={"data": [], "next": "same"}),
        {"records_path": "data", "pagination": {"kind": "cursor", "cursor_path": "next"}},
    )
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "a second time" in (health.error or "")


def test_link_header_pagination_follows_rel_next() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page == 1:
            headers["Link"] = f'<{BASE}/contacts?page=2&per_page=2>; rel="next", <{BASE}/contacts?page=3>; rel="last"'
        elif page == 2:
            headers["Link"] = '</contacts?page=3&per_page=2>; rel="next"'  # relative link
        return httpx.Response(200, json=_people(2 * page - 1, 2 * page + 1), headers=headers)

    adapter, api, _ = _adapter(handler, {"params": {"per_page": 2}, "pagination": {"kind": "link"}})
    assert _ids(adapter.extract()) == [str(i) for i in range(1, 7)]
    assert [str(r.url) for r in api.requests] == [
        f"{BASE}/contacts?per_page=2",
        f"{BASE}/contacts?page=2&per_page=2",
        f"{BASE}/contacts?page=3&per_page=2",
    ]


def test_max_pages_guard_fails_instead_of_truncating() -> None:
    adapter, api, _ = _adapter(lambda r: httpx.Response(200, json=[{"id": r.url.params["page"]}]),
                               {"pagination": {"kind": "page"}}, max_pages=5)
    result = adapter.extract()
    assert result.health is not None and not result.health.healthy
    assert "max_pages=5" in (result.health.error or "")
    assert len(api.requests) == 5


# --- retries and failures ---------------------------------------------------------------


def _flaky(failures: list[httpx.Response | Exception], body: Any) -> Handler:
    queue = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        if queue:
            failure = queue.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        return httpx.Response(200, json=body)

    return handler


def test_5xx_is_retried_with_exponential_backoff() -> None:
    handler = _flaky([httpx.Response(503), httpx.Response(500), httpx.Response(502)], [{"id": "1"}])
    adapter, api, sleeps = _adapter(handler, retries={"backoff_s": 0.5, "max_backoff_s": 1.5})
    assert _ids(adapter.extract()) == ["1"]
    assert len(api.requests) == 4
    assert sleeps == [0.5, 1.0, 1.5]


def test_429_honours_retry_after_in_seconds_and_as_a_date() -> None:
    handler = _flaky([httpx.Response(429, headers={"Retry-After": "7"}),
                      httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})],
                     [{"id": "1"}])
    adapter, _, sleeps = _adapter(handler)
    assert _ids(adapter.extract()) == ["1"]
    assert sleeps == [7.0, 0.0]  # a date in the past means: now


def test_retry_after_longer_than_allowed_fails_the_source_at_once() -> None:
    adapter, api, sleeps = _adapter(_flaky([httpx.Response(429, headers={"Retry-After": "3600"})], []),
                                    retries={"max_retry_after_s": 60})
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "3600" in (health.error or "") and "max_retry_after_s=60" in (health.error or "")
    assert sleeps == [] and len(api.requests) == 1


def test_connection_errors_and_timeouts_are_retried() -> None:
    def fail(cls: type[httpx.TransportError]) -> Exception:
        return cls("boom", request=httpx.Request("GET", BASE))

    handler = _flaky([fail(httpx.ConnectError), fail(httpx.ReadTimeout)], [{"id": "1"}])
    adapter, api, sleeps = _adapter(handler)
    assert _ids(adapter.extract()) == ["1"]
    assert len(api.requests) == 3 and len(sleeps) == 2


def test_retries_run_out_after_max_attempts() -> None:
    adapter, api, sleeps = _adapter(lambda r: httpx.Response(503), retries={"max_attempts": 3})
    with pytest.raises(SourceError) as err:
        list(adapter.read("contact", adapter.config.streams["contact"]))
    assert "503 Service Unavailable, still after 3 attempt(s)" in str(err.value)
    assert len(api.requests) == 3 and len(sleeps) == 2


def test_a_4xx_is_not_retried_and_names_the_source_and_the_url() -> None:
    adapter, api, sleeps = _adapter(lambda r: httpx.Response(404, json={"error": "no such endpoint"}),
                                    {"params": {"page_size": 10}})
    with pytest.raises(SourceError) as err:
        list(adapter.read("contact", adapter.config.streams["contact"]))
    message = str(err.value)
    assert message.startswith("source 'crm_api': ")
    assert f"GET {BASE}/contacts?page_size=10 returned 404 Not Found" in message
    assert "no such endpoint" in message
    assert len(api.requests) == 1 and sleeps == []


def test_each_request_carries_the_configured_timeout() -> None:
    adapter, api, _ = _adapter(lambda r: httpx.Response(200, json=[]), timeout_s=2.5)
    adapter.extract()
    assert api.requests[0].extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


def test_retry_after_parsing() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert _retry_after("12", now) == 12.0
    assert _retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert _retry_after("soon", now) is None
    assert _retry_after(None, now) is None


# --- auth and secrets -------------------------------------------------------------------


def _every_message(adapter: HttpAdapter, caplog: pytest.LogCaptureFixture) -> str:
    """Everything a person could see: log lines, the exception (with traceback) and the health."""
    caplog.set_level(logging.DEBUG)
    parts = []
    try:
        list(adapter.read("contact", adapter.config.streams["contact"]))
    except SourceError as exc:
        parts += [str(exc), "".join(traceback.format_exception(exc))]
        chained: BaseException | None = exc
        while chained is not None:  # what the exception object holds, shown or not
            parts += [repr(chained), repr(vars(chained))]
            chained = chained.__cause__ or chained.__context__
    health = adapter.extract().health
    assert health is not None
    parts += [health.model_dump_json(), caplog.text]
    return "\n".join(parts)


def test_bearer_token_is_sent_and_never_shown(monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CRM_TOKEN", TOKEN)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if len(seen) <= 2:
            return httpx.Response(503)
        # An API that echoes the credentials back in its error.
        return httpx.Response(401, text=f"invalid token {TOKEN} for {request.headers['Authorization']}")

    adapter, _, _ = _adapter(handler, auth={"kind": "bearer", "token_env": "CRM_TOKEN"})
    shown = _every_message(adapter, caplog)
    assert seen[0] == f"Bearer {TOKEN}"
    assert "401 Unauthorized" in shown and "crm_api" in shown and f"{BASE}/contacts" in shown
    assert TOKEN not in shown
    assert "***" in shown


def test_basic_auth_password_and_its_encoding_are_never_shown(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CRM_USER", "svc-reconcile")
    monkeypatch.setenv("CRM_PASSWORD", "hunter2-very-secret")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text=f"denied: {request.headers['Authorization']}")

    adapter, _, _ = _adapter(handler, auth={"kind": "basic", "username_env": "CRM_USER",
                                            "password_env": "CRM_PASSWORD"})
    shown = _every_message(adapter, caplog)
    assert "403 Forbidden" in shown
    assert "hunter2-very-secret" not in shown
    assert "c3ZjLXJlY29uY2lsZTpodW50ZXIyLXZlcnktc2VjcmV0" not in shown  # base64 of user:password


def test_header_auth_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CRM_KEY", "key-0123456789")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError(f"cannot reach, key was {request.headers['X-API-Key']}", request=request)

    adapter, _, _ = _adapter(handler, auth={"kind": "header", "header": "X-API-Key",
                                            "value_env": "CRM_KEY", "prefix": "Key "},
                             retries={"max_attempts": 2})
    shown = _every_message(adapter, caplog)
    assert seen[0].headers["X-API-Key"] == "Key key-0123456789"
    assert "ConnectError" in shown and "after 2 attempt(s)" in shown
    assert "key-0123456789" not in shown


def test_missing_environment_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    adapter, api, _ = _adapter(lambda r: httpx.Response(200, json=[]),
                               auth={"kind": "bearer", "token_env": "CRM_TOKEN"})
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "'CRM_TOKEN'" in (health.error or "") and "auth.token_env" in (health.error or "")
    assert api.requests == []


def test_a_password_in_the_url_is_redacted() -> None:
    adapter, _, _ = _adapter(lambda r: httpx.Response(500), {"url": "https://bob:pa55w0rd@api.example.test/x"},
                             retries={"max_attempts": 1})
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "pa55w0rd" not in (health.error or "")
    assert "https://***@api.example.test/x" in (health.error or "")


def test_secrets_cannot_be_written_in_the_config() -> None:
    with pytest.raises(ValidationError) as err:
        HttpSourceConfig.model_validate({"kind": "http", "auth": {"kind": "bearer", "token": TOKEN},
                                         "streams": {"contact": {"url": BASE, "fields": FIELDS}}})
    types = {e["type"] for e in err.value.errors()}
    assert "extra_forbidden" in types and "missing" in types


# --- configuration ----------------------------------------------------------------------


def test_config_through_parse_config_names_bad_pagination_fields() -> None:
    from reconcile.errors import ConfigError

    source = {"kind": "http", "base_url": BASE, "auth": {"kind": "bearer", "token_env": "T"},
              "streams": {"contact": {"url": "/c", "fields": FIELDS,
                                      "pagination": {"kind": "cursor", "cursor_pth": "x"}}}}
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"api": source}}, origin="reconcile.yaml")
    text = str(err.value)
    assert "sources.api.streams.contact.pagination.cursor.cursor_pth" in text
    source["streams"]["contact"]["pagination"] = {"kind": "cursor", "cursor_path": "meta.next"}
    config = parse_config({"sources": {"api": source}})
    assert config.sources["api"].kind == "http"
    assert config.digest()


def test_page_size_needs_both_settings() -> None:
    with pytest.raises(ValidationError, match="both 'size_param' and 'size'"):
        HttpSourceConfig.model_validate({"kind": "http", "streams": {"contact": {
            "url": BASE, "fields": FIELDS, "pagination": {"kind": "page", "size": 10}}}})


def test_without_httpx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, _, _ = _adapter(lambda r: httpx.Response(200, json=[]))
    monkeypatch.setitem(sys.modules, "httpx", None)
    health = adapter.extract().health
    assert health is not None and not health.healthy
    assert "reconcile-engine[http]" in (health.error or "")


def test_credentials_go_only_to_the_configured_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_KEY", "key-0123456789")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.example.test" and request.url.path == "/contacts":
            # The next page lives on another host (a CDN, or an attacker's link).
            return httpx.Response(200, json=[{"id": "1"}],
                                  headers={"Link": '<https://cdn.other.test/p2>; rel="next"'})
        if request.url.path == "/p2":
            return httpx.Response(302, headers={"Location": f"{BASE}/p3"})
        return httpx.Response(200, json=[{"id": "2"}])

    adapter, api, _ = _adapter(handler, {"pagination": {"kind": "link"}}, auth={
        "kind": "header", "header": "X-API-Key", "value_env": "CRM_KEY"})
    assert _ids(adapter.extract()) == ["1", "2"]
    sent = [(r.url.host, r.url.path, r.headers.get("X-API-Key")) for r in api.requests]
    assert sent == [
        ("api.example.test", "/contacts", "key-0123456789"),
        ("cdn.other.test", "/p2", None),
        ("api.example.test", "/p3", None),  # a redirect carries the headers it was sent with
    ]


# --- incremental: the stored cursor sent as a request parameter --------------------------------

_CHANGES = [
    {"id": "1", "name": "Old", "contact": {"email": "o@example.com"}, "updated": "2026-01-01T08:00:00Z"},
    {"id": "2", "name": "Edge", "contact": {"email": "e@example.com"}, "updated": "2026-01-05T10:00:00Z"},
    {"id": "3", "name": "New", "contact": {"email": "n@example.com"}, "updated": "2026-01-06T09:30:00Z"},
]


def _changes_api(honour: bool) -> Handler:
    """An API that returns rows changed at or after ``updated_since`` (or, not honouring it, every row)."""

    def handler(request: httpx.Request) -> httpx.Response:
        since = request.url.params.get("updated_since")
        rows = [r for r in _CHANGES if not honour or since is None or r["updated"] >= since]
        return httpx.Response(200, json={"data": rows})

    return handler


_INCREMENTAL = {"records_path": "data", "cursor": {"column": "updated"}, "cursor_param": "updated_since"}
_SINCE = {"contact": datetime.datetime(2026, 1, 5, 10, 0, tzinfo=datetime.UTC)}


@pytest.mark.parametrize(
    ("cursor_format", "sent"),
    [(None, "2026-01-05T10:00:00+00:00"), ("%Y-%m-%dT%H:%M:%SZ", "2026-01-05T10:00:00Z"),
     ("epoch", "1767607200"), ("epoch_ms", "1767607200000")],
)
def test_the_stored_cursor_is_sent_as_a_request_parameter(cursor_format: str | None, sent: str) -> None:
    stream = {**_INCREMENTAL, **({"cursor_format": cursor_format} if cursor_format else {})}
    adapter, api, _ = _adapter(_changes_api(honour=False), stream)
    result = adapter.extract(since=_SINCE)
    (request,) = api.requests
    assert request.url.params["updated_since"] == sent
    # The API here ignores it: the adapter's own filter still keeps only the changes.
    assert _ids(result) == ["2", "3"]
    assert result.health is not None and (result.health.rows_read, result.health.rows_skipped) == (2, 1)
    assert result.cursors["contact"] == datetime.datetime(2026, 1, 6, 9, 30, tzinfo=datetime.UTC)


def test_an_api_that_honours_the_parameter_sends_only_the_changes() -> None:
    adapter, api, _ = _adapter(_changes_api(honour=True),
                               {**_INCREMENTAL, "cursor_format": "%Y-%m-%dT%H:%M:%SZ"})
    result = adapter.extract(since=_SINCE)
    assert _ids(result) == ["2", "3"]  # the row at the boundary is read again, never missed
    assert result.health is not None and (result.health.rows_read, result.health.rows_skipped) == (2, 0)
    assert [r.url.params["updated_since"] for r in api.requests] == ["2026-01-05T10:00:00Z"]


def test_a_full_read_sends_no_cursor_and_every_page_sends_it() -> None:
    pages = {"1": _CHANGES[:2], "2": _CHANGES[2:], "3": []}
    adapter, api, _ = _adapter(
        lambda r: httpx.Response(200, json={"data": pages[r.url.params["page"]]}),
        {**_INCREMENTAL, "pagination": {"kind": "page"}},
    )
    assert _ids(adapter.extract()) == ["1", "2", "3"]
    assert all("updated_since" not in r.url.params for r in api.requests)
    api.requests.clear()
    adapter.extract(since=_SINCE)
    assert [(r.url.params["page"], r.url.params["updated_since"]) for r in api.requests] == [
        ("1", "2026-01-05T10:00:00+00:00"), ("2", "2026-01-05T10:00:00+00:00"), ("3", "2026-01-05T10:00:00+00:00")]


def test_an_integer_cursor_is_sent_as_it_is() -> None:
    rows = [{"id": str(i), "name": f"P{i}", "contact": {"email": f"p{i}@example.com"}, "seq": i} for i in (5, 9)]
    adapter, api, _ = _adapter(
        lambda r: httpx.Response(200, json={"data": [x for x in rows if x["seq"] >= int(r.url.params["after_seq"])]}),
        {"records_path": "data", "cursor": {"column": "seq", "type": "integer"}, "cursor_param": "after_seq"},
    )
    result = adapter.extract(since={"contact": 7})
    assert api.requests[0].url.params["after_seq"] == "7"
    assert _ids(result) == ["9"]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ({"cursor_param": "updated_since"}, "'cursor_param' sends the stream's cursor: give 'cursor' too"),
        ({"cursor": {"column": "seq", "type": "integer"}, "cursor_param": "s", "cursor_format": "epoch"},
         "'cursor_format' is for timestamp cursors, not 'integer' ones"),
        ({"cursor": {"column": "updated"}, "cursor_format": "epoch"}, "'cursor_format' goes with 'cursor_param'"),
        ({"cursor": {"column": "updated"}, "cursor_param": "since", "params": {"since": "x"}},
         "'cursor_param' 'since' is also in 'params'"),
    ],
)
def test_cursor_param_settings_are_checked(stream: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        HttpSourceConfig.model_validate(
            {"kind": "http", "streams": {"contact": {"url": "/c", "fields": FIELDS, **stream}}}
        )
    assert message in str(err.value)
