"""Database rows into canonical records: the connector's ``mapping.yaml``, compiled for flat rows.

``mapping.fieldmap.FieldMap`` walks nested ERP documents and re-reads its spec for every record;
a table row is flat and a read may hold millions of them. ``RowMapper`` compiles the same spec
(paths are column names; ``path`` lists, ``default``, ``const``, ``transform`` and value maps
behave as in ``FieldMap``) into one getter per canonical field once, then maps each row with a
dictionary look-up per field. A row that fails becomes a ``MappingError`` naming the canonical
field and the column, exactly as ``FieldMap`` reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import InvalidOperation
from typing import Any

from pydantic import ValidationError

from mapping.fieldmap import TRANSFORMS, FieldMap, MapFileError, MappingError
from mapping.models import RECORD_TYPES, Record, Stream

__all__ = ["RowMapper"]

_MISSING = object()
Getter = Callable[[Mapping[str, Any]], Any]


def _path_text(spec: Any) -> str | None:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        path = spec.get("path")
        if isinstance(path, list):
            return "|".join(str(p) for p in path)
        return None if path is None else str(path)
    return None


def _object(field: str, fields: Mapping[str, Any]) -> Getter:
    """A nested canonical object (a postal address) from columns of the row itself.

    Its empty columns are left out, and with none filled in there is no object at all.
    """
    parts = [(name, _compile(f"{field}.{name}", sub, None)) for name, sub in fields.items()]

    def getter(row: Mapping[str, Any]) -> Any:
        found = {
            n: v for n, v in ((n, get(row)) for n, get in parts) if v is not _MISSING and v not in (None, "")
        }
        return found or _MISSING

    return getter


def _compile(field: str, spec: Any, value_map: Mapping[str, Any] | None) -> Getter:
    if isinstance(spec, str):
        column = spec
        base: Getter = lambda row: row.get(column, _MISSING)  # noqa: E731
        transforms: list[Callable[[Any], Any]] = []
    elif isinstance(spec, Mapping):
        if "each" in spec:
            raise MapFileError(f"{field}: 'each' needs nested records; a table row is flat")
        if "fields" in spec:
            if spec.get("path") is not None:
                raise MapFileError(f"{field}: an object's 'path' needs a nested record; a table row is flat")
            return _object(field, spec["fields"])
        if "const" in spec:
            constant = spec["const"]
            base = lambda row: constant  # noqa: E731
        else:
            paths = spec.get("path")
            columns = [str(p) for p in (paths if isinstance(paths, list) else [paths]) if p is not None]
            has_default, default = "default" in spec, spec.get("default")

            def base(row: Mapping[str, Any], columns: list[str] = columns) -> Any:
                value: Any = _MISSING
                for column in columns:
                    value = row.get(column, _MISSING)
                    if value is not _MISSING and value is not None and value != "":
                        return value
                if has_default:
                    return default
                return value

        names = spec.get("transform")
        transforms = [TRANSFORMS[t] for t in ([names] if isinstance(names, str) else names or [])]
    else:
        raise MapFileError(f"{field}: bad field spec {spec!r}")

    if not transforms and value_map is None:
        return base

    def getter(row: Mapping[str, Any]) -> Any:
        value = base(row)
        if value is _MISSING:
            return value
        for transform in transforms:
            value = transform(value)
        if value_map is not None and value is not None:
            key = str(value)
            if key in value_map:
                value = value_map[key]
            elif "*" in value_map:
                value = value_map["*"]
            else:
                raise ValueError(
                    f"value {value!r} is not in the value map (known: {sorted(map(str, value_map))})"
                )
        return value

    return getter


class RowMapper:
    """One stream's field map, compiled for rows read from a table.

    Args:
        fieldmap: the connector's loaded map (with the admin's overrides).
        stream: the stream whose ``fields`` and ``value_maps`` apply.
        strip: remove the blank padding of fixed-width CHAR columns from every text value.
    """

    def __init__(self, fieldmap: FieldMap, stream: Stream, *, strip: bool = True) -> None:
        self.stream = stream
        self.strip = strip
        self.model = RECORD_TYPES[stream]
        fields = fieldmap.fields(stream)
        value_maps = fieldmap.value_maps(stream)
        self.paths = {name: _path_text(spec) for name, spec in fields.items()}
        self.getters = [(name, _compile(name, spec, value_maps.get(name))) for name, spec in fields.items()]
        # The common field (one column, no default, no transform, no value map) is read inline.
        self._plain = {
            name: spec for name, spec in fields.items() if isinstance(spec, str) and name not in value_maps
        }
        self._other = [(name, getter) for name, getter in self.getters if name not in self._plain]
        id_spec = fields.get("remote_id")
        self._id_getter = _compile("remote_id", id_spec, None) if id_spec is not None else None

    def row(self, columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
        """One database row as a dict of column to value (text unpadded when ``strip``)."""
        if not self.strip:
            return dict(zip(columns, values, strict=True))
        return {c: v.rstrip() if isinstance(v, str) else v for c, v in zip(columns, values, strict=True)}

    def remote_id(self, row: Mapping[str, Any]) -> str | None:
        if self._id_getter is None:
            return None
        try:
            value = self._id_getter(row)
        except (ValueError, TypeError):
            return None
        return None if value is _MISSING or value is None else str(value)

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical field values of a row, not yet validated.

        Raises:
            MappingError: a transform or value map refused a value.
        """
        out: dict[str, Any] = {name: row[column] for name, column in self._plain.items() if column in row}
        for name, getter in self._other:
            try:
                value = getter(row)
            except (ValueError, TypeError, InvalidOperation) as exc:
                raise MappingError(
                    self.stream, self.remote_id(row), name, self.paths.get(name), str(exc)
                ) from exc
            if value is not _MISSING:
                out[name] = value
        return out

    def record(self, row: Mapping[str, Any], **computed: Any) -> Record:
        """The validated record of a row; ``computed`` fills or overrides fields the map cannot express.

        Raises:
            MappingError: naming the canonical field and the column it came from.
        """
        values = self.values(row)
        values.update(computed)
        values.setdefault("raw", dict(row))
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            top = str(err["loc"][0]) if err["loc"] else None
            reason = "required value is missing" if err.get("type") == "missing" else err["msg"]
            raise MappingError(
                self.stream, values.get("remote_id"), field, self.paths.get(top or ""), reason
            ) from exc
