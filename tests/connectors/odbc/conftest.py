"""The ODBC toolkit is tested on a GP company in PostgreSQL, reached through the real ODBC driver."""

from tests.connectors.dynamics_gp.gp_support import ignore_without_odbc

collect_ignore_glob = ignore_without_odbc()

if not collect_ignore_glob:
    from tests.connectors.dynamics_gp.conftest import gp, login

    __all__ = ["gp", "login"]
