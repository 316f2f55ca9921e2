"""The ``http`` adapter: records from a JSON API, page after page.

Needs the ``http`` extra (``pip install "reconcile-engine[http]"``); httpx is
imported only when an http source is read.

Secrets come from environment variables only: the configuration names the
variables (``token_env``, ``username_env``...), never holds their values, and
every message this adapter writes (log lines, errors, the source's health) has
the values scrubbed out.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconcile._version import __version__
from reconcile.errors import SourceError
from reconcile.extract.base import (
    Adapter,
    RawRow,
    SourceConfig,
    StreamConfig,
    flatten,
    lone_surrogate,
)

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "CursorPagination",
    "HeaderAuth",
    "HttpAdapter",
    "HttpSourceConfig",
    "HttpStreamConfig",
    "LinkPagination",
    "OffsetPagination",
    "PagePagination",
    "RetryConfig",
]

log = logging.getLogger("reconcile.extract.http")

_FORBID = ConfigDict(extra="forbid")


# --- auth: names of environment variables, never values ---------------------------------


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>``, the token read from ``token_env``."""

    model_config = _FORBID

    kind: Literal["bearer"] = "bearer"
    token_env: str = Field(min_length=1)


class BasicAuth(BaseModel):
    """HTTP basic auth, user and password read from two environment variables."""

    model_config = _FORBID

    kind: Literal["basic"] = "basic"
    username_env: str = Field(min_length=1)
    password_env: str = Field(min_length=1)


class HeaderAuth(BaseModel):
    """Any header (``X-API-Key``...), its value ``prefix`` + the variable's value."""

    model_config = _FORBID

    kind: Literal["header"] = "header"
    header: str = Field(min_length=1)
    value_env: str = Field(min_length=1)
    prefix: str = ""


HttpAuth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="kind")]


# --- pagination --------------------------------------------------------------------------


class PagePagination(BaseModel):
    """Page numbers: ``?page=1``, ``?page=2``... until a page holds no records.

    Attributes:
        param: The query parameter holding the page number.
        start: The first page's number.
        size_param / size: Ask for pages of ``size`` records (both or neither).
        stop_when_short: Stop at a page with fewer than ``size`` records
            instead of asking for the next, empty one. Only when the server
            never returns fewer records than asked before the end.
    """

    model_config = _FORBID

    kind: Literal["page"] = "page"
    param: str = "page"
    start: int = 1
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1)
    stop_when_short: bool = False

    @model_validator(mode="after")
    def _size_pair(self) -> PagePagination:
        if (self.size_param is None) != (self.size is None):
            raise ValueError("give both 'size_param' and 'size', or neither")
        if self.stop_when_short and self.size is None:
            raise ValueError("'stop_when_short' needs 'size' (and 'size_param')")
        return self


class OffsetPagination(BaseModel):
    """Offset and limit: ``?offset=0&limit=100``, ``?offset=100&limit=100``...

    The offset moves by the number of records received, so a server that caps
    ``limit`` lower than asked loses nothing; reading stops at an empty page
    (or, with ``stop_when_short``, at a page shorter than ``limit``).
    """

    model_config = _FORBID

    kind: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1)
    start: int = Field(default=0, ge=0)
    stop_when_short: bool = False


class CursorPagination(BaseModel):
    """A cursor token: read from the body at ``cursor_path``, sent back as ``param``.

    Reading stops when the token is missing, null or empty.
    """

    model_config = _FORBID

    kind: Literal["cursor"] = "cursor"
    cursor_path: str = Field(min_length=1)
    param: str = "cursor"


class LinkPagination(BaseModel):
    """The ``Link: <...>; rel="next"`` response header (RFC 8288), followed until absent."""

    model_config = _FORBID

    kind: Literal["link"] = "link"


Pagination = Annotated[
    PagePagination | OffsetPagination | CursorPagination | LinkPagination,
    Field(discriminator="kind"),
]


class RetryConfig(BaseModel):
    """Retries on 429, 5xx, timeouts and connection errors, with exponential backoff.

    Attributes:
        max_attempts: Requests per page in all (1: no retry).
        backoff_s: The first wait; each retry doubles it, up to ``max_backoff_s``.
        max_backoff_s: The longest wait between two attempts.
        max_retry_after_s: A ``Retry-After`` header is honoured up to this
            many seconds; a longer one fails the source instead of stalling the run.
    """

    model_config = _FORBID

    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    max_retry_after_s: float = Field(default=300.0, ge=0)


