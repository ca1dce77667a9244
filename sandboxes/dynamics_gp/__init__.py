"""A local Dynamics GP company: GP's Receivables tables and eConnect stand-ins on PostgreSQL, over ODBC."""

from sandboxes.dynamics_gp.database import GpSandbox, OdbcDriverMissing, postgres_driver

__all__ = ["GpSandbox", "OdbcDriverMissing", "postgres_driver"]
