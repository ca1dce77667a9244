"""A local SAP S/4HANA: OData V2 services from SAP's EDMX and the journal-entry SOAP service."""

from sandboxes.sap_s4hana.server import S4Sandbox

__all__ = ["S4Sandbox"]