class HttpStreamConfig(StreamConfig):
    """One record type read from one API endpoint.

    Attributes:
        url: The endpoint; relative to the source's ``base_url`` when not absolute.
        method: The HTTP method (GET).
        params: Query parameters sent with every request.
        headers: Extra request headers (not secrets: use ``auth``).
        records_path: Where the list of records is in the JSON body, with dots
            (``data.items``; a number indexes a list). Default: the body is the list.
        pagination: How to ask for the next page (default: one request).
        cursor_param: For an incremental stream (``cursor``), the query
            parameter that sends the stored cursor, so the API returns only
            rows changed at or after it (``updated_since``). The adapter
            still drops older rows the API returns; a full read (the first
            run, ``--full-refresh``, a key scan) sends no such parameter.
        cursor_format: How a ``timestamp`` cursor is written in
            ``cursor_param``: a ``strftime`` format, applied to the time in
            UTC (``"%Y-%m-%dT%H:%M:%SZ"``), or ``epoch`` / ``epoch_ms`` for
            seconds / milliseconds since 1970. Default: ISO 8601 with the
            UTC offset (``2026-01-05T10:00:00+00:00``). Integer and string
            cursors are sent as they are.
    """

    url: str = Field(min_length=1)
    method: Literal["GET"] = "GET"
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    records_path: str | None = None
    pagination: Pagination | None = None
    cursor_param: str | None = Field(default=None, min_length=1)
    cursor_format: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _cursor_param_needs_a_cursor(self) -> HttpStreamConfig:
        if self.cursor_param is not None and self.cursor is None:
            raise ValueError("'cursor_param' sends the stream's cursor: give 'cursor' too")
        if self.cursor_format is not None:
            if self.cursor_param is None:
                raise ValueError("'cursor_format' goes with 'cursor_param'")
            assert self.cursor is not None
            if self.cursor.type != "timestamp":
                raise ValueError(f"'cursor_format' is for timestamp cursors, not {self.cursor.type!r} ones")
        if self.cursor_param is not None and self.cursor_param in self.params:
            raise ValueError(f"'cursor_param' {self.cursor_param!r} is also in 'params'")
        return self

    def cursor_value(self, since: Any) -> str:
        """The stored cursor as sent in ``cursor_param``."""
        if isinstance(since, dt.datetime):
            moment = since if since.tzinfo is not None else since.replace(tzinfo=dt.UTC)
            moment = moment.astimezone(dt.UTC)
            if self.cursor_format is None:
                return moment.isoformat()
            if self.cursor_format == "epoch":
                return str(int(moment.timestamp()))
            if self.cursor_format == "epoch_ms":
                return str(int(moment.timestamp() * 1000))
            return moment.strftime(self.cursor_format)
        return str(since)


class HttpSourceConfig(SourceConfig):
    """Configuration of an ``http`` source.

    Attributes:
        base_url: Prefix of the streams' relative URLs.
        headers: Headers sent with every request (not secrets: use ``auth``).
        auth: Bearer token, basic auth or a header, from environment variables.
        timeout_s: Timeout of each request (connect, read, write, pool).
        retries: When and how often to retry.
        max_pages: Reading more pages than this from one stream fails the
            source (a guard against a pagination loop), instead of truncating.
    """

    kind: Literal["http"] = "http"
    streams: dict[str, HttpStreamConfig] = Field(min_length=1)  # type: ignore[assignment]
    base_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    retries: RetryConfig = Field(default_factory=RetryConfig)
    max_pages: int = Field(default=10_000, ge=1)


# --- helpers -----------------------------------------------------------------------------

_MISSING = object()
_USERINFO = re.compile(r"(://)[^/@\s]*@")


def _at_path(body: Any, path: str | None) -> Any:
    """The value at a dotted path, or ``_MISSING``."""
    if path is None or path == "":
        return body
    value = body
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value



def _retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _origin(url: Any) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:12])
        return f"an object with keys {keys}" if keys else "an empty object"
    return "a list" if isinstance(value, list) else type(value).__name__


