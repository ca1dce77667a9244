"""Fixtures: a fresh SAP sandbox per test (SAP's EDMX and WSDL from the specs folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxes.sap_s4hana.server import S4Sandbox


@pytest.fixture
def sap(specs_dir: Path) -> Iterator[S4Sandbox]:
    with S4Sandbox(seed="demo", specs=specs_dir) as sandbox:
        yield sandbox
