"""SAP's own Service Layer ``$metadata`` (OData v4), read from the vendor specs folder at run time.

The sandbox serves the file byte for byte and checks every entity set, property, enum value and
bound action a request names against it. Which properties the Service Layer keeps to itself
(``DocEntry``, ``UpdateDate``, ``PaidToDate`` …) comes from the column list SAP's mapping-info
metadata carries (``Writable="false"``), in the DERIVED file beside it. Nothing is copied into
the repository.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from sandboxes.specs import VendorFiles, locate

__all__ = ["SAP_BUSINESS_ONE", "Metadata", "StructuredType", "load_metadata"]

SAP_BUSINESS_ONE = VendorFiles(
    "SAP Business One",
    "sap-business-one/metadata/v2-odata4/servicelayer_metadata_v4.xml",
    "a Service Layer's own /b1s/v2/$metadata (see specs/SOURCES.md, sap-business-one/)",
)
METADATA_FILE = SAP_BUSINESS_ONE.marker
TABLES_FILE = "sap-business-one/db-tables-OCRD-OINV-ORIN-ORCT-RCT2.from-sl-metadata.DERIVED.json"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
#: Amounts B1 keeps itself (the sum of the payments and credit notes applied to a document), which
#: SAP's mapping-info file does not list for Document: a client cannot set them.
KEPT_BY_B1: dict[str, frozenset[str]] = {
    "Document": frozenset({"PaidToDate", "PaidToDateFC", "PaidToDateSys"}),
}


@dataclass
class StructuredType:
    """An entity or complex type: its properties (name → type), key and whether it is open."""

    name: str
    properties: dict[str, str]
    key: tuple[str, ...] = ()
    open: bool = False
    read_only: frozenset[str] = frozenset()


@dataclass
class Metadata:
    """What the sandbox needs of SAP's metadata, and the raw document to serve."""

    raw: bytes
    types: dict[str, StructuredType]
    enums: dict[str, dict[str, int]]
    entity_sets: dict[str, str]
    bound_actions: dict[str, set[str]] = field(default_factory=dict)
    unbound_actions: set[str] = field(default_factory=set)

    def entity_type(self, entity_set: str) -> StructuredType:
        return self.types[self.entity_sets[entity_set].removeprefix("SAPB1.")]

    def enum_of(self, type_name: str) -> dict[str, int] | None:
        return self.enums.get(type_name.removeprefix("SAPB1."))

    def structured(self, type_name: str) -> StructuredType | None:
        inner = type_name.removeprefix("Collection(").removesuffix(")")
        return self.types.get(inner.removeprefix("SAPB1."))


def _read_only(specs: Path) -> dict[str, frozenset[str]]:
    """Service Layer type name → properties it refuses to take from a client (``Writable="false"``)."""
    path = specs / TABLES_FILE
    if not path.is_file():
        return {k: frozenset(v) for k, v in KEPT_BY_B1.items()}
    tables = json.loads(path.read_text(encoding="utf-8"))["tables"]
    out: dict[str, set[str]] = {}
    for table in tables.values():
        name = str(table.get("slType") or "").removeprefix("SAPB1.")
        for column in table.get("columnDetails") or []:
            if str(column.get("writable")).lower() == "false":
                out.setdefault(name, set()).add(column["slProperty"])
    for name, kept in KEPT_BY_B1.items():
        out.setdefault(name, set()).update(kept)
    return {k: frozenset(v) for k, v in out.items()}


@functools.lru_cache(maxsize=2)
def load_metadata(specs_root: str | None = None) -> Metadata:
    """Parse SAP's metadata once per specs folder.

    Raises:
        sandboxes.specs.SpecsNotFound: the vendor file is not there (the message says what to set).
    """
    root = locate(SAP_BUSINESS_ONE, specs_root)
    raw = (root / METADATA_FILE).read_bytes()
    doc = etree.fromstring(raw, _PARSER)
    read_only = _read_only(root)
    types: dict[str, StructuredType] = {}
    enums: dict[str, dict[str, int]] = {}
    for enum in doc.iter(f"{EDM}EnumType"):
        enums[enum.get("Name")] = {m.get("Name"): int(m.get("Value")) for m in enum.iter(f"{EDM}Member")}
    for tag in ("EntityType", "ComplexType"):
        for node in doc.iter(f"{EDM}{tag}"):
            name = node.get("Name")
            props = {p.get("Name"): p.get("Type") for p in node.findall(f"{EDM}Property")}
            key = tuple(r.get("Name") for r in node.iterfind(f"{EDM}Key/{EDM}PropertyRef"))
            types[name] = StructuredType(
                name, props, key, node.get("OpenType") == "true", read_only.get(name, frozenset())
            )
    entity_sets = {es.get("Name"): es.get("EntityType") for es in doc.iter(f"{EDM}EntitySet")}
    bound: dict[str, set[str]] = {}
    unbound: set[str] = set()
    for action in doc.iter(f"{EDM}Action"):
        params = action.findall(f"{EDM}Parameter")
        if action.get("IsBound") == "true" and params:
            bound.setdefault(str(params[0].get("Type")).removeprefix("SAPB1."), set()).add(action.get("Name"))
        else:
            unbound.add(action.get("Name"))
    return Metadata(raw, types, enums, entity_sets, bound, unbound)
