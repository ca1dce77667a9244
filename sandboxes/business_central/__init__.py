"""A local Microsoft Dynamics 365 Business Central: API v2.0, the arbridge extension's pages, Entra ID."""

from sandboxes.business_central.server import BusinessCentralSandbox

__all__ = ["BusinessCentralSandbox"]
