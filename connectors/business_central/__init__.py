"""Microsoft Dynamics 365 Business Central (online and on-premises), API v2.0 plus the arbridge extension."""

from connectors.business_central.connector import BusinessCentralConnector, BusinessCentralSettings

__all__ = ["BusinessCentralConnector", "BusinessCentralSettings"]
