"""An admin who asks for many workers on a SQLite store is told why not before anything starts."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sync_daemon import cli


def test_run_refuses_procrastinate_workers_on_sqlite_with_exit_2_and_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "arbridge.yaml"
    cfg.write_text("version: 1\nstore: {url: sqlite:///./state.sqlite}\nworkers: {engine: procrastinate}\n")
    cfg.chmod(0o600)
    result = CliRunner().invoke(cli, ["run", "-c", str(cfg)], obj={})
    assert result.exit_code == 2
    assert "workers.engine (line 3): expected store.url on PostgreSQL" in result.output
    assert "with SQLite keep workers.engine: local" in result.output
    assert not (tmp_path / "state.sqlite").exists(), "nothing may start before the configuration is valid"
