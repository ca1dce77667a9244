"""An OData v4 client on the SDK's ``RestClient``: error bodies, server-driven paging, ETags, ``$batch``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.errors import ConnectorError, ErrorKind, PermanentError
from connectors.odata.batch import BatchRequest, BatchResponse, batch_body, parse_batch
from connectors.odata.errors import classify_odata
from connectors.odata.multipart import multipart_body, parse_multipart
from connectors.rest import Paged, RestClient

__all__ = ["ODataClient", "PageTooLarge"]


class PageTooLarge(ConnectorError):
    """The gateway gave up on a page (504): ask again for a smaller one.

    Not a ``TransientError``, so ``RestClient`` does not repeat the same too-large request; the
    pager halves the page and tries again, and only a one-record page that still times out
    reaches the engine (as a transient error).
    """

    kind = ErrorKind.TRANSIENT
    retriable = True


class ODataClient(RestClient):
    """Calls to one OData v4 service root (``…/api/v2.0`` for BC, ``…/b1s/v2`` for SAP Business One)."""

    def classify(self, response: requests.Response) -> ConnectorError | None:
        if response.status_code == 504:
            return PageTooLarge(f"HTTP 504: {self.what} timed out (gateway)", erp_code="504")
        text = self.redact(response.text or "")
        return classify_odata(response.status_code, dict(response.headers), text)

    def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, page_size: int, start: str | None = None
    ) -> Iterator[Paged[dict[str, Any]]]:
        """Every page of a collection, following ``@odata.nextLink``; ``start`` resumes at a stored link.

        The page size goes in ``Prefer: odata.maxpagesize`` (``$top`` would suppress the next link).
        A 504 halves the page and asks again.
        """
        link: str | None = start
        first = start is None
        seen: set[str] = set()
        size = page_size
        while first or link is not None:
            try:
                if first:
                    data = self.json("GET", path, params=dict(params or {}), headers=self._prefer(size))
                else:
                    assert link is not None
                    data = self.json("GET", link, headers=self._prefer(size))
            except PageTooLarge:
                if size <= 1:
                    raise
                size = max(1, size // 2)
                continue
            first = False
            items = data.get("value") if isinstance(data, Mapping) else None
            if not isinstance(items, list):
                raise PermanentError(f"{self.what}: a collection answer without 'value'")
            following = data.get("@odata.nextLink")
            if following is not None and (not isinstance(following, str) or following in seen):
                raise PermanentError(f"{self.what}: the next link leads back to a page already read")
            if following:
                seen.add(following)
            yield Paged([i for i in items if isinstance(i, dict)], following or None)
            link = following or None

    @staticmethod
    def _prefer(size: int) -> dict[str, str]:
        return {"Prefer": f"odata.maxpagesize={size}", "Accept": "application/json"}

    def entity(self, path: str) -> dict[str, Any] | None:
        """One entity by its URL, or None when the service says it does not exist (404)."""
        response = self.session.request("GET", self.url(path), timeout=self.timeout)
        self.calls += 1
        if response.status_code == 404:
            return None
        error = self.classify(response)
        if error is not None:
            raise error
        data = response.json()
        return data if isinstance(data, dict) else None

    def patch(self, path: str, body: Mapping[str, Any], etag: str) -> dict[str, Any]:
        """A conditional update: ``If-Match`` with the ETag read (``*`` overwrites whatever is there)."""
        data = self.json("PATCH", path, json=dict(body), headers={"If-Match": etag})
        return data if isinstance(data, dict) else {}

    def batch(
        self, requests_: Sequence[BatchRequest], *, path: str = "$batch", isolation: bool = False
    ) -> dict[str, BatchResponse]:
        """Send one JSON ``$batch``; the answers by request id (at most the service's maximum requests)."""
        headers = {"Accept": "application/json"}
        if isolation:
            headers["Isolation"] = "snapshot"
        data = self.json("POST", path, json=batch_body(requests_), headers=headers)
        return parse_batch(data, requests_)

    def multipart_batch(
        self, requests_: Sequence[BatchRequest], *, path: str = "$batch"
    ) -> dict[str, BatchResponse]:
        """Send one multipart ``$batch`` (each change in its own change set); the answers by request id.

        For services that take no JSON ``$batch`` (SAP Business One's Service Layer). Requests the
        service left unexecuted come back as transient answers.
        """
        root_path = urlsplit(self.base_url).path
        content_type, body = multipart_body(requests_, root_path)
        response = self.request("POST", path, data=body, headers={"Content-Type": content_type})
        return parse_multipart(response.headers.get("Content-Type", ""), response.content, requests_)
