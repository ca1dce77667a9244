"""QuickBooks Online connector: OAuth 2.0, query/CDC reads, batch write-back, webhooks."""

from connectors.quickbooks.connector import QuickBooksConnector, QuickBooksSettings

__all__ = ["QuickBooksConnector", "QuickBooksSettings"]