class HttpAdapter(Adapter):
    """Reads JSON records from an HTTP API, following its pagination.

    Records are positioned as ``record N (page P)``; nested objects in a
    record are flattened with dots (``address.city``).

    Args:
        name: The source's name in the configuration.
        config: The validated source configuration.
        base_dir: Unused; accepted like every adapter.
        transport: An ``httpx`` transport to use instead of the network, such
            as ``httpx.MockTransport(handler)`` in tests.
        sleep: Called with the seconds to wait before a retry (``time.sleep``).
    """

    kind: ClassVar[str] = "http"
    config_model: ClassVar[type[SourceConfig]] = HttpSourceConfig
    config: HttpSourceConfig

    def __init__(
        self,
        name: str,
        config: SourceConfig,
        base_dir: Path | None = None,
        *,
        transport: Any = None,
        sleep: Callable[[float], None] | None = None,
    ):
        super().__init__(name, config, base_dir)
        self._transport = transport
        self._sleep = sleep or time.sleep
        self._secrets: list[str] = []
        self._secret_headers: list[str] = []
        self._origins: set[tuple[str, str, int | None]] = set()

    # Every message leaves through here, so no secret value can reach a log line,
    # an exception or the source's health.
    def _scrub(self, text: str) -> str:
        text = _USERINFO.sub(r"\1***@", text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _error(self, message: str) -> SourceError:
        return SourceError(self.name, self._scrub(message))

    def _env(self, variable: str, setting: str, *, secret: bool = True) -> str:
        value = os.environ.get(variable)
        if not value:
            raise self._error(
                f"environment variable {variable!r} ({setting}) is not set; "
                "export it before the run (secrets are never written in the configuration)"
            )
        if secret:
            self._secrets.append(value)
        return value

    def _client(self) -> Any:
        try:
            import httpx
        except ImportError:
            raise self._error(
                "reading an HTTP API needs httpx; install it with: pip install 'reconcile-engine[http]'"
            ) from None
        headers = {"User-Agent": f"reconcile/{__version__}", "Accept": "application/json"}
        headers.update(self.config.headers)
        spec = self.config.auth
        if isinstance(spec, BearerAuth):
            headers["Authorization"] = "Bearer " + self._env(spec.token_env, "auth.token_env")
            self._secret_headers.append("Authorization")
        elif isinstance(spec, HeaderAuth):
            headers[spec.header] = spec.prefix + self._env(spec.value_env, "auth.value_env")
            self._secret_headers.append(spec.header)
        elif isinstance(spec, BasicAuth):
            username = self._env(spec.username_env, "auth.username_env", secret=False)
            password = self._env(spec.password_env, "auth.password_env")
            # The header carries them base64-encoded: scrub that form too.
            encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._secrets.append(encoded)
            headers["Authorization"] = f"Basic {encoded}"
            self._secret_headers.append("Authorization")
        client = httpx.Client(
            base_url=self.config.base_url or "",
            headers=headers,
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=self._transport,
            follow_redirects=True,
            event_hooks={"request": [self._keep_secrets_home]},
        )
        # Credentials go only to the hosts the configuration names.
        for stream in self.config.streams.values():
            assert isinstance(stream, HttpStreamConfig)
            self._origins.add(_origin(client.build_request(stream.method, stream.url).url))
        return client

    def _keep_secrets_home(self, request: Any) -> None:
        """Called for every request, redirects and next links included."""
        if self._secret_headers and _origin(request.url) not in self._origins:
            for header in self._secret_headers:
                request.headers.pop(header, None)

    def _backoff(self, attempt: int) -> float:
        retries = self.config.retries
        return float(min(retries.max_backoff_s, retries.backoff_s * 2 ** (attempt - 1)))

    def _send(self, client: Any, request: Any, page: int) -> Any:
        """Send one request, retrying what is worth retrying; the response, or SourceError."""
        import httpx

        where = f"{request.method} {request.url}"
        attempts = self.config.retries.max_attempts
        for attempt in range(1, attempts + 1):
            log.debug("%s", self._scrub(f"{where} (page {page}, attempt {attempt})"))
            # Errors are raised outside the except clauses, so the SourceError does not
            # carry httpx's exception (and the request headers with it) as its context.
            response = None
            retryable = True
            try:
                response = client.send(request)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                retryable = False
            if response is None:
                if not retryable:
                    raise self._error(f"{where} failed: {problem}")
                if attempt == attempts:
                    raise self._error(f"{where} failed after {attempts} attempt(s): {problem}")
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    return response
                reason = f"{status} {response.reason_phrase}".strip()
                if status != 429 and status < 500:
                    snippet = " ".join(response.text.split())[:200]
                    raise self._error(
                        f"{where} returned {reason}" + (f": {snippet}" if snippet else "")
                    )
                problem = reason
                if attempt == attempts:
                    raise self._error(f"{where} returned {reason}, still after {attempts} attempt(s)")
                asked = _retry_after(response.headers.get("Retry-After"), dt.datetime.now(dt.UTC))
                limit = self.config.retries.max_retry_after_s
                if asked is not None and asked > limit:
                    raise self._error(
                        f"{where} returned {reason} and asked to retry after {asked:.0f} s, "
                        f"longer than retries.max_retry_after_s={limit:g}"
                    )
                wait = asked if asked is not None else self._backoff(attempt)
            log.info(
                "%s", self._scrub(f"source {self.name!r}: {where}: {problem}; retrying in {wait:.1f} s")
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _records(self, response: Any, stream: HttpStreamConfig, where: str) -> tuple[Any, list[Any]]:
        problem = None
        try:
            body = response.json()
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            problem = str(exc)
        if problem is not None:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise self._error(f"{where}: the response is not valid JSON ({kind}): {problem}")
        found = _at_path(body, stream.records_path)
        if found is _MISSING:
            raise self._error(
                f"{where}: no {stream.records_path!r} in the response, which is {_describe(body)}; "
                "check the stream's records_path"
            )
        if found is None:
            return body, []
        if not isinstance(found, list):
            at = f"at {stream.records_path!r}" if stream.records_path else "as the body"
            raise self._error(
                f"{where}: expected a list of records {at}, found {_describe(found)}; "
                "check the stream's records_path"
            )
        return body, found

    def _pages(self, client: Any, stream: HttpStreamConfig, since: Any = None) -> Iterator[list[Any]]:
        pagination = stream.pagination
        url: str = stream.url
        params: dict[str, Any] = dict(stream.params)
        if since is not None and stream.cursor_param is not None:
            params[stream.cursor_param] = stream.cursor_value(since)
        if isinstance(pagination, PagePagination):
            params[pagination.param] = pagination.start
            if pagination.size_param is not None:
                params[pagination.size_param] = pagination.size
        elif isinstance(pagination, OffsetPagination):
            params[pagination.offset_param] = pagination.start
            params[pagination.limit_param] = pagination.limit
        seen_cursors: set[str] = set()
        seen_urls: set[str] = set()
        page = 0
        while True:
            page += 1
            if page > self.config.max_pages:
                raise self._error(
                    f"{stream.method} {url}: more than max_pages={self.config.max_pages} pages; "
                    "raise max_pages if the API really has more, or check the pagination settings"
                )
            # An empty mapping would strip the query of a next link: pass None instead.
            request = client.build_request(
                stream.method, url, params=params or None, headers=stream.headers
            )
            response = self._send(client, request, page)
            where = f"{request.method} {request.url} (page {page})"
            body, records = self._records(response, stream, where)
            yield records
            if pagination is None:
                return
            if isinstance(pagination, PagePagination):
                if not records or (pagination.stop_when_short and len(records) < (pagination.size or 0)):
                    return
                params[pagination.param] += 1
            elif isinstance(pagination, OffsetPagination):
                if not records or (pagination.stop_when_short and len(records) < pagination.limit):
                    return
                params[pagination.offset_param] += len(records)
            elif isinstance(pagination, CursorPagination):
                token = _at_path(body, pagination.cursor_path)
                if token is _MISSING or token is None or token == "":
                    return
                if not isinstance(token, str | int):
                    raise self._error(
                        f"{where}: the cursor at {pagination.cursor_path!r} is {_describe(token)}, "
                        "not a string or number"
                    )
                token = str(token)
                if token in seen_cursors:
                    raise self._error(f"{where}: the API sent cursor {token!r} a second time (a loop)")
                seen_cursors.add(token)
                params[pagination.param] = token
            else:
                link = response.links.get("next", {}).get("url")
                if not link:
                    return
                url = str(response.url.join(link))
                if url in seen_urls:
                    raise self._error(f"{where}: the next link points at {url} again (a loop)")
                seen_urls.add(url)
                params = {}  # the next link carries its own query (the cursor parameter too)

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, HttpStreamConfig)
        number = 0
        since = self.since.get(record_type)
        if since is not None and stream.cursor_param is not None:
            log.debug("source %s, %s: asking for rows changed since %s", self.name, record_type,
                      stream.cursor_value(since))
        with self._client() as client:
            for page, records in enumerate(self._pages(client, stream, since), start=1):
                for item in records:
                    number += 1
                    position = f"record {number} (page {page})"
                    if not isinstance(item, dict):
                        yield RawRow(
                            position=position,
                            data=None,
                            error=f"expected a JSON object per record, found {_describe(item)}",
                        )
                        continue
                    data = flatten(item)
                    lone = lone_surrogate(data)
                    if lone is not None:
                        yield RawRow(position=position, data=data, error=lone[1], field=lone[0])
                        continue
                    yield RawRow(position=position, data=data)
