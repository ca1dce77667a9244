"""OData ``$batch`` in its multipart MIME form, for services without the JSON format (SAP Business One).

Each change (POST, PATCH, DELETE) goes in a change set of its own, so one refused change rolls
back no other; reads go outside change sets. Answers are matched to requests by ``Content-ID``
(change sets) or by position (reads). A service that stops at the first failure, as SAP Business
One's Service Layer does, leaves the later requests unanswered: they come back as transient
answers, never as successes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlsplit

from connectors.errors import TransientError
from connectors.odata.batch import BatchRequest, BatchResponse

__all__ = ["multipart_body", "parse_multipart"]

_CHANGES = frozenset({"POST", "PATCH", "PUT", "DELETE", "MERGE"})


def _request_lines(request: BatchRequest, root_path: str) -> list[str]:
    url = request.url
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        url = parts.path + (f"?{parts.query}" if parts.query else "")
    elif not url.startswith("/"):
        url = f"{root_path.rstrip('/')}/{url}"
    lines = [f"{request.method.upper()} {url} HTTP/1.1"]
    headers = dict(request.headers)
    if request.body is not None:
        headers.setdefault("Content-Type", "application/json")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("")
    lines.append(json.dumps(request.body) if request.body is not None else "")
    return lines


def multipart_body(requests: Sequence[BatchRequest], root_path: str) -> tuple[str, bytes]:
    """The ``Content-Type`` and body of a multipart ``$batch`` of ``requests``.

    ``root_path`` is the service root's path (``/b1s/v2``): relative request URLs are sent under it.
    """
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids in a $batch must be unique")
    boundary = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    for request in requests:
        lines.append(f"--{boundary}")
        if request.method.upper() in _CHANGES:
            changeset = f"changeset_{uuid.uuid4()}"
            lines += [f"Content-Type: multipart/mixed;boundary={changeset}", "", f"--{changeset}"]
            lines += ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
            lines += [f"Content-ID: {request.id}", ""]
            lines += _request_lines(request, root_path)
            lines.append(f"--{changeset}--")
        else:
            lines += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", ""]
            lines += _request_lines(request, root_path)
    lines.append(f"--{boundary}--")
    return f"multipart/mixed;boundary={boundary}", "\r\n".join(lines).encode("utf-8")


def _http_answer(payload: bytes) -> tuple[int, dict[str, str], Any]:
    """Status, headers and decoded body of one ``application/http`` answer part."""
    text = payload.decode("utf-8", errors="replace").replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    lines = head.strip("\n").split("\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, {}, None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = body.strip()
    decoded: Any = body or None
    if body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = body
    return status, headers, decoded


def parse_multipart(content_type: str, body: bytes, sent: Sequence[BatchRequest]) -> dict[str, BatchResponse]:
    """The answers by request id; a request the service did not answer gets a transient 503-like answer.

    Every request of ``multipart_body`` is one top-level part, so the n-th answer part belongs to
    the n-th request: a change set's answer (a multipart holding the change's answer, or one plain
    part when the change set failed) and a read's answer alike.
    """
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    answers: dict[str, BatchResponse] = {}
    parts = list(message.iter_parts()) if message.is_multipart() else []
    for request, part in zip(sent, parts, strict=False):
        if part.is_multipart():
            inner = list(part.iter_parts())
            if not inner:
                continue
            part = inner[0]
        payload = part.get_payload(decode=True)
        status, headers, decoded = _http_answer(payload if isinstance(payload, bytes) else b"")
        if status:
            answers[request.id] = BatchResponse(request.id, status, headers, decoded)
    for request in sent:
        if request.id not in answers:
            missing = TransientError("the $batch answer has no response for this request (not executed)")
            answers[request.id] = BatchResponse(request.id, 503, {}, {"error": {"message": missing.message}})
    return answers
