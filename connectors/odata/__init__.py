"""A small OData v4 toolkit shared by the connectors of OData ERPs (Business Central, SAP Business One).

- ``ODataClient``: a ``RestClient`` that reads OData error bodies, pages by ``@odata.nextLink``
  with ``Prefer: odata.maxpagesize``, sends ``If-Match`` ETags and JSON ``$batch`` requests.
- ``classify_odata``: ``{"error": {"code", "message"}}`` bodies sorted into the error families.
- ``BatchRequest`` / ``BatchResponse``: one request of a JSON ``$batch`` and its answer.
- ``literal``: a value written as an OData ``$filter`` literal.
- ``multipart_body`` / ``parse_multipart``: ``$batch`` in its multipart MIME form.
"""

from connectors.odata.batch import BatchRequest, BatchResponse, batch_body, parse_batch
from connectors.odata.client import ODataClient, PageTooLarge
from connectors.odata.errors import classify_odata, odata_error
from connectors.odata.literals import any_of, literal
from connectors.odata.multipart import multipart_body, parse_multipart

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "ODataClient",
    "PageTooLarge",
    "any_of",
    "batch_body",
    "classify_odata",
    "literal",
    "multipart_body",
    "odata_error",
    "parse_batch",
    "parse_multipart",
]
