"""SAP Business One through its Service Layer (OData v4): reads A/R, writes collection state and payments."""

from connectors.sap_business_one.connector import SapBusinessOneConnector, SapBusinessOneSettings

__all__ = ["SapBusinessOneConnector", "SapBusinessOneSettings"]
