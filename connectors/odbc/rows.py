"""Database rows into canonical records: the connector's ``mapping.yaml``, compiled for flat rows.

``mapping.fieldmap.FieldMap`` walks nested ERP documents and re-reads its spec for every record;
a table row is flat and a read may hold millions of them. ``RowMapper`` compiles the same spec
(paths are column names; ``path`` lists, ``default``, ``const``, ``transform`` and value maps
behave as in ``FieldMap``) into one getter per canonical field once, then maps each row with a
dictionary look-up per field. A row that fails becomes a ``MappingError`` naming the canonical
field and the column, exactly as ``FieldMap`` reports it.

A page of rows is mapped a field at a time (``RowMapper.records``) and validated in one call of
pydantic's validator over the whole list, whose loop runs in pydantic-core: the canonical model's
rules all hold, and a row that breaks one is returned as its ``MappingError`` while the rest of
the page is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import InvalidOperation
from functools import cache
from operator import attrgetter
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mapping.fieldmap import TRANSFORMS, FieldMap, MapFileError, MappingError, error_location
from mapping.models import RECORD_TYPES, Record, Stream

__all__ = ["OMIT", "RowMapper"]

_MISSING = object()
# A computed value meaning "not given for this row": the field keeps the model's default.
OMIT = _MISSING
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
    convert = _converter(transforms, value_map)

    def getter(row: Mapping[str, Any]) -> Any:
        value = base(row)
        return value if value is _MISSING else convert(value)

    return getter


def _converter(
    transforms: Sequence[Callable[[Any], Any]], value_map: Mapping[str, Any] | None
) -> Callable[[Any], Any]:
    """What a field does to the value read: its transforms, then its value map."""

    def convert(value: Any) -> Any:
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

    return convert


def _column_field(spec: Any, value_map: Mapping[str, Any] | None) -> tuple[str, Callable[[Any], Any]] | None:
    """A field read from exactly one column (no default, no constant): the column and its conversion."""
    if isinstance(spec, str):
        return (spec, _converter((), value_map)) if value_map is not None else None
    if not isinstance(spec, Mapping) or {"each", "fields", "const", "default"} & spec.keys():
        return None
    path = spec.get("path")
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if path is None:
        return None
    names = spec.get("transform")
    transforms = [TRANSFORMS[t] for t in ([names] if isinstance(names, str) else names or [])]
    return str(path), _converter(transforms, value_map)


# Kinds of values whose equal ones are alike in every way a transform can see (times only without
# a zone: equal times in two zones print differently), so a page converts each distinct value once.
_SAME_WHEN_EQUAL = frozenset({str, int, date, datetime, type(None), object})
_TZINFO = attrgetter("tzinfo")


def _of_type(kind: type, values: list[Any]) -> list[Any]:
    return [v for v in values if type(v) is kind]


@cache
def _page_adapter(model: type[Record]) -> TypeAdapter[list[Record]]:
    """One validator for a list of ``model`` records (built once per record type)."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _error_of(exc: ValidationError, offset: int = 0) -> dict[int, Mapping[str, Any]]:
    """The first of pydantic's errors for each list index, located within the record."""
    first: dict[int, Mapping[str, Any]] = {}
    for err in exc.errors():
        loc = err["loc"]
        index = int(loc[0]) + offset if loc else -1
        if index not in first:
            first[index] = {**err, "loc": loc[1:]}
    return first


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
        self._columns = {
            name: found
            for name, spec in fields.items()
            if (found := _column_field(spec, value_maps.get(name))) is not None
        }
        id_spec = fields.get("remote_id")
        self._id_getter = _compile("remote_id", id_spec, None) if id_spec is not None else None

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """A page of database rows as dicts, each as ``row`` makes it (a column at a time, for speed)."""
        if not rows:
            return []
        if self.strip:
            by_column = []
            for values in zip(*rows, strict=True):
                kinds = set(map(type, values))
                if kinds == {str}:
                    values = tuple(map(str.rstrip, values))
                elif str in kinds or any(issubclass(k, str) for k in kinds):
                    values = tuple(v.rstrip() if isinstance(v, str) else v for v in values)
                by_column.append(values)
            rows = list(zip(*by_column, strict=True))
        return [dict(zip(columns, values, strict=True)) for values in rows]

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

    def records(
        self, rows: Sequence[Mapping[str, Any]], computed: Mapping[str, Sequence[Any]]
    ) -> list[Record | MappingError]:
        """The validated records of a page of rows, in order; a row that fails is its ``MappingError``.

        ``computed`` holds, per canonical field, one value per row (``OMIT``: not given for that
        row); it fills or overrides what the map cannot express, as ``record``'s keywords do. Each
        result is what ``record`` returns or raises for the row alone: the same fields, the same
        validation, the same error.
        """
        failed: dict[int, MappingError] = {}
        names: list[str] = []
        columns: list[Sequence[Any]] = []
        gaps: list[str] = []
        for name, column in self._plain.items():
            if name in computed:
                continue
            names.append(name)
            try:
                columns.append([row[column] for row in rows])
            except KeyError:
                columns.append([row.get(column, _MISSING) for row in rows])
                gaps.append(name)
        for name, getter in self._other:
            if name in computed:
                continue
            values: list[Any] = []
            column_field = self._columns.get(name)
            if column_field is not None:
                values = self._converted(name, *column_field, rows, failed)
            else:
                for index, row in enumerate(rows):
                    try:
                        values.append(getter(row))
                    except (ValueError, TypeError, InvalidOperation) as exc:
                        values.append(_MISSING)
                        failed.setdefault(index, self._mapping_error(name, row, exc))
            names.append(name)
            columns.append(values)
            if _MISSING in values:
                gaps.append(name)
        for name, given in computed.items():
            names.append(name)
            columns.append(given)
            if _MISSING in given:
                gaps.append(name)
        if "raw" not in computed:
            names.append("raw")
            columns.append([dict(row) for row in rows])
        prepared = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        for record in prepared if gaps else ():
            for name in gaps:
                if record[name] is _MISSING:
                    del record[name]
        results: list[Record | MappingError | None] = [None] * len(rows)
        for index, error in failed.items():
            results[index] = error
        todo = [i for i in range(len(rows)) if i not in failed]
        adapter = _page_adapter(self.model)
        while todo:
            try:
                valid = adapter.validate_python([prepared[i] for i in todo])
            except ValidationError as exc:
                # The page again without the rows that broke a rule: few pages have any.
                errors = _error_of(exc)
                if -1 in errors:  # not any one row's error: every row alone, to find it
                    for i in todo:
                        results[i] = self._validated(prepared[i])
                    break
                for position, err in errors.items():
                    results[todo[position]] = self._error(prepared[todo[position]], err)
                todo = [i for position, i in enumerate(todo) if position not in errors]
                continue
            for i, validated in zip(todo, valid, strict=True):
                results[i] = validated
            break
        return results  # type: ignore[return-value]

    def _mapping_error(self, name: str, row: Mapping[str, Any], exc: Exception) -> MappingError:
        return MappingError(self.stream, self.remote_id(row), name, self.paths.get(name), str(exc))

    def _converted(
        self,
        name: str,
        column: str,
        convert: Callable[[Any], Any],
        rows: Sequence[Mapping[str, Any]],
        failed: dict[int, MappingError],
    ) -> list[Any]:
        """One column's values through the field's transforms and value map, each distinct value once.

        A page repeats its dates, currencies and codes; a transform depends on the value alone.
        """
        values = [row.get(column, _MISSING) for row in rows]
        kinds = set(map(type, values))
        if not kinds <= _SAME_WHEN_EQUAL or (
            datetime in kinds
            and set(map(_TZINFO, values if len(kinds) == 1 else _of_type(datetime, values))) != {None}
        ):
            return self._converted_one_by_one(name, convert, rows, values, failed)
        outcome: dict[Any, Any] = {}
        refused: dict[Any, Exception] = {}
        for value in set(values):
            if value is _MISSING:
                outcome[value] = value
                continue
            try:
                outcome[value] = convert(value)
            except (ValueError, TypeError, InvalidOperation) as exc:
                outcome[value] = _MISSING
                refused[value] = exc
        out = [outcome[value] for value in values]
        for index, value in enumerate(values) if refused else ():
            if value in refused:
                failed.setdefault(index, self._mapping_error(name, rows[index], refused[value]))
        return out

    def _converted_one_by_one(
        self,
        name: str,
        convert: Callable[[Any], Any],
        rows: Sequence[Mapping[str, Any]],
        values: list[Any],
        failed: dict[int, MappingError],
    ) -> list[Any]:
        out: list[Any] = []
        for index, value in enumerate(values):
            if value is _MISSING:
                out.append(value)
                continue
            try:
                out.append(convert(value))
            except (ValueError, TypeError, InvalidOperation) as exc:
                out.append(_MISSING)
                failed.setdefault(index, self._mapping_error(name, rows[index], exc))
        return out

    def _validated(self, values: Mapping[str, Any]) -> Record | MappingError:
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            return self._error(values, exc.errors()[0])

    def _error(self, values: Mapping[str, Any], err: Mapping[str, Any]) -> MappingError:
        """A validation error of one record, naming the canonical field and the column it came from."""
        # A check across fields (an amount against its currency) is placed at the field it names.
        loc = error_location(err, self.model.model_fields)
        field = ".".join(str(p) for p in loc) or None
        top = str(loc[0]) if loc else None
        reason = "required value is missing" if err.get("type") == "missing" else err["msg"]
        return MappingError(self.stream, values.get("remote_id"), field, self.paths.get(top or ""), reason)

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
            raise self._error(values, exc.errors()[0]) from exc
