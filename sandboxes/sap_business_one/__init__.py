"""A local SAP Business One Service Layer (``/b1s/v2``) for tests, the demo and benchmarks."""

from sandboxes.sap_business_one.server import ServiceLayerSandbox

__all__ = ["ServiceLayerSandbox"]
