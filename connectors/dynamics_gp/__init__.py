"""Microsoft Dynamics GP connector: Receivables over ODBC (pyodbc), write-back through eConnect."""

from connectors.dynamics_gp.connector import DynamicsGpConnector
from connectors.dynamics_gp.settings import GpSettings

__all__ = ["DynamicsGpConnector", "GpSettings"]
