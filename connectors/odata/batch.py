"""OData v4 JSON ``$batch``: requests in, one answer per request out, matched by ``id``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConnectorError, TransientError
from connectors.odata.errors import classify_odata

__all__ = ["BatchRequest", "BatchResponse", "batch_body", "parse_batch"]


@dataclass(frozen=True)
class BatchRequest:
    """One request inside a ``$batch``; ``url`` is relative to the service root."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json")
            out["body"] = self.body
        if headers:
            out["headers"] = headers
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        return out


@dataclass(frozen=True)
class BatchResponse:
    """The answer to one request of a ``$batch``."""

    id: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> ConnectorError | None:
        """The classified error of this answer, or None when it succeeded."""
        return classify_odata(self.status, self.headers, self.body)


def batch_body(requests: Sequence[BatchRequest]) -> dict[str, Any]:
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids in a $batch must be unique")
    return {"requests": [r.as_json() for r in requests]}


def parse_batch(data: Any, sent: Sequence[BatchRequest]) -> dict[str, BatchResponse]:
    """The answers by request id; a request the service did not answer gets a transient 503-like answer."""
    answers: dict[str, BatchResponse] = {}
    items = data.get("responses") if isinstance(data, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        body = item.get("body")
        if isinstance(body, str) and headers.get("content-type", "").startswith("application/json"):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        rid = str(item.get("id"))
        answers[rid] = BatchResponse(rid, int(item.get("status") or 0), headers, body)
    for request in sent:
        if request.id not in answers:
            missing = TransientError("the $batch answer has no response for this request")
            answers[request.id] = BatchResponse(request.id, 503, {}, {"error": {"message": missing.message}})
    return answers
