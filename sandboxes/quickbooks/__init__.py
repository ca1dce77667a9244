"""A local QuickBooks Online: Intuit's wire protocol, validation and bookkeeping rules, seeded data."""

from sandboxes.quickbooks.server import QuickBooksSandbox

__all__ = ["QuickBooksSandbox"]
