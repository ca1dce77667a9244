"""``$metadata`` of each API, an EDMX 4.0 document built from the entity tables in ``entities``.

The shape follows what BC serves (Schema ``Microsoft.NAV``, EntityContainer ``NAV``, enum members
with ``_x0020_`` for spaces, capability annotations on each entity set), so an OData client that
reads BC's own ``$metadata`` reads this one the same way.
"""

from __future__ import annotations

from lxml import etree

from sandboxes.business_central.entities import ENUMS, Api, EntitySet

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
_CAPABILITIES = (
    ("DeleteRestrictions", "Deletable", "deletable"),
    ("InsertRestrictions", "Insertable", "insertable"),
    ("UpdateRestrictions", "Updatable", "updatable"),
)


def _el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{EDM}}}{tag}", {k: v for k, v in attrs.items()})


def _annotation(parent: etree._Element, term: str, prop: str, value: bool) -> None:
    note = _el(parent, "Annotation", Term=f"Org.OData.Capabilities.V1.{term}")
    record = _el(note, "Record")
    _el(record, "PropertyValue", Property=prop, Bool="true" if value else "false")


def _entity_type(schema: etree._Element, entity_set: EntitySet, api: Api) -> None:
    et = _el(schema, "EntityType", Name=entity_set.entity_type)
    key = _el(et, "Key")
    _el(key, "PropertyRef", Name=entity_set.key)
    for prop in entity_set.properties:
        attrs = {"Name": prop.name, "Type": prop.edm_type}
        if not prop.nullable:
            attrs["Nullable"] = "false"
        if prop.max_length:
            attrs["MaxLength"] = str(prop.max_length)
        if prop.type == "Decimal":
            attrs["Scale"] = "Variable"
        _el(et, "Property", **attrs)
    for nav, target in entity_set.children.items():
        child = api.entity_sets[target]
        _el(
            et,
            "NavigationProperty",
            Name=nav,
            Type=f"Collection(Microsoft.NAV.{child.entity_type})",
            ContainsTarget="true",
        )


_RENDERED: dict[str, bytes] = {}


def render(api: Api) -> bytes:
    """The ``$metadata`` document of ``api`` (kept once built: the tables never change at run time)."""
    if api.route not in _RENDERED:
        _RENDERED[api.route] = _build(api)
    return _RENDERED[api.route]


def _build(api: Api) -> bytes:
    root = etree.Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"}, nsmap={"edmx": EDMX})
    services = etree.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = etree.SubElement(services, f"{{{EDM}}}Schema", {"Namespace": "Microsoft.NAV"}, nsmap={None: EDM})
    for name in api.enums:
        enum = _el(schema, "EnumType", Name=name)
        for value, member in enumerate(ENUMS[name]):
            _el(enum, "Member", Name=member, Value=str(value))
    for entity_set in api.entity_sets.values():
        _entity_type(schema, entity_set, api)
    for entity_set in api.entity_sets.values():
        for action in entity_set.actions:
            act = _el(schema, "Action", Name=action, IsBound="true")
            _el(act, "Parameter", Name="bindingParameter", Type=f"Microsoft.NAV.{entity_set.entity_type}")
    container = _el(schema, "EntityContainer", Name="NAV")
    for entity_set in api.entity_sets.values():
        es = _el(
            container, "EntitySet", Name=entity_set.name, EntityType=f"Microsoft.NAV.{entity_set.entity_type}"
        )
        for nav, target in entity_set.children.items():
            _el(es, "NavigationPropertyBinding", Path=nav, Target=target)
        for term, prop, attr in _CAPABILITIES:
            _annotation(es, term, prop, getattr(entity_set, attr))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
