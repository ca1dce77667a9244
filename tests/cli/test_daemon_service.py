"""`arbridge run` as a service manager sees it: healthy while it works, clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests

from connectors.csv.sample import write_sample_exports

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_health_and_exits_0_on_sigterm_after_committing(tmp_path: Path) -> None:
    exports = write_sample_exports(tmp_path / "exports")
    port = free_port()
    cfg = tmp_path / "arbridge.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            server: {{bind: "127.0.0.1:{port}"}}
            connections:
              - name: shop
                connector: csv
                schedule: {{interval: 1s}}
                settings: {{folder: "{exports}"}}
            """
        )
    )
    cfg.chmod(0o600)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync_daemon import main; main()",
            *["--log-format", "json"],
            "run",
            "-c",
            str(cfg),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        healthy = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                time.sleep(0.2)
        assert healthy, "the daemon never answered /healthz"
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        assert ready.status_code == 200
        time.sleep(1.5)  # let it run a cycle or two
        fitted_at = _stored_model_fitted_at(tmp_path / "state.sqlite", deadline=time.monotonic() + 60)
        assert fitted_at, "after its first cycle the daemon fits the connection's payment-date model"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert '"event": "stopped"' in err
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT status FROM runs")).scalars().all()
        records = conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one()
    engine.dispose()
    assert runs and "running" not in runs  # every cycle committed its outcome before exit
    assert records > 0


def _stored_model_fitted_at(path: Path, *, deadline: float) -> str | None:
    """When the store's model of ``shop`` was fitted, waiting for it until ``deadline``."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        while True:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT fitted_at FROM prediction_models WHERE connection = 'shop'")
                ).scalar()
            if found or time.monotonic() > deadline:
                return str(found) if found else None
            time.sleep(0.2)
    finally:
        engine.dispose()
