"""SuiteTalk namespaces, record field order, and envelope validation against a WSDL's schemas.

The same validator checks requests in the sandbox (against the project's subset) and, in the
fidelity tests, the connector's envelopes against Oracle's full 2023_2 schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
HERE = Path(__file__).resolve().parent / "wsdl"
SUBSET_WSDL = HERE / "netsuite.wsdl"
ENVELOPE_XSD = HERE / "soap-envelope.xsd"
VERSION = "2023_2"


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
    def sales(self) -> str:
        return self._urn("sales", "transactions")

    @property
    def customers(self) -> str:
        return self._urn("customers", "transactions")

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
            "tranSales": self.sales,
            "tranCust": self.customers,
        }


# record type (RecordRef ``type``) -> (namespace attribute, complex type name)
RECORD_TYPES: dict[str, tuple[str, str]] = {
    "customer": ("relationships", "Customer"),
    "invoice": ("sales", "Invoice"),
    "creditMemo": ("customers", "CreditMemo"),
    "customerPayment": ("customers", "CustomerPayment"),
}


def record_qname(ns: Namespaces, record_type: str) -> tuple[str, str]:
    """The (namespace, type name) of a record type, e.g. ``customerPayment``."""
    attr, name = RECORD_TYPES[record_type]
    return str(getattr(ns, attr)), name


def _schema_imports(wsdl_path: Path) -> list[tuple[str, Path]]:
    root = etree.parse(str(wsdl_path)).getroot()
    schema = root.find(f"{{{WSDL_NS}}}types/{{{XSD}}}schema")
    if schema is None:
        raise ValueError(f"{wsdl_path}: no inline schema with imports")
    return [
        (imp.get("namespace", ""), (wsdl_path.parent / imp.get("schemaLocation", "")).resolve())
        for imp in schema.iter(f"{{{XSD}}}import")
    ]


class EnvelopeValidator:
    """Validate whole SOAP envelopes: headers and body against the schemas a WSDL imports."""

    def __init__(self, wsdl_path: Path = SUBSET_WSDL) -> None:
        imports = [(SOAP_ENV, ENVELOPE_XSD), *_schema_imports(wsdl_path)]
        wrapper = "".join(
            f'<xs:import namespace="{ns}" schemaLocation="{path.as_uri()}"/>' for ns, path in imports
        )
        doc = etree.fromstring(f'<xs:schema xmlns:xs="{XSD}">{wrapper}</xs:schema>'.encode())
        self.schema = etree.XMLSchema(doc)

    def errors(self, envelope: etree._Element | etree._ElementTree | bytes) -> list[str]:
        """Every schema violation in ``envelope``; empty when it is valid."""
        if isinstance(envelope, bytes):
            envelope = etree.fromstring(envelope)
        if self.schema.validate(envelope):
            return []
        return [f"line {e.line}: {e.message}" for e in self.schema.error_log]


@functools.lru_cache(maxsize=4)
def field_order(xsd_dir: Path = HERE / "xsd") -> dict[str, list[str]]:
    """The element order of every complex type in the subset, for building schema-valid records."""
    order: dict[str, list[str]] = {}
    for path in sorted(xsd_dir.glob("*.xsd")):
        for ctype in etree.parse(str(path)).getroot().iter(f"{{{XSD}}}complexType"):
            name = ctype.get("name")
            if name:
                order[name] = [
                    e.get("name") or (e.get("ref") or "").split(":")[-1]
                    for e in ctype.iter(f"{{{XSD}}}element")
                ]
    return order
