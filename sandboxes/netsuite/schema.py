"""Oracle's SuiteTalk schema, read from the specs folder at run time: namespaces, types, envelope checks.

Nothing of Oracle's WSDL or XSDs is kept in the repository. The sandbox reads the version it
serves (``netsuite/2023_2`` under the specs folder, see ``sandboxes.specs``), validates every
request against all of it, orders the fields of the records it builds as Oracle's types do, and
serves the same files as its WSDL. The connector's fidelity tests use the same validator.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from sandboxes.specs import NETSUITE, locate

__all__ = [
    "RECORD_TYPES",
    "SOAP_ENV",
    "VERSION",
    "XSD",
    "XSI",
    "EnvelopeValidator",
    "Namespaces",
    "SuiteTalkFiles",
    "Types",
    "files",
    "record_qname",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
VERSION = "2023_2"

# SOAP 1.1's envelope as SuiteTalk uses it: every header and the one body element are validated
# strictly against the schema they belong to (written here, not copied from the SOAP note).
_ENVELOPE_XSD = f"""<xs:schema xmlns:xs="{XSD}" xmlns:soapenv="{SOAP_ENV}" targetNamespace="{SOAP_ENV}"
    elementFormDefault="qualified">
  <xs:element name="Envelope"><xs:complexType><xs:sequence>
    <xs:element ref="soapenv:Header" minOccurs="0"/><xs:element ref="soapenv:Body"/>
  </xs:sequence><xs:anyAttribute namespace="##other" processContents="lax"/></xs:complexType></xs:element>
  <xs:element name="Header"><xs:complexType><xs:sequence>
    <xs:any namespace="##other" processContents="strict" minOccurs="0" maxOccurs="unbounded"/>
  </xs:sequence><xs:anyAttribute namespace="##other" processContents="lax"/></xs:complexType></xs:element>
  <xs:element name="Body"><xs:complexType><xs:sequence>
    <xs:any namespace="##other" processContents="strict" minOccurs="1" maxOccurs="1"/>
  </xs:sequence><xs:anyAttribute namespace="##other" processContents="lax"/></xs:complexType></xs:element>
</xs:schema>"""


@dataclass(frozen=True)
class Namespaces:
    """The versioned SuiteTalk namespaces (``urn:core_2023_2.platform.webservices.netsuite.com`` …)."""

    version: str

    def _urn(self, name: str, area: str) -> str:
        return f"urn:{name}_{self.version}.{area}.webservices.netsuite.com"

    @property
    def messages(self) -> str:
        return self._urn("messages", "platform")

    @property
    def core(self) -> str:
        return self._urn("core", "platform")

    @property
    def common(self) -> str:
        return self._urn("common", "platform")

    @property
    def faults(self) -> str:
        return self._urn("faults", "platform")

    @property
    def relationships(self) -> str:
        return self._urn("relationships", "lists")

    @property
    def accounting(self) -> str:
        return self._urn("accounting", "lists")

    @property
    def sales(self) -> str:
        return self._urn("sales", "transactions")

    @property
    def customers(self) -> str:
        return self._urn("customers", "transactions")

    @property
    def communication(self) -> str:
        return self._urn("communication", "general")

    @property
    def platform(self) -> str:
        return f"urn:platform_{self.version}.webservices.netsuite.com"

    def nsmap(self) -> dict[str, str]:
        """Prefixes as Oracle's own responses use them."""
        return {
            "soapenv": SOAP_ENV,
            "xsi": XSI,
            "xsd": XSD,
            "platformMsgs": self.messages,
            "platformCore": self.core,
            "platformCommon": self.common,
            "platformFaults": self.faults,
            "listRel": self.relationships,
            "listAcct": self.accounting,
            "tranSales": self.sales,
            "tranCust": self.customers,
            "generalComm": self.communication,
        }


# record type (RecordRef ``type``) -> (namespace attribute, complex type name)
RECORD_TYPES: dict[str, tuple[str, str]] = {
    "customer": ("relationships", "Customer"),
    "invoice": ("sales", "Invoice"),
    "creditMemo": ("customers", "CreditMemo"),
    "customerPayment": ("customers", "CustomerPayment"),
    "currency": ("accounting", "Currency"),
    # A user note, shown on the User Notes subtab of the customer or transaction it names.
    "note": ("communication", "Note"),
}


def record_qname(ns: Namespaces, record_type: str) -> tuple[str, str]:
    """The (namespace, type name) of a record type, e.g. ``customerPayment``."""
    attr, name = RECORD_TYPES[record_type]
    return str(getattr(ns, attr)), name


@dataclass(frozen=True)
class SuiteTalkFiles:
    """Where one version's WSDL and XSDs are."""

    version: str
    wsdl: Path

    @property
    def xsd_dir(self) -> Path:
        return self.wsdl.parent / "xsd"


def files(specs: str | Path | None = None, version: str = VERSION) -> SuiteTalkFiles:
    """Oracle's files of one SuiteTalk version in the specs folder.

    Raises:
        SpecsNotFound: the folder does not hold ``netsuite/{version}/netsuite.wsdl``.
    """
    root = locate(NETSUITE, specs)
    return SuiteTalkFiles(version, (root / "netsuite" / version / "netsuite.wsdl").resolve())


