"""The ``arbridge`` command and the daemon loop: wiring only.

Every subcommand loads and validates the configuration, opens the state store and hands the work
to the engine, the rules or a sandbox. Exit codes: 0 success, 1 a sync or check failed, 2 the
configuration (or the command line) is invalid.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from connectors.registry import discover
from engine.cli_config import load_deployment as load
from engine.logs import setup_logging
from engine.runner import initial_schedule, make_connector, next_run, open_store, sync_connection
from engine.sync import CycleReport
from mapping.models import Stream

log = logging.getLogger("arbridge.daemon")


def _version() -> str:
    try:
        return metadata.version("arbridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _selected(deployment: Any, names: tuple[str, ...]) -> list[Any]:
    conns = [c for c in deployment.connections if getattr(c, "enabled", True)]
    if not names:
        return conns
    known = {c.name: c for c in deployment.connections}
    missing = [n for n in names if n not in known]
    if missing:
        click.echo(
            f"arbridge: no connection named {', '.join(missing)} (configured: {', '.join(known) or 'none'})",
            err=True,
        )
        sys.exit(2)
    return [known[n] for n in names]


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """Rich progress on a terminal; nothing otherwise (the JSON logs say it all)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        yield progress


def _page_callback(progress: Any, connection: str) -> Any:
    if progress is None:
        return None
    tasks: dict[Stream, Any] = {}

    def on_page(stream: Stream, pages: int, records: int) -> None:
        if stream not in tasks:
            tasks[stream] = progress.add_task(f"{connection} {stream.value}", total=None)
        progress.advance(tasks[stream], records)

    return on_page


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="arbridge")
@click.option(
    "--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR (default: from the config, else INFO)."
)
@click.option("--log-format", type=click.Choice(["auto", "json", "text"]), default=None)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """arbridge: sync ERPs with accounts-receivable collections, on your own premises."""
    ctx.ensure_object(dict)
    ctx.obj["log_level"] = log_level
    ctx.obj["log_format"] = log_format
    setup_logging(log_level or "INFO", log_format or "auto")


def _logging_from(ctx: click.Context, deployment: Any) -> None:
    conf = getattr(deployment, "logging", None)
    level = ctx.obj.get("log_level") or getattr(conf, "level", None) or "INFO"
    fmt = ctx.obj.get("log_format") or getattr(conf, "format", None) or "auto"
    setup_logging(str(level), str(fmt))


@cli.command()
def connectors() -> None:
    """List installed connectors: name, version, streams, write operations."""
    registry = discover()
    for name in registry.names():
        cls = registry.connectors[name]
        caps = cls.capabilities
        streams = ",".join(s.value for s in Stream if s in caps.streams) or "-"
        ops = ",".join(sorted(o.value for o in caps.write_ops)) or "-"
        click.echo(f"{name}\t{cls.version}\tstreams={streams}\twrites={ops}")
    for name, broken in sorted(registry.broken.items()):
        click.echo(f"{name}\tBROKEN\t{broken.target}: {broken.error}", err=True)


@cli.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.pass_context
def check(ctx: click.Context, config_path: str) -> None:
    """Validate the configuration and run each connection's check()."""
    deployment = load(config_path)
    _logging_from(ctx, deployment)
    store = open_store(deployment)
    failed = 0
    for conn in deployment.connections:
        try:
            connector = make_connector(conn, store)
            with connector:
                result = connector.check()
        except Exception as exc:  # report every connection, whatever breaks
            click.echo(f"FAIL {conn.name}: {type(exc).__name__}: {exc}")
            failed += 1
            continue
        click.echo(f"{'ok  ' if result.ok else 'FAIL'} {conn.name}: {result.message}")
        failed += 0 if result.ok else 1
    from engine.dunning_commands import channel_warnings

    for warning in [*getattr(deployment, "warnings", []), *channel_warnings(deployment)]:
        click.echo(f"warning: {warning}")
    click.echo(f"store: {deployment.store.redacted_url} ({'reachable' if store.ping() else 'UNREACHABLE'})")
    store.close()
    sys.exit(1 if failed else 0)


