"""SAP Gateway's OData V2 wire format: JSON values, entity envelopes, errors and ``$batch`` multipart."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.message import Message
from email.parser import BytesParser
from typing import Any

from sandboxes.sap_s4hana.edmx import EntityType, Property

__all__ = ["BatchPart", "error_body", "json_value", "parse_batch", "render_batch"]


def json_value(prop: Property, value: Any) -> Any:
    """A Python value as SAP's V2 JSON writes it: ``/Date(ms)/``, decimals as strings at their scale."""
    if value is None:
        return None
    edm = prop.edm_type
    if edm == "Edm.DateTime" and isinstance(value, datetime):
        ms = int(value.replace(tzinfo=UTC).timestamp() * 1000)
        return f"/Date({ms})/"
    if edm == "Edm.Decimal":
        scale = prop.scale if prop.scale is not None else 3
        return f"{Decimal(value):.{scale}f}"
    if edm == "Edm.Time" and isinstance(value, str):
        return value
    return value


def entity_json(
    entity_type: EntityType,
    namespace: str,
    uri: str,
    row: dict[str, Any],
    *,
    etag: str | None,
    select: list[str] | None,
    expanded: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entity in SAP's JSON shape, ``__metadata`` first, deferred links for navigations."""
    meta: dict[str, Any] = {"id": uri, "uri": uri, "type": f"{namespace}.{entity_type.name}"}
    if etag is not None:
        meta["etag"] = etag
    out: dict[str, Any] = {"__metadata": meta}
    names = select if select else list(entity_type.properties)
    for name in names:
        prop = entity_type.properties.get(name)
        if prop is not None:
            out[name] = json_value(prop, row.get(name))
    for nav in entity_type.navigations:
        if expanded and nav in expanded:
            out[nav] = expanded[nav]
        elif not select:
            out[nav] = {"__deferred": {"uri": f"{uri}/{nav}"}}
    return out


def error_body(
    code: str, message: str, service: str = "", *, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """SAP Gateway's JSON error: ``{"error": {"code", "message": {"lang", "value"}, "innererror"}}``."""
    now = datetime.now(UTC)
    return {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": message},
            "innererror": {
                "application": {
                    "component_id": "",
                    "service_namespace": "/SAP/",
                    "service_id": service,
                    "service_version": "0001",
                },
                "transactionid": uuid.uuid4().hex.upper(),
                "timestamp": now.strftime("%Y%m%d%H%M%S.") + f"{now.microsecond:06d}0",
                "Error_Resolution": {
                    "SAP_Transaction": "For backend administrators: use ADT feed reader "
                    '"SAP Gateway Error Log" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub system',
                    "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)",
                },
                "errordetails": details
                or [{"code": code, "message": message, "propertyref": "", "severity": "error", "target": ""}],
            },
        }
    }


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    if not isinstance(payload, list):
        raise ValueError("a multipart part holds no parts")
    return [p for p in payload if isinstance(p, Message)]


def _text_payload(part: Message) -> bytes:
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        raise ValueError("an application/http part must hold one HTTP message")
    return payload.encode("utf-8")


@dataclass
class BatchPart:
    """One request inside a ``$batch``: its method, path, headers and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class BatchRequest:
    """A parsed ``$batch`` body: retrieve parts and change sets, in order."""

    items: list[BatchPart | list[BatchPart]] = field(default_factory=list)


def _http_part(payload: bytes) -> BatchPart:
    text = payload.replace(b"\r\n", b"\n")
    head, _, body = text.partition(b"\n\n")
    lines = head.decode("utf-8").split("\n")
    request_line = lines[0].strip()
    parts = request_line.split(" ")
    if len(parts) < 2:
        raise ValueError(f"invalid request line in batch part: {request_line!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return BatchPart(parts[0].upper(), parts[1], headers, body.rstrip(b"\n"))


def parse_batch(content_type: str, body: bytes) -> BatchRequest:
    """Parse a ``multipart/mixed`` batch body (change sets nested one level, as OData V2 allows).

    Raises:
        ValueError: the body is not a well-formed batch.
    """
    message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise ValueError("the batch body is not multipart/mixed with a boundary")
    out = BatchRequest()
    for part in _parts(message):
        if part.get_content_type() == "multipart/mixed":
            changes: list[BatchPart] = []
            for sub in _parts(part):
                if sub.get_content_type() != "application/http":
                    raise ValueError("a change set part must be application/http")
                changes.append(_http_part(_text_payload(sub)))
            out.items.append(changes)
        elif part.get_content_type() == "application/http":
            out.items.append(_http_part(_text_payload(part)))
        else:
            raise ValueError(f"unexpected batch part of type {part.get_content_type()}")
    return out


@dataclass
class PartResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""


def _render_http(resp: PartResponse) -> str:
    lines = [f"HTTP/1.1 {resp.status} {resp.reason}"]
    headers = dict(resp.headers)
    headers.setdefault("Content-Length", str(len(resp.body)))
    headers.setdefault("dataserviceversion", "2.0")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n" + resp.body.decode("utf-8")


def render_batch(results: list[PartResponse | list[PartResponse]]) -> tuple[str, bytes]:
    """The batch answer: SAP's ``ejjeeffe`` boundaries; a failed change set is one error part."""
    outer = "ejjeeffe0"
    chunks: list[str] = []
    for n, item in enumerate(results, start=1):
        if isinstance(item, list):
            inner = f"ejjeeffe{n}"
            sub = []
            for resp in item:
                sub.append(
                    f"--{inner}\r\nContent-Type: application/http\r\n"
                    "content-transfer-encoding: binary\r\n\r\n" + _render_http(resp) + "\r\n"
                )
            body = "".join(sub) + f"--{inner}--\r\n"
            chunks.append(
                f"--{outer}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n"
                f"Content-Length: {len(body.encode())}\r\n\r\n{body}\r\n"
            )
        else:
            chunks.append(
                f"--{outer}\r\nContent-Type: application/http\r\ncontent-transfer-encoding: binary\r\n\r\n"
                + _render_http(item)
                + "\r\n"
            )
    text = "".join(chunks) + f"--{outer}--\r\n"
    return f"multipart/mixed; boundary={outer}", text.encode("utf-8")


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode("utf-8")
