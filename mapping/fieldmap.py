"""Declarative field mapping: YAML maps from ERP record paths to canonical fields.

A map file looks like this (each connector ships one as ``mapping.yaml``)::

    streams:
      invoices:
        fields:
          remote_id: Id                          # a path into the ERP record
          number: DocNumber
          customer_remote_id: CustomerRef.value
          currency: {path: CurrencyRef.value, default: USD}
          status: {path: Balance, transform: zero_is_paid}
          tags: {path: Tags, transform: split_semicolon}
          raw_status: {path: [TxnStatus, PrivateNote]}    # first path that has a value
          billing_address:                                # an object, from paths under BillAddr
            path: BillAddr
            fields: {line1: Line1, city: City, postal_code: PostalCode}
          lines:
            path: Line
            where: {DetailType: SalesItemLineDetail}
            each: {line_id: Id, amount: Amount, description: Description}
        value_maps:
          raw_status: {Paid: paid}
    write_back:
      collection_status: {custom_field_id: "1"}

Paths are dotted (``MetaData.LastUpdatedTime``); ``Line.0.Amount`` indexes a list. An admin's
configuration overrides any part of a connector's defaults without code (deep merge). A record
that fails mapping raises ``MappingError`` naming the canonical field, the ERP path and the reason.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mapping.models import RECORD_TYPES, Record, Stream

_MISSING = object()


class MappingError(ValueError):
    """A record could not be translated; says which field, from which ERP path, and why."""

    def __init__(
        self, stream: Stream | str, remote_id: str | None, field: str | None, path: str | None, reason: str
    ):
        self.stream = Stream(stream)
        self.remote_id = remote_id
        self.field = field
        self.path = path
        self.reason = reason
        where = f"{field} (from {path})" if path and field else field or path or "record"
        super().__init__(f"{self.stream.value} {remote_id or '?'}: {where}: {reason}")


def error_location(err: Mapping[str, Any], fields: Iterable[str] | None = None) -> tuple[str | int, ...]:
    """Where one of pydantic's validation errors is, as a path of field names and list indexes.

    A check across fields (a model validator: an amount against its currency) has no location of
    its own. Its error is placed at the ``field`` its cause names (a dotted path, as ``AmountError``
    carries), else at the first canonical field its message names: one of ``fields`` (the
    record's), or of any canonical record when None.
    """
    loc = tuple(err.get("loc") or ())
    if loc:
        return loc
    named = getattr((err.get("ctx") or {}).get("error"), "field", None)
    if isinstance(named, str) and named:
        return tuple(int(p) if p.isdigit() else p for p in named.split("."))
    if fields is None:
        fields = {name for model in RECORD_TYPES.values() for name in model.model_fields}
    message = str(err.get("msg") or "")
    mentioned = [
        (found.start(), name)
        for name in fields
        if (found := re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message)) is not None
    ]
    return (min(mentioned)[1],) if mentioned else ()


class MapFileError(ValueError):
    """The mapping file itself is wrong (unknown canonical field, bad spec)."""


def _split(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


def get_path(data: Any, path: str) -> Any:
    """Follow a dotted path through dicts and lists; return ``_MISSING`` where it leads nowhere."""
    cur = data
    for part in _split(path):
        if isinstance(cur, Mapping):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            idx = int(part)
            if not -len(cur) <= idx < len(cur):
                return _MISSING
            cur = cur[idx]
        else:
            return _MISSING
    return cur


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    text = str(value).strip()
    if not text:
        return None
    if "," in text:
        # Only a well-formed thousands separator is dropped: "1.234,50" or "12,5" could be a
        # decimal comma, and guessing would silently change an amount by a factor of 1000.
        if not _THOUSANDS.match(text):
            raise ValueError(
                f"ambiguous number {value!r}: use a decimal point (or the decimal-comma transform)"
            )
        text = text.replace(",", "")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "t", "x"}:
        return True
    if text in {"", "0", "false", "no", "n", "f", "none", "null"}:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "str": lambda v: None if v is None else str(v),
    "strip": lambda v: v.strip() if isinstance(v, str) else v,
    "lower": lambda v: v.lower() if isinstance(v, str) else v,
    "upper": lambda v: v.upper() if isinstance(v, str) else v,
    "decimal": _to_decimal,
    "bool": _to_bool,
    "not": lambda v: not _to_bool(v),
    "empty_is_none": lambda v: None if v in ("", [], {}) else v,
    "split_semicolon": lambda v: (
        [p.strip() for p in str(v).split(";") if p.strip()] if v not in (None, "") else []
    ),
    "split_comma": lambda v: (
        [p.strip() for p in str(v).split(",") if p.strip()] if v not in (None, "") else []
    ),
    "int": lambda v: None if v in (None, "") else int(str(v).strip()),
}


def register_transform(name: str, fn: Callable[[Any], Any]) -> None:
    """Let a connector add a named transform usable from its mapping file."""
    TRANSFORMS[name] = fn


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class FieldMap:
    """A loaded mapping: translate ERP records of each stream into canonical records."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec: dict[str, Any] = dict(spec)
        self._validate()

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> FieldMap:
        """Read a YAML map file, then apply an admin's overrides on top."""
        with open(path, encoding="utf-8") as fh:
            spec = yaml.safe_load(fh) or {}
        if not isinstance(spec, dict):
            raise MapFileError(f"{path}: a mapping file must be a YAML mapping")
        return cls(_deep_merge(spec, overrides or {}))

    def with_overrides(self, overrides: Mapping[str, Any]) -> FieldMap:
        return FieldMap(_deep_merge(self.spec, overrides))

    @property
    def write_back(self) -> dict[str, Any]:
        """The write-back targets (which custom field holds the collection status …)."""
        return dict(self.spec.get("write_back") or {})

    def fields(self, stream: Stream) -> dict[str, Any]:
        return dict(((self.spec.get("streams") or {}).get(stream.value) or {}).get("fields") or {})

    def value_maps(self, stream: Stream) -> dict[str, dict[str, Any]]:
        return dict(((self.spec.get("streams") or {}).get(stream.value) or {}).get("value_maps") or {})

    def _validate(self) -> None:
        streams = self.spec.get("streams") or {}
        if not isinstance(streams, Mapping):
            raise MapFileError("'streams' must be a mapping of stream name to its fields")
        for name, body in streams.items():
            try:
                stream = Stream(name)
            except ValueError:
                raise MapFileError(
                    f"streams.{name}: unknown stream (expected one of {[s.value for s in Stream]})"
                ) from None
            known = set(RECORD_TYPES[stream].model_fields)
            for field in (body or {}).get("fields") or {}:
                if field not in known:
                    raise MapFileError(
                        f"streams.{name}.fields.{field}: not a field of the canonical {stream.value} record"
                    )
                spec = body["fields"][field]
                if isinstance(spec, Mapping):
                    transform = spec.get("transform")
                    for t in [transform] if isinstance(transform, str) else transform or []:
                        if t not in TRANSFORMS:
                            raise MapFileError(
                                f"streams.{name}.fields.{field}.transform: unknown transform {t!r}"
                            )

    # -- translation -------------------------------------------------------------------------

    def extract(self, stream: Stream, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Translate one ERP record into a dict of canonical field values (not yet validated)."""
        out: dict[str, Any] = {}
        vmaps = self.value_maps(stream)
        rid = self._remote_id(stream, raw)
        for field, spec in self.fields(stream).items():
            try:
                value = self._value(spec, raw)
                if value is _MISSING:
                    continue
                if field in vmaps and value is not None:
                    value = self._apply_value_map(vmaps[field], value)
            except (ValueError, TypeError, InvalidOperation) as exc:
                raise MappingError(stream, rid, field, self._path_of(spec), str(exc)) from exc
            out[field] = value
        return out

    def to_record(self, stream: Stream, raw: Mapping[str, Any], **extra: Any) -> Record:
        """Translate and validate one ERP record; ``extra`` supplies computed fields."""
        values = self.extract(stream, raw)
        values.update(extra)
        values.setdefault("raw", dict(raw))
        try:
            return RECORD_TYPES[stream].model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = error_location(err, RECORD_TYPES[stream].model_fields)
            field = ".".join(str(p) for p in loc) or None
            top = str(loc[0]) if loc else None
            path = self._path_of(self.fields(stream).get(top)) if top else None
            reason = err["msg"]
            if err.get("type") == "missing":
                reason = "required value is missing"
            raise MappingError(stream, values.get("remote_id"), field, path, reason) from exc

    def _remote_id(self, stream: Stream, raw: Mapping[str, Any]) -> str | None:
        spec = self.fields(stream).get("remote_id")
        try:
            value = self._value(spec, raw) if spec is not None else _MISSING
        except (ValueError, TypeError):
            return None
        return None if value is _MISSING or value is None else str(value)

    @staticmethod
    def _path_of(spec: Any) -> str | None:
        if isinstance(spec, str):
            return spec
        if isinstance(spec, Mapping):
            p = spec.get("path")
            if isinstance(p, list):
                return "|".join(str(x) for x in p)
            return None if p is None else str(p)
        return None

    def _value(self, spec: Any, raw: Mapping[str, Any]) -> Any:
        if isinstance(spec, str):
            return get_path(raw, spec)
        if not isinstance(spec, Mapping):
            raise MapFileError(f"bad field spec {spec!r}")
        if "const" in spec:
            return spec["const"]
        if "fields" in spec:
            return self._object(spec, raw)
        paths = spec.get("path")
        value: Any = _MISSING
        for p in paths if isinstance(paths, list) else [paths]:
            if p is None:
                continue
            value = get_path(raw, str(p))
            if value is not _MISSING and value is not None and value != "":
                break
        if (value is _MISSING or value is None or value == "") and "default" in spec:
            value = spec["default"]
        if value is _MISSING:
            return _MISSING
        if "each" in spec:
            items = value if isinstance(value, list) else [value]
            where = spec.get("where") or {}
            value = [
                {
                    k: v
                    for k, v in ((f, self._value(s, item)) for f, s in spec["each"].items())
                    if v is not _MISSING
                }
                for item in items
                if isinstance(item, Mapping) and all(get_path(item, k) == v for k, v in where.items())
            ]
        transform = spec.get("transform")
        for t in [transform] if isinstance(transform, str) else transform or []:
            value = TRANSFORMS[t](value)
        return value

    def _object(self, spec: Mapping[str, Any], raw: Mapping[str, Any]) -> Any:
        """A nested canonical object: its ``fields`` read under ``path`` (the record itself without one)."""
        base: Any = raw if spec.get("path") is None else get_path(raw, str(spec["path"]))
        if not isinstance(base, Mapping):
            return _MISSING
        found = {
            name: value
            for name, value in ((n, self._value(s, base)) for n, s in spec["fields"].items())
            if value is not _MISSING and value not in (None, "")
        }
        # Nothing filled in is no object at all, not an empty one.
        return found or _MISSING

    @staticmethod
    def _apply_value_map(vmap: Mapping[str, Any], value: Any) -> Any:
        key = str(value)
        if key in vmap:
            return vmap[key]
        if "*" in vmap:
            return vmap["*"]
        raise ValueError(f"value {value!r} is not in the value map (known: {sorted(map(str, vmap))})")
