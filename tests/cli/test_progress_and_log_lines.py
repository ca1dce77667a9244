"""What an admin sees while a cycle runs: progress for every phase, and log lines that read as sentences."""

from __future__ import annotations

import io
import json
import logging
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli.progress import CycleProgress, progress
from config import load_config
from connectors.csv.sample import write_sample_exports
from engine.logs import setup_logging
from engine.runner import open_store, sync_connection
from sync_daemon import cli

POLICY = Path(__file__).resolve().parents[2] / "config" / "dunning-policy.example.yaml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def deployment(tmp_path: Path) -> Path:
    exports = write_sample_exports(tmp_path / "exports")
    path = tmp_path / "arbridge.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            store: {{url: "sqlite:///{tmp_path / "state.sqlite"}"}}
            connections:
              - name: shop
                connector: csv
                settings: {{folder: "{exports}"}}
                write_back: {{enabled: true}}
            rules:
              dunning: {{enabled: true, policy: "{POLICY}"}}
            """
        )
    )
    path.chmod(0o600)
    return path


def test_the_write_back_and_the_rules_show_progress_and_finished_phases_stop_their_clocks(
    tmp_path: Path,
) -> None:
    config = load_config(deployment(tmp_path))
    store = open_store(config)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with progress(True, console=console) as bars:
        shown = CycleProgress(bars, "shop")
        report = sync_connection(
            config, config.connections[0], store, on_page=shown.on_page, on_progress=shown.on_progress
        )
        shown.finish()
        tasks = {t.description: t for t in bars.tasks}
    store.close()
    assert report.written["ok"] > 0
    assert {"shop pull invoices", "shop rules: dunning", "shop write-back"} <= set(tasks)
    writes = tasks["shop write-back"]
    assert writes.completed == writes.total == report.written["ok"]
    rules = tasks["shop rules: dunning"]
    assert rules.completed > 0 and rules.total == rules.completed
    # Once a phase is over its line is finished and its clock stands still.
    assert all(t.finished and t.stop_time is not None for t in tasks.values())


def test_a_log_line_written_during_the_progress_bars_gets_a_line_of_its_own() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    setup_logging("INFO", "text")
    try:
        with progress(True, console=console) as bars:
            bars.add_task("shop pull invoices", total=None, unit="records")
            bars.refresh()
            logging.getLogger("arbridge.engine").warning(
                "ERP unavailable during %s", "read invoices", extra={"connection": "shop"}
            )
            bars.refresh()
    finally:
        setup_logging("WARNING", "text")
    screen = console.file.getvalue()  # type: ignore[attr-defined]
    lines = [ANSI.sub("", part).split("\r")[-1] for part in screen.split("\n")]
    said = [line for line in lines if "ERP unavailable" in line]
    assert said, screen
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING ERP unavailable during read invoices  connection=shop", said[0]
    )


def test_the_cycle_log_line_is_a_sentence_and_the_json_line_carries_its_facts(tmp_path: Path) -> None:
    path = deployment(tmp_path)
    result = CliRunner().invoke(cli, ["--log-format", "json", "sync", "-c", str(path)])
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stderr.splitlines() if '"cycle_finished"' in x]
    assert re.fullmatch(
        r"cycle ok in \d+\.\ds: pulled \d+ new and 0 changed record\(s\); "
        r"decided \d+ write\(s\) for the ERP; wrote \d+ to the ERP",
        line["msg"],
    ), line["msg"]
    assert "{" not in line["msg"]
    assert line["status"] == "ok" and line["connection"] == "shop"
    assert line["pulled"]["invoices"]["new"] > 0
    assert line["written"]["ok"] == line["decided"]["dunning"] > 0
    assert f"wrote {line['written']['ok']} to the ERP" in line["msg"]

    result = CliRunner().invoke(cli, ["--log-format", "text", "--log-level", "info", "sync", "-c", str(path)])
    [text] = [x for x in result.stderr.splitlines() if "cycle ok" in x]
    assert re.search(r"cycle ok in .* connection=shop run_id=\w+ .*event=cycle_finished", text)
    assert "{" not in text and "'" not in text


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_logs_never_print_a_python_dict(tmp_path: Path, fmt: str) -> None:
    path = deployment(tmp_path)
    result = CliRunner().invoke(cli, ["--log-format", fmt, "--log-level", "debug", "sync", "-c", str(path)])
    assert result.exit_code == 0
    messages = (
        [json.loads(x)["msg"] for x in result.stderr.splitlines()]
        if fmt == "json"
        else result.stderr.splitlines()
    )
    assert messages
    assert not [m for m in messages if re.search(r"\{'|': ", m)]
