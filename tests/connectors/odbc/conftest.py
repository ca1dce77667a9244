"""The ODBC toolkit is tested on a GP company in PostgreSQL, reached through the real ODBC driver."""

from tests.connectors.dynamics_gp.conftest import gp, login

__all__ = ["gp", "login"]
