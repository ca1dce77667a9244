"""ERP connectors: the SDK (``connectors.base``), the entry-point registry, and the built-in connectors."""
