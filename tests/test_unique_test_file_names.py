"""No two test files share a name, wherever they live under tests/.

pytest imports a test file by its basename when its folder is not a package, so two
``test_x.py`` stop the collection with an import mismatch; and a report or a ``-k``/``::``
selection naming ``test_x.py`` points at two places.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent


def duplicate_test_files(root: Path) -> dict[str, list[str]]:
    """Per basename shared by several test files under ``root``: their paths relative to it."""
    places: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        if path.name.startswith("test_") or path.name.endswith("_test.py"):
            places[path.name].append(path.relative_to(root).as_posix())
    return {name: paths for name, paths in places.items() if len(paths) > 1}


def test_no_two_test_files_share_a_name() -> None:
    duplicates = duplicate_test_files(TESTS)
    assert not duplicates, "test files sharing a name (rename one of each): " + "; ".join(
        f"{name}: {', '.join(paths)}" for name, paths in sorted(duplicates.items())
    )


def test_the_check_names_every_place_a_shared_name_is_used(tmp_path: Path) -> None:
    for folder in ("config", "rules/dunning", "engine"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "config" / "test_channels.py").write_text("")
    (tmp_path / "rules" / "dunning" / "test_channels.py").write_text("")
    (tmp_path / "engine" / "fakes.py").write_text("")
    (tmp_path / "rules" / "fakes.py").write_text("")  # helpers are imported by package, not collected
    (tmp_path / "engine" / "test_engine.py").write_text("")

    assert duplicate_test_files(tmp_path) == {
        "test_channels.py": ["config/test_channels.py", "rules/dunning/test_channels.py"]
    }
