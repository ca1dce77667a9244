"""The GP sandbox's tests need unixODBC and PostgreSQL's ODBC driver."""

from tests.connectors.dynamics_gp.gp_support import ignore_without_odbc

collect_ignore_glob = ignore_without_odbc()
