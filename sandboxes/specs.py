"""Where the vendors' own schema files are: read at run time, never copied into the repository.

The sandboxes validate against the vendor's full schema. The files live outside the checkout:
``--specs DIR`` on the command line, else ``$ARBRIDGE_SPECS``, else ``../shared/specs`` beside the
checkout (where the tests' ``specs_dir`` fixture looks too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV", "NETSUITE", "QUICKBOOKS", "SpecsNotFound", "VendorFiles", "locate"]

ENV = "ARBRIDGE_SPECS"
_CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class VendorFiles:
    """One vendor's files: the path of a file that must exist under the specs root, and where they
    come from publicly (said when they are missing)."""

    vendor: str
    marker: str
    source: str


QUICKBOOKS = VendorFiles(
    "QuickBooks Online",
    "quickbooks/xsd/Finance.xsd",
    "Intuit's QBO v3 XSDs, github.com/intuit/QuickBooks-V3-Java-SDK ipp-v3-java-data/src/main/xsd",
)
NETSUITE = VendorFiles(
    "NetSuite",
    "netsuite/2023_2/netsuite.wsdl",
    "Oracle's SuiteTalk WSDL and XSDs, https://webservices.netsuite.com/wsdl/v2023_2_0/netsuite.wsdl "
    "with its xsd/ imports",
)


class SpecsNotFound(Exception):
    """The vendor's files are not where they were looked for; the message says what to set."""


def default_root() -> Path:
    """``$ARBRIDGE_SPECS``, else ``../shared/specs`` beside the checkout."""
    configured = os.environ.get(ENV)
    return Path(configured) if configured else _CHECKOUT.parent / "shared" / "specs"


def locate(files: VendorFiles, root: str | Path | None = None) -> Path:
    """The specs root holding ``files`` (``root`` if given, else the default one).

    Raises:
        SpecsNotFound: with one line naming where it looked, what to set and where the files come from.
    """
    base = Path(root) if root is not None else default_root()
    if (base / files.marker).is_file():
        return base
    raise SpecsNotFound(
        f"{files.vendor} schema not found: looked for {base / files.marker}; pass --specs DIR or set "
        f"{ENV} to the folder holding {files.marker} ({files.source})"
    )