def _schema_imports(wsdl_path: Path) -> list[tuple[str, Path]]:
    root = etree.parse(str(wsdl_path)).getroot()
    schema = root.find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    if schema is None:
        raise ValueError(f"{wsdl_path}: no inline schema with imports")
    return [
        (imp.get("namespace", ""), (wsdl_path.parent / imp.get("schemaLocation", "")).resolve())
        for imp in schema.iter(f"{{{XSD}}}import")
    ]


@functools.lru_cache(maxsize=4)
def _schema(wsdl_path: Path) -> etree.XMLSchema:
    # Oracle's schema takes seconds to compile: once per file and process. An lxml schema may
    # validate from several threads at once.
    envelope = etree.fromstring(_ENVELOPE_XSD.encode())
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{path.as_uri()}"/>'
        for ns, path in _schema_imports(wsdl_path)
    )
    wrapper = etree.fromstring(
        f'<xs:schema xmlns:xs="{XSD}"><xs:import namespace="{SOAP_ENV}"/>{imports}</xs:schema>'.encode()
    )
    # The envelope schema has no file: lxml resolves its import through this in-memory document.
    parser = etree.XMLParser()
    resolver = _InlineResolver({SOAP_ENV: etree.tostring(envelope)})
    parser.resolvers.add(resolver)
    wrapper = etree.fromstring(etree.tostring(_with_location(wrapper)), parser)
    return etree.XMLSchema(wrapper)


def _with_location(wrapper: etree._Element) -> etree._Element:
    first = wrapper[0]
    first.set("schemaLocation", "inline:soap-envelope.xsd")
    return wrapper


class _InlineResolver(etree.Resolver):
    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self.documents = documents

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        if system_url == "inline:soap-envelope.xsd":
            return self.resolve_string(self.documents[SOAP_ENV], context)
        return None


class EnvelopeValidator:
    """Validate whole SOAP envelopes: headers and body against the schemas a WSDL imports."""

    def __init__(self, wsdl_path: Path) -> None:
        self.schema = _schema(wsdl_path.resolve())

    def errors(self, envelope: etree._Element | etree._ElementTree | bytes) -> list[str]:
        """Every schema violation in ``envelope``; empty when it is valid."""
        if isinstance(envelope, bytes):
            envelope = etree.fromstring(envelope)
        if self.schema.validate(envelope):
            return []
        return [f"line {e.line}: {e.message}" for e in self.schema.error_log]


@dataclass(frozen=True)
class _ComplexType:
    base: tuple[str, str] | None
    elements: tuple[tuple[str, tuple[str, str]], ...]


def _qname(el: etree._Element, value: str | None) -> tuple[str, str]:
    prefix, _, local = (value or "").rpartition(":")
    return el.nsmap.get(prefix or None, "") or "", local


class Types:
    """The complex types of Oracle's XSDs: their elements in order, with inherited ones first.

    Args:
        xsd_dir: the folder of the version's XSDs.
    """

    def __init__(self, xsd_dir: Path) -> None:
        self._types: dict[tuple[str, str], _ComplexType] = {}
        for path in sorted(xsd_dir.glob("*.xsd")):
            root = etree.parse(str(path)).getroot()
            target = root.get("targetNamespace", "")
            for ctype in root.findall(f"{{{XSD}}}complexType"):
                name = ctype.get("name")
                if not name:
                    continue
                base_el = ctype.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
                base = _qname(base_el, base_el.get("base")) if base_el is not None else None
                elements = tuple(
                    (
                        e.get("name") or _qname(e, e.get("ref"))[1],
                        _qname(e, e.get("type") or e.get("ref")),
                    )
                    for e in self._own_elements(ctype)
                )
                self._types[(target, name)] = _ComplexType(base, elements)

    @staticmethod
    def _own_elements(ctype: etree._Element) -> Iterator[etree._Element]:
        for el in ctype.iter(f"{{{XSD}}}element"):
            # Elements of a nested anonymous type belong to that type, not this one.
            owner = el.getparent()
            while owner is not None and owner.tag != f"{{{XSD}}}complexType":
                owner = owner.getparent()
            if owner is ctype:
                yield el

    def has(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._types

    def elements(self, namespace: str, name: str) -> list[tuple[str, tuple[str, str]]]:
        """(element name, type QName) of a complex type, inherited elements first."""
        ctype = self._types[(namespace, name)]
        inherited = self.elements(*ctype.base) if ctype.base and ctype.base in self._types else []
        return [*inherited, *ctype.elements]

    def order(self, namespace: str, name: str) -> list[str]:
        """The element names of a complex type in schema order."""
        return [field for field, _ in self.elements(namespace, name)]

    def field_type(self, namespace: str, name: str, field: str) -> tuple[str, str] | None:
        """The type QName of one element of a complex type (None when the type has no such element)."""
        return next((t for f, t in self.elements(namespace, name) if f == field), None)


@functools.lru_cache(maxsize=4)
def types(xsd_dir: Path) -> Types:
    """The parsed complex types of one version's XSDs (parsed once per folder and process)."""
    return Types(xsd_dir.resolve())
