"""``arbridge status``: runs, records, outbox, parked writes, quarantine, dunning and the payment-date
model per connection."""

from __future__ import annotations

import json
from typing import Any

import click

from cli.options import CONFIG_OPTION, load_deployment, open_store

__all__ = ["status_command"]


@click.command("status")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status_command(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """Show last runs, record counts, outbox backlog, parked writes and quarantine per connection."""
    from cli.dunning import dunning_status, dunning_status_lines
    from cli.health import connection_health
    from engine.payment_model import model_status

    deployment = load_deployment(config_path, store_only=True)
    store = open_store(deployment)
    out: dict[str, Any] = {"store": deployment.store.redacted_url, "connections": {}}
    for conn in deployment.connections:
        runs = store.runs(conn.name, limit=5)
        outbox = store.outbox_stats(conn.name)
        parked = store.outbox_rows(conn.name, status="parked", limit=20)
        out["connections"][conn.name] = {
            "connector": conn.connector,
            "health": {
                **{k: v for k, v in store.connection_health(conn.name).items() if k != "name"},
                **connection_health(store, conn, config_path),
            },
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
            "prediction": model_status(store, conn.name, deployment.prediction),
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
        click.echo(f"\n{name} ({info['connector']}) — {info['health']['text']}")
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
        click.echo(f"  payment prediction: {info['prediction']['text']}")
        for r in info["runs"]:
            extra = f", {r['retries']} retries ({r['throttled']} throttled)" if r["retries"] else ""
            if r["job_id"] is not None:
                extra += f", job {r['job_id']} on {r['worker']}"
            click.echo(
                f"  run {r['started_at']}: {r['status']}{extra}" + (f" — {r['error']}" if r["error"] else "")
            )
