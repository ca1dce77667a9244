"""SAP's own OData V2 metadata, read from the EDMX files in the vendor specs folder at run time.

The sandbox serves these files byte for byte as ``$metadata`` and checks every entity set,
property, key and navigation a request names against them, so a request SAP would refuse for
an unknown name is refused here too. Nothing of them is copied into the repository.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

__all__ = [
    "EDMX_FILES",
    "EntitySet",
    "EntityType",
    "Navigation",
    "Property",
    "Service",
    "load_service",
    "specs_root",
]

SAP = "http://www.sap.com/Protocols/SAPData"
#: The services the sandbox serves, by the name in their URL, and the EDMX file of each.
EDMX_FILES = {
    "API_BUSINESS_PARTNER": "API_BUSINESS_PARTNER.edmx",
    "API_OPLACCTGDOCITEMCUBE_SRV": "API_OPLACCTGDOCITEMCUBE_SRV.edmx",
}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def specs_root(explicit: str | Path | None = None) -> Path:
    """The vendor specs folder: ``explicit``, ``$ARBRIDGE_SPECS``, or ``../shared/specs`` beside the repo.

    Raises:
        FileNotFoundError: none of them holds the SAP S/4HANA files.
    """
    here = Path(__file__).resolve().parents[2]
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("ARBRIDGE_SPECS"):
        candidates.append(Path(os.environ["ARBRIDGE_SPECS"]))
    candidates += [here.parent / "shared" / "specs", here.parent.parent / "shared" / "specs"]
    for candidate in candidates:
        if (candidate / "sap-s4hana" / "edmx").is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"SAP's EDMX files were not found (tried {tried}); pass --specs DIR or set ARBRIDGE_SPECS"
    )


@dataclass(frozen=True)
class Property:
    """One property of an entity type, as the EDMX declares it."""

    name: str
    edm_type: str
    nullable: bool = True
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    creatable: bool = True
    updatable: bool = True


@dataclass(frozen=True)
class Navigation:
    """A navigation property: where it leads and whether it leads to one entity or many."""

    name: str
    target_set: str
    many: bool


@dataclass
class EntityType:
    name: str
    keys: list[str]
    properties: dict[str, Property]
    navigations: dict[str, Navigation] = field(default_factory=dict)


@dataclass
class EntitySet:
    name: str
    entity_type: EntityType
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True


@dataclass
class Service:
    """One OData V2 service: its namespace, entity sets, and the raw EDMX bytes it serves."""

    name: str
    namespace: str
    entity_sets: dict[str, EntitySet]
    metadata: bytes

    def entity_set(self, name: str) -> EntitySet | None:
        return self.entity_sets.get(name)


def _flag(element: etree._Element, name: str) -> bool:
    return element.get(f"{{{SAP}}}{name}", "true") != "false"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _parse(name: str, data: bytes) -> Service:
    root = etree.fromstring(data, _PARSER)
    schema = next(e for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}Schema"))
    namespace = schema.get("Namespace") or name
    types: dict[str, EntityType] = {}
    assoc_ends: dict[str, dict[str, tuple[str, str]]] = {}
    for assoc in schema.iterfind("{*}Association"):
        assoc_ends[assoc.get("Name", "")] = {
            end.get("Role", ""): (end.get("Type", "").split(".")[-1], end.get("Multiplicity", "1"))
            for end in assoc.iterfind("{*}End")
        }
    raw_navs: dict[str, list[tuple[str, str, str]]] = {}
    for et in schema.iterfind("{*}EntityType"):
        props: dict[str, Property] = {}
        for p in et.iterfind("{*}Property"):
            props[p.get("Name", "")] = Property(
                name=p.get("Name", ""),
                edm_type=p.get("Type", "Edm.String"),
                nullable=p.get("Nullable", "true") != "false",
                max_length=_int(p.get("MaxLength")),
                precision=_int(p.get("Precision")),
                scale=_int(p.get("Scale")),
                creatable=_flag(p, "creatable"),
                updatable=_flag(p, "updatable"),
            )
        key = et.find("{*}Key")
        keys = [ref.get("Name", "") for ref in key.iterfind("{*}PropertyRef")] if key is not None else []
        type_name = et.get("Name", "")
        types[type_name] = EntityType(type_name, keys, props)
        raw_navs[type_name] = [
            (n.get("Name", ""), n.get("Relationship", "").split(".")[-1], n.get("ToRole", ""))
            for n in et.iterfind("{*}NavigationProperty")
        ]
    sets: dict[str, EntitySet] = {}
    set_of_type: dict[str, str] = {}
    for container in schema.iterfind("{*}EntityContainer"):
        for es in container.iterfind("{*}EntitySet"):
            type_name = es.get("EntityType", "").split(".")[-1]
            if type_name not in types:
                continue
            set_name = es.get("Name", "")
            sets[set_name] = EntitySet(
                set_name,
                types[type_name],
                creatable=_flag(es, "creatable"),
                updatable=_flag(es, "updatable"),
                deletable=_flag(es, "deletable"),
            )
            set_of_type.setdefault(type_name, set_name)
    for type_name, navs in raw_navs.items():
        for nav_name, assoc_name, to_role in navs:
            target_type, multiplicity = assoc_ends.get(assoc_name, {}).get(to_role, ("", "1"))
            if target_type in set_of_type:
                types[type_name].navigations[nav_name] = Navigation(
                    nav_name, set_of_type[target_type], multiplicity == "*"
                )
    return Service(name, namespace, sets, data)


@functools.lru_cache(maxsize=8)
def _load(path: str) -> bytes:
    return Path(path).read_bytes()


def load_service(name: str, specs: Path) -> Service:
    """Parse the EDMX of service ``name`` from ``specs/sap-s4hana/edmx``."""
    data = _load(str(specs / "sap-s4hana" / "edmx" / EDMX_FILES[name]))
    return _parse(name, data)
