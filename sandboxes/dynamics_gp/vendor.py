"""Dynamics GP's own facts, read at run time from the vendor file in the specs folder (never copied).

``dynamics-gp/rm-tables-and-econnect-procs.DERIVED.json`` holds the Receivables tables of a live GP
company database (every column with its SQL Server type, the primary keys) and the full parameter
lists of the eConnect procedures. The stand-in database is generated from it, so its layout is
GP's and not ours.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sandboxes.specs import VendorFiles, locate

__all__ = ["DYNAMICS_GP", "Column", "Parameter", "Procedure", "Table", "VendorSchema", "load"]

DYNAMICS_GP = VendorFiles(
    "Microsoft Dynamics GP",
    "dynamics-gp/rm-tables-and-econnect-procs.DERIVED.json",
    "the RM tables and eConnect procedure parameters scripted from a GP company database "
    "(see specs/SOURCES.md, dynamics-gp/)",
)
_TYPE = re.compile(r"^(?P<base>[a-z]+)(?:\((?P<args>[^)]*)\))?$")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    identity: bool = False
    default: str | None = None

    @property
    def base(self) -> str:
        return split_type(self.sql_type)[0]

    @property
    def length(self) -> int | None:
        base, args = split_type(self.sql_type)
        return args[0] if base in ("char", "varchar") and args else None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    primary_key_name: str

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Parameter:
    name: str  # as the vendor spells it: @I_vCUSTNMBR
    sql_type: str
    required: bool = False
    default: str | None = None
    output: bool = False

    @property
    def bare(self) -> str:
        return self.name.lstrip("@")

    @property
    def field(self) -> str:
        """The eConnect XML element the parameter carries (``@I_vCUSTNMBR`` → ``CUSTNMBR``)."""
        return self.bare[3:] if self.bare.startswith("I_v") else self.bare


@dataclass(frozen=True)
class Procedure:
    name: str
    parameters: tuple[Parameter, ...]

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(f"{self.name} has no parameter {name}")


@dataclass(frozen=True)
class VendorSchema:
    tables: dict[str, Table]
    procedures: dict[str, Procedure]
    path: Path


def split_type(sql_type: str) -> tuple[str, tuple[int, ...]]:
    """``char(15)`` → ("char", (15,)); ``numeric(19,5)`` → ("numeric", (19, 5)); ``int`` → ("int", ())."""
    match = _TYPE.match(sql_type.strip().lower())
    if not match:
        raise ValueError(f"unrecognised SQL type {sql_type!r}")
    args = tuple(int(a) for a in (match.group("args") or "").split(",") if a.strip())
    return match.group("base"), args


def _table(name: str, body: dict[str, Any]) -> Table:
    columns = tuple(
        Column(c["name"], c["sqlType"], bool(c.get("identity")), c.get("default"))
        for c in body["columnDetails"]
    )
    pk = body["primaryKey"]
    return Table(name, columns, tuple(pk["columns"]), pk["name"])


def _procedure(name: str, body: dict[str, Any]) -> Procedure:
    return Procedure(
        name,
        tuple(
            Parameter(
                p["name"], p["sqlType"], bool(p.get("required")), p.get("default"), bool(p.get("output"))
            )
            for p in body["parameters"]
        ),
    )


@lru_cache(maxsize=4)
def _load(path: Path) -> VendorSchema:
    data = json.loads(path.read_text(encoding="utf-8"))
    return VendorSchema(
        tables={name: _table(name, body) for name, body in data["tables"].items()},
        procedures={name: _procedure(name, body) for name, body in data["econnectProcedures"].items()},
        path=path,
    )


def load(specs: str | Path | None = None) -> VendorSchema:
    """GP's tables and eConnect procedures from the specs folder.

    Raises:
        sandboxes.specs.SpecsNotFound: the file is not there; the message says what to set.
    """
    root = locate(DYNAMICS_GP, specs)
    return _load((root / DYNAMICS_GP.marker).resolve())
