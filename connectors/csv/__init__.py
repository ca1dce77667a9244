"""The CSV connector: a folder of exports acting as the ERP, and the SDK's worked example."""

from connectors.csv.connector import CsvConnector, CsvSettings, parse_allocations, parse_timestamp

__all__ = ["CsvConnector", "CsvSettings", "parse_allocations", "parse_timestamp"]