def _print_report(report: CycleReport) -> None:
    pulled = ", ".join(
        f"{s}: {v.get('new', 0)} new, {v.get('changed', 0)} changed, {v.get('quarantined', 0)} quarantined"
        for s, v in report.pulled.items()
    )
    written = ", ".join(f"{k} {v}" for k, v in sorted(report.written.items())) or "nothing"
    delivered = "".join(
        f"; {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        for name, counts in report.delivered.items()
        if counts
    )
    click.echo(
        f"{report.connection}: {report.status} in {report.seconds:.1f}s — "
        f"pulled {pulled or 'nothing'}; wrote {written}{delivered}"
    )
    for err in report.errors:
        click.echo(f"  ! {err}")


@cli.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, required=True, help="Run one cycle per connection and exit.")
@click.option("--connection", "names", multiple=True, help="Only this connection (repeatable).")
@click.option("--dry-run", is_flag=True, help="Pull and decide; write nothing back, send nothing.")
@click.pass_context
def sync(ctx: click.Context, config_path: str, once: bool, names: tuple[str, ...], dry_run: bool) -> None:
    """Run one sync cycle for each connection: pull, decide, write back."""
    deployment = load(config_path)
    _logging_from(ctx, deployment)
    store = open_store(deployment)
    registry = discover()
    worst = 0
    with _progress(sys.stderr.isatty()) as progress:
        for conn in _selected(deployment, names):
            report = sync_connection(
                deployment,
                conn,
                store,
                registry=registry,
                on_page=_page_callback(progress, conn.name),
                dry_run=dry_run,
            )
            _print_report(report)
            if report.status not in ("ok", "partial"):
                worst = 1
    store.close()
    sys.exit(worst)


def _override_bind(deployment: Any, bind: str, config_path: str) -> None:
    """Serve the HTTP endpoint on ``bind`` instead of ``server.bind``, or exit 2 saying why not."""
    from pydantic import ValidationError

    try:
        deployment.server = deployment.server.with_bind(bind)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        hint = f"; set server.token in {config_path}" if "token" in reasons else ""
        click.echo(f"arbridge: --bind {bind} refused: {reasons}{hint}", err=True)
        sys.exit(2)


