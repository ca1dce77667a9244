"""SAP S/4HANA connector: OData V2 reads and dunning write-back, payments through SOAP journal entries."""

from connectors.sap_s4hana.connector import SapS4HanaConnector
from connectors.sap_s4hana.settings import SapS4HanaSettings

__all__ = ["SapS4HanaConnector", "SapS4HanaSettings"]
