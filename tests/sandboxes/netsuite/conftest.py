"""Every NetSuite sandbox started here reads Oracle's files where the ``specs_dir`` fixture found them."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _vendor_specs(specs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBRIDGE_SPECS", str(specs_dir))
