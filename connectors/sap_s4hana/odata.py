"""The OData V2 side of the connector: pyodata services, keyset paging, and ``$batch`` change sets.

pyodata builds each service from SAP's ``$metadata`` (annotations it does not model are ignored)
and sends every call through the connection's ``SapSession``. Reads page by key (``$orderby`` on
the key, ``$filter`` past the last key delivered, ``$top``), so a page's cursor survives
postings made while the pull runs; a ``__next`` link from server-side paging is followed as is.

pyodata's own change-set handler raises on the first failed change set, which would lose the
answers of the others; ``send_changesets`` reads every change set's answer itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from connectors.errors import ConnectorError
from connectors.sap_s4hana.client import classify_response, guarded

__all__ = ["ChangeResult", "ODataServices", "keyset_after", "or_terms", "quote"]


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def or_terms(terms: Iterable[str]) -> str:
    parts = [t for t in terms if t]
    return "(" + " or ".join(parts) + ")" if parts else ""


def keyset_after(keys: Sequence[str], values: Sequence[str]) -> str:
    """``$filter`` for rows after ``values`` in the order of ``keys`` (a composite key)."""
    name, value = keys[0], quote(values[0])
    if len(keys) == 1:
        return f"{name} gt {value}"
    return f"({name} gt {value} or ({name} eq {value} and {keyset_after(keys[1:], values[1:])}))"


@dataclass
class ChangeResult:
    """The answer to one change set: its status, headers and SAP's error (if it failed)."""

    ok: bool
    status: int
    etags: list[str | None]
    error: ConnectorError | None = None


class ODataServices:
    """pyodata clients of the services the connector uses, built once per connection."""

    def __init__(self, session: requests.Session, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self._services: dict[str, Any] = {}
        self.calls = 0

    def service(self, name: str) -> Any:
        found = self._services.get(name)
        if found is None:
            import pyodata
            from pyodata.v2.model import Config, PolicyIgnore

            config = Config(default_error_policy=PolicyIgnore(), retain_null=True)
            self.calls += 1
            found = guarded(
                f"SAP {name} $metadata",
                lambda: pyodata.Client(f"{self.base}/sap/opu/odata/sap/{name}/", self.session, config=config),
            )
            self._services[name] = found
        return found

    def query(
        self,
        service: str,
        entity_set: str,
        *,
        filter: str | None = None,
        select: Sequence[str] | None = None,
        expand: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        next_url: str | None = None,
    ) -> tuple[list[Any], str | None]:
        """One page of ``entity_set``: pyodata entity proxies and the ``__next`` link, if any."""
        proxy = getattr(self.service(service).entity_sets, entity_set)
        request = proxy.get_entities()
        if next_url:
            request = request.next_url(next_url)
        else:
            if filter:
                request = request.filter(filter)
            if select:
                request = request.select(",".join(select))
            if expand:
                request = request.expand(expand)
            if orderby:
                request = request.order_by(orderby)
            if top is not None:
                request = request.top(top)
        self.calls += 1
        result = guarded(f"SAP {service}/{entity_set}", request.execute)
        return list(result), getattr(result, "next_url", None)

    def send_changesets(self, service: str, changesets: list[list[Any]]) -> list[ChangeResult]:
        """One ``$batch`` with one change set per entry (atomic each, independent of the others)."""
        from pyodata.v2.service import Changeset, ODataHttpResponse

        svc = self.service(service)
        batch = svc.create_batch()

        def read_answer(changeset: Any, parts: list[Any]) -> list[Any]:
            if not parts or not isinstance(parts[0], list):
                # SAP answers a failed change set with one response for the whole set.
                return [ODataHttpResponse.from_string(parts[0] if parts else "HTTP/1.1 500 Error\r\n\r\n")]
            return [ODataHttpResponse.from_string(p[0]) for p in parts]

        for n, requests_ in enumerate(changesets, start=1):
            changeset = Changeset(svc.url, svc.connection, read_answer, f"cs{n}")
            for req in requests_:
                changeset.add_request(req)
            batch.add_request(changeset)
        self.calls += 1
        answers = guarded(f"SAP {service} $batch", batch.execute)
        out: list[ChangeResult] = []
        for requests_, responses in zip(changesets, answers, strict=False):
            failed = next((r for r in responses if r.status_code >= 300), None)
            if failed is not None or len(responses) != len(requests_):
                out.append(
                    ChangeResult(False, failed.status_code if failed else 500, [], _part_error(failed))
                )
            else:
                out.append(
                    ChangeResult(True, responses[0].status_code, [_header(r, "etag") for r in responses])
                )
        for _ in range(len(changesets) - len(out)):
            out.append(ChangeResult(False, 500, [], None))
        return out


def _header(response: Any, name: str) -> str | None:
    for key, value in (response.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _part_error(response: Any) -> ConnectorError | None:
    if response is None:
        return None
    fake = requests.Response()
    fake.status_code = response.status_code
    fake.headers.update(dict(response.headers or {}))
    fake._content = response.content or b""
    fake.encoding = "utf-8"
    return classify_response(fake, "SAP change set")
