"""The REST helpers: classified answers, retries that honour Retry-After, paging, secrets kept out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
import requests
from pydantic import SecretStr

from connectors.base import (
    AuthError,
    BadRecordError,
    Capabilities,
    CheckResult,
    ConflictError,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    Page,
    PermanentError,
    ThrottledError,
    TlsError,
    TransientError,
)
from connectors.limits import forget_limiters
from connectors.rest import (
    Backoff,
    MockTransport,
    Paged,
    RestClient,
    RestSession,
    cursor_token_pages,
    fake_response,
    next_link_pages,
    offset_pages,
    page_number_pages,
    redact,
    session_for,
)
from mapping.models import Stream

API = "https://erp.example/api/v2"
SECRET = "sk-live-SENTINEL-rest-77c1"

Handler = Callable[[requests.PreparedRequest], requests.Response]


def _answers(*responses: requests.Response | Exception) -> Handler:
    queue = list(responses)

    def handler(request: requests.PreparedRequest) -> requests.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def _client(handler: Handler, **kwargs: object) -> tuple[RestClient, MockTransport, list[float]]:
    waits: list[float] = []
    transport = MockTransport(handler)
    client = RestClient(
        API, RestSession(transport=transport, secrets=[SECRET]), sleep=waits.append, what="Acme", **kwargs
    )  # type: ignore[arg-type]
    return client, transport, waits


# -- answers and retries --------------------------------------------------------------------------


def test_a_throttled_read_waits_as_the_erp_asked_then_succeeds() -> None:
    client, transport, waits = _client(
        _answers(
            fake_response(429, text="slow down", headers={"Retry-After": "7"}),
            fake_response(200, json={"value": [1, 2]}),
        )
    )
    assert client.json("GET", "invoices") == {"value": [1, 2]}
    assert waits == [7.0]
    assert len(transport.requests) == 2


def test_a_retry_after_longer_than_the_clients_patience_goes_to_the_engine_at_once() -> None:
    client, transport, waits = _client(
        _answers(fake_response(429, headers={"Retry-After": "3600"})), backoff=Backoff(max_wait=60)
    )
    with pytest.raises(ThrottledError) as caught:
        client.request("GET", "invoices")
    assert caught.value.retry_after == 3600
    assert caught.value.retriable
    assert waits == [] and len(transport.requests) == 1


def test_throttling_that_lasts_ends_in_a_throttled_error_that_keeps_its_retry_after() -> None:
    client, transport, waits = _client(
        _answers(fake_response(429, headers={"Retry-After": "2"})), backoff=Backoff(attempts=3)
    )
    with pytest.raises(ThrottledError) as caught:
        client.request("GET", "invoices")
    assert caught.value.retry_after == 2
    assert waits == [2.0, 2.0]
    assert len(transport.requests) == 3


def test_a_server_error_on_a_read_is_retried_with_growing_jittered_waits() -> None:
    client, transport, waits = _client(
        _answers(fake_response(503), fake_response(502), fake_response(500), fake_response(200, json={})),
        backoff=Backoff(attempts=4, initial=1.0, cap=3.0),
    )
    client.request("GET", "invoices")
    assert len(transport.requests) == 4
    assert len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, [1.0, 2.0, 3.0], strict=True))


def test_a_post_that_may_have_reached_the_erp_is_not_repeated_by_the_client() -> None:
    client, transport, waits = _client(_answers(fake_response(502, text="bad gateway")))
    with pytest.raises(TransientError):
        client.request("POST", "payments", json={"amount": "10.00"})
    assert len(transport.requests) == 1, "a resend is the engine's call (outbox key, find_written)"
    assert waits == []


def test_a_post_that_never_reached_the_erp_is_sent_again() -> None:
    refused = requests.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")
    client, transport, _ = _client(_answers(refused, fake_response(201, json={"id": "P-1"})))
    assert client.json("POST", "payments", json={"amount": "10.00"}) == {"id": "P-1"}
    assert len(transport.requests) == 2


def test_a_throttled_post_is_sent_again_because_the_erp_did_not_act() -> None:
    client, transport, _ = _client(
        _answers(fake_response(429, headers={"Retry-After": "1"}), fake_response(201, json={"id": "P-2"}))
    )
    assert client.json("POST", "payments", json={})["id"] == "P-2"
    assert len(transport.requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, PermanentError),
        (409, ConflictError),
        (412, ConflictError),
        (422, BadRecordError),
    ],
    ids=["401-auth", "403-permission", "409-conflict", "412-precondition", "422-bad-record"],
)
def test_answers_that_a_retry_cannot_fix_are_raised_classified_after_one_call(
    status: int, error: type[Exception]
) -> None:
    client, transport, waits = _client(_answers(fake_response(status, text="no")))
    with pytest.raises(error):
        client.request("GET", "invoices/12")
    assert len(transport.requests) == 1 and waits == []


def test_network_failures_are_transient_and_an_untrusted_certificate_is_not() -> None:
    client, _, _ = _client(_answers(requests.ReadTimeout("read timed out")), backoff=Backoff(attempts=2))
    with pytest.raises(TransientError, match="timed out"):
        client.request("GET", "invoices")
    untrusted = requests.exceptions.SSLError("certificate verify failed: self-signed certificate (_ssl.c:1)")
    client, transport, _ = _client(_answers(untrusted))
    with pytest.raises(TlsError, match="ca_bundle"):
        client.request("GET", "invoices")
    assert len(transport.requests) == 1


def test_a_gateway_page_instead_of_json_is_transient_not_an_empty_answer() -> None:
    client, _, _ = _client(_answers(fake_response(200, text="<html>proxy login</html>")))
    with pytest.raises(TransientError, match="unreadable answer"):
        client.json("GET", "invoices")


def test_an_erp_with_its_own_error_bodies_overrides_classify() -> None:
    class AcmeClient(RestClient):
        def classify(self, response: requests.Response) -> Exception | None:  # type: ignore[override]
            body = response.json() if response.content else {}
            if body.get("error") == "RATE_LIMIT":
                return ThrottledError("Acme rate limit", retry_after=5.0, erp_code="RATE_LIMIT")
            return super().classify(response)

    waits: list[float] = []
    transport = MockTransport(
        _answers(fake_response(200, json={"error": "RATE_LIMIT"}), fake_response(200, json={"ok": 1}))
    )
    client = AcmeClient(API, RestSession(transport=transport), sleep=waits.append)
    assert client.json("GET", "invoices") == {"ok": 1}
    assert waits == [5.0]


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_in_an_error_body_or_a_query_string_are_masked() -> None:
    client, _, _ = _client(
        _answers(fake_response(400, text=f"invalid token {SECRET} for client_secret=abc123&x=1"))
    )
    with pytest.raises(BadRecordError) as caught:
        client.request("GET", f"invoices?api_key={SECRET}")
    text = str(caught.value)
    assert SECRET not in text and "abc123" not in text
    assert "[secure]" in text
    assert redact(f"https://x/?access_token={SECRET}&page=2") == "https://x/?access_token=[secure]&page=2"


def test_urllib3_request_lines_in_debug_logs_do_not_show_secrets(caplog: pytest.LogCaptureFixture) -> None:
    RestSession(secrets=[SECRET])
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s',
        "https",
        "erp.example",
        443,
        "GET",
        f"/x?key={SECRET}",
        "HTTP/1.1",
        200,
        2,
    )
    assert SECRET not in caplog.text
    assert "[secure]" in caplog.text


def test_the_session_and_the_client_never_show_credentials_in_repr() -> None:
    session = RestSession(secrets=[SECRET])
    session.headers["Authorization"] = f"Bearer {SECRET}"
    client = RestClient(API, session)
    assert SECRET not in repr(session) and SECRET not in repr(client)


class _AcmeSettings(ConnectorSettings):
    api_key: SecretStr
    verify_tls: bool = True
    ca_bundle: str | None = None


class _AcmeConnector(Connector):
    name: ClassVar[str] = "acme-rest"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streams=frozenset({Stream.INVOICES}), requests_per_minute=600, max_concurrency=4
    )
    settings_model: ClassVar[type[ConnectorSettings]] = _AcmeSettings

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, cursor: Cursor | None) -> Iterator[Page]:
        yield from ()


def test_session_for_a_connector_applies_its_tls_settings_and_masks_its_secrets() -> None:
    forget_limiters()
    connector = _AcmeConnector.create(
        {"api_key": SECRET, "ca_bundle": "/etc/acme/ca.pem"}, ConnectorContext("acme")
    )
    session = session_for(connector)
    assert session.verify == "/etc/acme/ca.pem"
    assert session.redact(f"key {SECRET}") == "key [secure]"
    assert session.limiter is connector.limiter and session.limiter.per_minute == 600
    plain = _AcmeConnector.create({"api_key": SECRET}, ConnectorContext("acme-2"))
    assert session_for(plain).verify is True


def test_an_injected_transport_sees_every_request_the_session_sends() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: requests.PreparedRequest) -> requests.Response:
        seen.append((request.method or "", request.headers.get("Authorization")))
        return fake_response(200, json={"ok": True})

    session = RestSession(transport=MockTransport(handler))
    session.headers["Authorization"] = "Bearer t"
    session.get("http://erp.local/a")
    session.post("https://erp.example/b", json={})
    assert seen == [("GET", "Bearer t"), ("POST", "Bearer t")]
    assert session.sent == 2


# -- paging ----------------------------------------------------------------------------------------

INVOICES = [f"INV-{n:03d}" for n in range(1, 24)]


def _by_page(size: int, cap: int | None = None) -> Callable[[int], list[str]]:
    served = min(size, cap or size)
    return lambda number: INVOICES[(number - 1) * served : number * served]


def test_page_number_paging_reads_every_record_and_says_where_to_resume() -> None:
    chunks = list(page_number_pages(_by_page(10), page_size=10))
    assert chunks[0].items == INVOICES[:10]
    assert [i for c in chunks for i in c.items] == INVOICES
    assert [c.next for c in chunks] == [2, 3, None]
    resumed = list(page_number_pages(_by_page(10), page_size=10, first=chunks[0].next))
    assert [i for c in resumed for i in c.items] == INVOICES[10:]


def test_page_number_paging_without_a_page_size_survives_an_erp_that_serves_less_than_asked() -> None:
    # Asked for 10, the ERP caps pages at 4: reading on until an empty page loses nothing.
    chunks = list(page_number_pages(_by_page(10, cap=4)))
    assert [i for c in chunks for i in c.items] == INVOICES
    assert chunks[-1] == Paged([], None)


def test_offset_paging_advances_by_what_came_back_not_by_what_was_asked() -> None:
    asked: list[int] = []

    def fetch(offset: int) -> list[str]:
        asked.append(offset)
        return INVOICES[offset : offset + 4]  # the ERP serves 4 whatever the request said

    chunks = list(offset_pages(fetch))
    assert [i for c in chunks for i in c.items] == INVOICES
    assert asked[:3] == [0, 4, 8]


def test_next_link_paging_follows_links_to_the_end_and_refuses_a_loop() -> None:
    pages = {
        f"{API}/invoices": (INVOICES[:10], f"{API}/invoices?skiptoken=10"),
        f"{API}/invoices?skiptoken=10": (INVOICES[10:20], f"{API}/invoices?skiptoken=20"),
        f"{API}/invoices?skiptoken=20": (INVOICES[20:], None),
    }
    chunks = list(next_link_pages(lambda url: pages[url], f"{API}/invoices"))
    assert [i for c in chunks for i in c.items] == INVOICES
    assert chunks[0].next == f"{API}/invoices?skiptoken=10" and chunks[-1].next is None

    looping = {**pages, f"{API}/invoices?skiptoken=20": (INVOICES[20:], f"{API}/invoices?skiptoken=10")}
    with pytest.raises(PermanentError, match="leads back"):
        list(next_link_pages(lambda url: looping[url], f"{API}/invoices"))


def test_cursor_token_paging_passes_each_token_on_and_stops_without_one() -> None:
    tokens = {None: (INVOICES[:12], "t1"), "t1": (INVOICES[12:], "")}
    chunks = list(cursor_token_pages(lambda token: tokens[token]))
    assert [i for c in chunks for i in c.items] == INVOICES
    assert [c.next for c in chunks] == ["t1", None]
    with pytest.raises(PermanentError, match="repeated"):
        list(cursor_token_pages(lambda token: (INVOICES[:1], "same")))


def test_paging_through_the_client_counts_one_call_per_chunk() -> None:
    def handler(request: requests.PreparedRequest) -> requests.Response:
        page = int((request.url or "").rsplit("page=", 1)[1])
        return fake_response(200, json={"items": INVOICES[(page - 1) * 10 : page * 10]})

    client, transport, _ = _client(handler)
    chunks = list(
        page_number_pages(lambda n: client.json("GET", "invoices", params={"page": n})["items"], page_size=10)
    )
    assert sum(c.api_calls for c in chunks) == len(transport.requests) == 3


def test_a_look_up_by_id_takes_404_as_an_answer_not_an_error() -> None:
    client, transport, _ = _client(_answers(fake_response(404, json={"error": "not_found"})))
    assert client.request("GET", "invoices/99", accept=[404]).status_code == 404
    with pytest.raises(BadRecordError):
        client.request("GET", "invoices/99")
    assert len(transport.requests) == 2, "a 404 is not retried"
