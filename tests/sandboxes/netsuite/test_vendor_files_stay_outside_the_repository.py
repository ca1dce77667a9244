"""The sandboxes read the vendors' schemas at run time; no copy of a vendor file is in the repository."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SKIPPED = {".git", ".venv", "build", "dist", "node_modules", "__pycache__"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _repository_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file() and not SKIPPED & set(path.relative_to(ROOT).parts) and ".egg-info" not in str(path)
    ]


def test_no_file_in_the_repository_is_a_copy_of_a_vendor_file(specs_dir: Path) -> None:
    vendor = {_digest(p): p for p in specs_dir.rglob("*") if p.is_file() and p.stat().st_size > 0}
    sizes = {p.stat().st_size for p in vendor.values()}
    copies = [
        (str(path.relative_to(ROOT)), str(vendor[digest].relative_to(specs_dir)))
        for path in _repository_files()
        if path.stat().st_size in sizes and (digest := _digest(path)) in vendor
    ]
    assert copies == []


def test_the_sandboxes_ship_no_schema_files_of_their_own() -> None:
    shipped = [p for p in (ROOT / "sandboxes").rglob("*") if p.suffix in (".xsd", ".wsdl", ".edmx")]
    assert shipped == []
