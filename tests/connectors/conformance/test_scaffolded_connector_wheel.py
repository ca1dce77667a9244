"""An integrator's first day: ``arbridge new-connector``, build the wheel, install it, run the kit.

The package is installed from its wheel (not editable) into a fresh virtual environment, so a file
missing from the wheel (``manifest.json``, ``mapping.yaml``) or a wrong entry point fails here as
it would on the integrator's machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import arbridge

PACKAGE = "arbridge_connector_acme"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _fresh_venv(folder: Path) -> tuple[Path, dict[str, str]]:
    """A new virtual environment that sees this one's packages (arbridge, pytest) behind its own."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], cwd=folder.parent)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    # addsitedir also runs this environment's .pth files, which is where an editable arbridge lives.
    Path(purelib, "outer-environment.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return python, env


@pytest.mark.slow
def test_a_scaffolded_connector_installs_from_its_wheel_is_discovered_and_passes_the_kit(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(arbridge, ["new-connector", "acme", "--dir", str(tmp_path)], obj={})
    assert result.exit_code == 0, result.output
    project = tmp_path / "arbridge-connector-acme"
    assert f"created {project}" in result.output

    # The wheel carries the code, the package data read at run time, and the entry point.
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", "dist", "."],
        cwd=project,
    )
    [wheel] = list((project / "dist").glob("arbridge_connector_acme-0.1.0-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for file in (
        "__init__.py",
        "connector.py",
        "client.py",
        "fake_erp.py",
        "testing.py",
        "manifest.json",
        "mapping.yaml",
        "quality.yaml",
        "README.md",
    ):
        assert f"{PACKAGE}/{file}" in names, f"the wheel lacks {PACKAGE}/{file}"
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[arbridge.connectors]\nacme = arbridge_connector_acme:AcmeConnector" in declared

    # Installed from the wheel, not from the source folder, into a fresh environment.
    python, env = _fresh_venv(tmp_path / "venv")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        tmp_path,
    )
    elsewhere = tmp_path / "run"
    shutil.copytree(project / "tests", elsewhere / "tests")
    shutil.rmtree(project)  # nothing can be imported from the source any more

    found = _run(
        [
            str(python),
            "-c",
            f"import {PACKAGE}, connectors.registry as r;"
            f" print({PACKAGE}.__file__); print(r.discover().names())",
        ],
        elsewhere,
        env,
    ).stdout.splitlines()
    assert found[0].startswith(str(tmp_path / "venv")), f"imported from {found[0]}"
    assert "'acme'" in found[1]

    kit = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = kit.stdout.strip().splitlines()[-1] if kit.stdout.strip() else kit.stderr
    assert kit.returncode == 0, (
        f"the kit failed on the scaffolded connector:\n{kit.stdout[-6000:]}\n{kit.stderr[-2000:]}"
    )
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30, summary
    assert "skipped" not in summary and "failed" not in summary, summary
