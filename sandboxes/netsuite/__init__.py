"""A local SuiteTalk (NetSuite SOAP) sandbox: ``NetSuiteSandbox(seed="demo").start()``."""

from sandboxes.netsuite.server import NetSuiteSandbox

__all__ = ["NetSuiteSandbox"]
