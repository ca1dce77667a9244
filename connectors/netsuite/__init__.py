"""NetSuite (SuiteTalk SOAP, Token-Based Authentication) connector."""

from connectors.netsuite.connector import NetSuiteConnector, NetSuiteSettings, external_id_for

__all__ = ["NetSuiteConnector", "NetSuiteSettings", "external_id_for"]