@cli.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--drain-timeout",
    default=30.0,
    show_default=True,
    help="Seconds to let in-flight work finish on SIGTERM.",
)
@click.option(
    "--bind",
    metavar="HOST:PORT",
    default=None,
    help="Serve the HTTP endpoint here instead of server.bind, so several workers on one machine "
    "share one configuration file. Beyond loopback, server.token is still required.",
)
@click.pass_context
def run(ctx: click.Context, config_path: str, drain_timeout: float, bind: str | None) -> None:
    """Run as a daemon: sync every connection on its schedule until SIGTERM."""
    deployment = load(config_path)
    if bind is not None:
        # Before anything starts: a refused address must not leave a migrated store or a worker behind.
        _override_bind(deployment, bind, config_path)
    _logging_from(ctx, deployment)
    store = open_store(deployment)
    registry = discover()
    stop = threading.Event()
    signals = {"count": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            # Safe: every write is in the outbox with its key; the next start resumes it.
            log.warning("second signal: exiting at once", extra={"event": "shutdown_now"})
            sys.stderr.flush()
            import os

            os._exit(1)
        log.info(
            "signal %s: finishing in-flight work, claiming nothing new", signum, extra={"event": "shutdown"}
        )
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    connections = _selected(deployment, ())
    due = initial_schedule(connections)
    due_lock = threading.Lock()
    wake = threading.Event()
    workers = None
    if deployment.workers.distributed:
        from engine.workers import Workers

        workers = Workers(deployment, store, registry=registry, stop=stop)

    def on_webhook(connection: str, changes: list[tuple[str, str, str]]) -> None:
        # A webhook only schedules a pull; the pull itself runs in the loop (Intuit wants a reply in 3 s).
        if workers is not None:
            workers.sync_soon(connection, "webhook")
            log.info("webhook: %d change(s), pull queued", len(changes), extra={"connection": connection})
            return
        with due_lock:
            if connection in due:
                due[connection] = datetime.now(UTC)
        log.info("webhook: %d change(s), pull scheduled", len(changes), extra={"connection": connection})
        wake.set()

    from engine import sdnotify
    from engine.http import Health, OpsServer, OpsServerError

    health = Health()
    server = OpsServer(deployment, store, health=health, on_webhook=on_webhook)
    try:
        server.start()
    except (OpsServerError, OSError) as exc:
        click.echo(f"arbridge: cannot start the HTTP endpoint: {exc}", err=True)
        store.close()
        sys.exit(2)
    pinger = sdnotify.WatchdogPinger(health.alive)
    pinger.start()
    sdnotify.ready(f"{len(connections)} connection(s)")
    log.info(
        "daemon started with %d connection(s); endpoint %s",
        len(connections),
        server.url,
        extra={"event": "started", "store": store.url, "workers": deployment.workers.engine},
    )

    def beat(_stream: Stream, _pages: int, _records: int) -> None:
        health.beat()

    def drain_deadline() -> None:
        stop.wait()
        if not finished.wait(drain_timeout):
            log.warning("in-flight work did not finish within %ss: exiting", drain_timeout)
            sys.stderr.flush()
            import os

            os._exit(1)

    finished = threading.Event()
    threading.Thread(target=drain_deadline, name="drain-deadline", daemon=True).start()
    code = workers.run(drain_timeout=drain_timeout, beat=health.beat) if workers is not None else 0
    while workers is None and not stop.is_set():
        for conn in connections:
            if stop.is_set():
                break
            with due_lock:
                is_due = due[conn.name] <= datetime.now(UTC)
            if not is_due:
                continue
            started = datetime.now(UTC)
            try:
                sync_connection(deployment, conn, store, registry=registry, stop=stop, on_page=beat)
            except Exception:  # one broken connection must not stop the others
                log.exception("cycle crashed", extra={"connection": conn.name})
            health.beat()
            with due_lock:
                if due[conn.name] <= started:  # not re-scheduled by a webhook meanwhile
                    due[conn.name] = next_run(deployment.schedule_for(conn), started)
        with due_lock:
            wait = min(due.values(), default=datetime.now(UTC)) - datetime.now(UTC)
        wake.wait(max(0.2, min(wait.total_seconds(), 30.0)))
        wake.clear()
        health.beat()
    sdnotify.stopping()
    pinger.stop()
    server.stop()
    finished.set()
    store.close()
    if code:
        log.error("daemon stopped: the task queue failed", extra={"event": "stopped"})
    else:
        log.info("daemon stopped cleanly", extra={"event": "stopped"})
    sys.exit(code)


@cli.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """Show last runs, record counts, outbox backlog, parked writes and quarantine per connection."""
    from engine.dunning_commands import dunning_status, dunning_status_lines

    deployment = load(config_path)
    store = open_store(deployment)
    out: dict[str, Any] = {"store": deployment.store.redacted_url, "connections": {}}
    for conn in deployment.connections:
        runs = store.runs(conn.name, limit=5)
        outbox = store.outbox_stats(conn.name)
        parked = store.outbox_rows(conn.name, status="parked", limit=20)
        out["connections"][conn.name] = {
            "connector": conn.connector,
            "health": {k: v for k, v in store.connection_health(conn.name).items() if k != "name"},
            "records": store.count_records(conn.name),
            "outbox": outbox,
            "parked": [
                {
                    "key": r.key[:16],
                    "op": r.op_type,
                    "target": f"{r.target_type}/{r.target_id}",
                    "error": r.last_error,
                }
                for r in parked
            ],
            "quarantine": store.quarantine_count(conn.name),
            "dunning": dunning_status(store, conn.name),
            "runs": [
                {
                    "started_at": r.started_at.isoformat(timespec="seconds"),
                    "status": r.status,
                    "seconds": r.stats.get("seconds"),
                    "retries": r.stats.get("retries", 0),
                    "throttled": r.stats.get("throttled", 0),
                    "written": r.stats.get("written", {}),
                    "error": r.error,
                    "worker": r.worker,
                    "job_id": r.job_id,
                }
                for r in runs
            ],
        }
    store.close()
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    click.echo(f"store: {out['store']}")
    for name, info in out["connections"].items():
        health = (
            "NEEDS RE-AUTH: " + str(info["health"].get("reauth_reason"))
            if info["health"].get("needs_reauth")
            else "ok"
        )
        click.echo(f"\n{name} ({info['connector']}) — {health}")
        click.echo(f"  records: {', '.join(f'{k} {v}' for k, v in info['records'].items()) or 'none'}")
        counts = info["outbox"]["counts"]
        click.echo(
            f"  outbox: {counts.get('pending', 0) + counts.get('sending', 0)} pending "
            f"(oldest {info['outbox']['oldest_pending_age_s']}s), {counts.get('done', 0)} done, "
            f"{counts.get('parked', 0)} parked, {counts.get('dropped', 0)} dropped"
        )
        for p in info["parked"]:
            click.echo(f"    parked {p['op']} {p['target']}: {p['error']}")
        click.echo(f"  quarantine: {info['quarantine']} record(s)")
        for line in dunning_status_lines(info["dunning"], config_path):
            click.echo(line)
        for r in info["runs"]:
            extra = f", {r['retries']} retries ({r['throttled']} throttled)" if r["retries"] else ""
            if r["job_id"] is not None:
                extra += f", job {r['job_id']} on {r['worker']}"
            click.echo(
                f"  run {r['started_at']}: {r['status']}{extra}" + (f" — {r['error']}" if r["error"] else "")
            )


@cli.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


def _checkpoints(values: tuple[str, ...], files: tuple[str, ...]) -> list[Any]:
    """Checkpoints given on the command line and in files (one per line, or a log line holding one)."""
    from store import AuditCheckpoint

    try:
        out = [AuditCheckpoint.parse(t) for t in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--checkpoint") from exc
    for name in files:
        found = AuditCheckpoint.find_all(Path(name).read_text(encoding="utf-8"))
        if not found:
            raise click.BadParameter(f"{name} holds no ROW:HASH checkpoint", param_hint="--checkpoint-file")
        out += found
    return out


@audit.command("verify")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    metavar="ROW:HASH",
    help="A head recorded earlier (arbridge audit head, or the daemon's audit_head log field); repeatable.",
)
@click.option(
    "--checkpoint-file",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A file holding checkpoints, e.g. the daemon's log as kept by your log server; repeatable.",
)
def audit_verify(config_path: str, checkpoints: tuple[str, ...], checkpoint_files: tuple[str, ...]) -> None:
    """Check that no audit entry was changed or deleted.

    The chain shows a changed or deleted entry anywhere before the newest one. That the newest
    entries were deleted shows only against a checkpoint kept outside the store.
    """
    wanted = _checkpoints(checkpoints, checkpoint_files)
    deployment = load(config_path)
    store = open_store(deployment)
    problems = store.verify_audit(wanted)
    head = store.audit_head()
    store.close()
    if problems:
        for p in problems:
            click.echo(f"TAMPERED: {p}")
        sys.exit(1)
    checked = f", {len(wanted)} checkpoint(s) found" if wanted else ""
    click.echo(f"audit log intact: {head.row if head else 0} entries{checked}")
    if head is not None:
        click.echo(f"head: {head}")


@audit.command("head")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
def audit_head(config_path: str) -> None:
    """Print the newest entry as ROW:HASH, to keep outside this machine for audit verify."""
    deployment = load(config_path)
    store = open_store(deployment)
    head = store.audit_head()
    store.close()
    click.echo(str(head) if head else "the audit log is empty")


@cli.group(invoke_without_command=True)
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--connection", "connection_name", default=None, help="Only this connection's queue.")
@click.pass_context
def review(ctx: click.Context, config_path: str, connection_name: str | None) -> None:
    """The cash-application review queue: list what waits for a clerk, then accept, change or reject it.

    ``aliases`` lists what accepted matches taught the matcher; ``forget`` removes a wrong one.
    """
    from engine.cashapp_review import ReviewQueue

    deployment = load(config_path)
    names = tuple(n for n in (connection_name,) if n)
    store = open_store(deployment)
    ctx.call_on_close(store.close)
    ctx.obj["queues"] = [ReviewQueue(store, c.name) for c in _selected(deployment, names)]
    if ctx.invoked_subcommand is None:
        from engine.cashapp_review_cli import print_queue

        print_queue(ctx.obj["queues"], click.echo)


def _register_review_commands() -> None:
    from engine.cashapp_review_cli import (
        accept_command,
        aliases_command,
        change_command,
        forget_command,
        reject_command,
    )

    review.add_command(accept_command, "accept")
    review.add_command(change_command, "change")
    review.add_command(reject_command, "reject")
    review.add_command(aliases_command, "aliases")
    review.add_command(forget_command, "forget")


@cli.command()
@click.option("--state-dir", default="./arbridge-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Re-run against the existing state: an incremental cycle.")
def demo(state_dir: str, resume: bool) -> None:
    """Run one full cycle on embedded defaults: SQLite state and a local ERP with seeded data."""
    from sandboxes.demo import run_demo

    started = time.monotonic()
    setup_logging("WARNING", "text")
    code = run_demo(Path(state_dir), resume=resume, echo=click.echo)
    click.echo(f"\n(demo finished in {time.monotonic() - started:.1f}s)")
    sys.exit(code)


@cli.group()
def outbox() -> None:
    """Writes to the ERP: list them, retry a parked one after a fix in the ERP, or drop it for good."""


def _register_outbox_commands() -> None:
    from engine.outbox_commands import drop_command, list_command, retry_command

    for command in (list_command, retry_command, drop_command):
        outbox.add_command(command)


def _register_rule_commands() -> None:
    """Subcommands of the rule packages: part of the core, so an import failure is an error."""
    from engine.dunning_commands import mark_sent_command, preview_command, resend_command, worklist_command
    from rules.cashapp.cli import match_command
    from rules.dunning.cli import dunning_group

    cli.add_command(match_command, "match")
    for command in (preview_command, resend_command, mark_sent_command):
        dunning_group.add_command(command)
    cli.add_command(dunning_group, "dunning")
    cli.add_command(worklist_command, "worklist")


@cli.group()
def sandbox() -> None:
    """Local ERP servers speaking each ERP's wire protocol, seeded with realistic data."""


@cli.group()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.pass_context
def auth(ctx: click.Context, config_path: str) -> None:
    """One-time authorisation of a connection (OAuth consent, tokens)."""
    deployment = load(config_path)
    store = open_store(deployment)
    ctx.call_on_close(store.close)

    def settings_for(name: str) -> dict[str, Any]:
        conn = deployment.connection(name)
        settings = conn.validated_settings
        return settings.model_dump() if settings is not None else {}

    ctx.obj["state_for"] = store.connector_state
    ctx.obj["settings_for"] = settings_for


def _register_sandboxes() -> None:
    for name in ("quickbooks", "netsuite"):
        try:
            mod = __import__(f"sandboxes.{name}.cli", fromlist=["command"])
            sandbox.add_command(mod.command, name)
        except (ImportError, AttributeError) as exc:  # a broken plugin must not take the command down
            log.warning("sandbox %s unavailable: %s", name, exc)
    try:
        from connectors.quickbooks.cli import auth_command

        auth.add_command(auth_command, "quickbooks")
    except (ImportError, AttributeError) as exc:
        log.warning("quickbooks auth unavailable: %s", exc)


_register_rule_commands()
_register_review_commands()
_register_outbox_commands()
_register_sandboxes()


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
