"""``divergence webhooks ...``: a local receiver, a standalone delivery worker, secrets and
payload schemas.

- ``listen`` serves a receiver on 127.0.0.1 that verifies every signature and prints
  each new verified event as one JSON line on stdout (duplicates by ``webhook-id`` are
  answered 2xx but not printed again unless ``--all``).
- ``deliver`` runs the delivery worker against a database no server holds open.
- ``new-secret`` prints a fresh ``whsec_`` secret; ``schema`` prints a JSON Schema.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import orjson
import typer

from divergence.errors import DivergenceError
from divergence.logs import configure_logging
from divergence.settings import load_settings
from divergence.webhooks.config import webhook_settings_of
from divergence.webhooks.payloads import EVENT_SCHEMAS, schema_for
from divergence.webhooks.receiver import (
    Delivery,
    ReceiverLog,
    accept_all,
    create_receiver_app,
)
from divergence.webhooks.signing import DEFAULT_TOLERANCE_S, new_secret, secret_key, verify

app = typer.Typer(
    no_args_is_help=True,
    help="Signed webhooks: a local receiver, the delivery worker, secrets and schemas.",
)


@app.command()
def listen(
    secret: Annotated[
        list[str],
        typer.Option(
            envvar="DIVERGENCE_WEBHOOK_SECRET",
            help="The endpoint's whsec_ secret (repeat during a rotation). Prefer the env var.",
        ),
    ],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9000,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    tolerance: Annotated[
        float, typer.Option(help="Accepted webhook-timestamp skew, seconds.")
    ] = DEFAULT_TOLERANCE_S,
    all_: Annotated[
        bool, typer.Option("--all", help="Print duplicates (same webhook-id) too.")
    ] = False,
) -> None:
    """Receive webhooks, verify each signature, print each verified event as a JSON line."""
    import uvicorn

    keys = [secret_key(s, name="--secret") for s in secret]
    configure_logging("WARNING")

    def check(body: bytes, headers: Mapping[str, str]) -> str:
        return verify(body, headers, keys, now_s=time.time(), tolerance_s=tolerance)

    def show(delivery: Delivery) -> None:
        line = {"webhook_id": delivery.webhook_id, **delivery.payload}
        typer.echo(orjson.dumps(line).decode())

    async def echo_every(delivery: Delivery) -> int:
        show(delivery)
        return 204

    receiver = create_receiver_app(
        check,
        received=ReceiverLog(),
        respond=echo_every if all_ else accept_all,
        on_new=None if all_ else show,
    )
    typer.echo(f"verifying webhooks on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(receiver, host=host, port=port, log_config=None, log_level="warning")


@app.command()
def deliver(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings.")] = None,
    db: Annotated[Path | None, typer.Option(help="DuckDB file (default: db_path).")] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Attempt what is due now, then exit.")
    ] = False,
    allow_network: Annotated[
        list[str] | None,
        typer.Option(help="Also allow this CIDR (e.g. 127.0.0.0/8); adds to the settings."),
    ] = None,
) -> None:
    """Run the delivery worker on a database that no server holds open."""
    from divergence.store.db import AsyncStore, Store
    from divergence.webhooks.manager import WebhookService

    settings = load_settings(config, overrides={"db_path": db} if db else None)
    configure_logging(settings.log_level)
    hooks = webhook_settings_of(settings)
    if allow_network:
        allowed = (*hooks.allowed_networks, *allow_network)
        hooks = hooks.model_validate({**hooks.model_dump(), "allowed_networks": allowed})
    store = Store(settings.db_path, threads=settings.duckdb_threads)
    store.migrate()

    async def run() -> None:
        service = WebhookService(AsyncStore(store), hooks)
        try:
            if once:
                made = await service.worker.run_once()
                typer.echo(f"{made} delivery attempts")
            else:
                await service.worker.run()
        finally:
            await service.worker.aclose()

    try:
        asyncio.run(run())
    finally:
        store.close()


@app.command("new-secret")
def new_secret_command() -> None:
    """Print a fresh whsec_ secret (give it to the endpoint and to its receiver)."""
    typer.echo(new_secret())


@app.command()
def schema(
    event_type: Annotated[
        str | None, typer.Argument(help="An event type; without it, list the types.")
    ] = None,
) -> None:
    """Print the JSON Schema of an event type's payload, or list the event types."""
    if event_type is None:
        for name in sorted(EVENT_SCHEMAS):
            typer.echo(name)
        return
    typer.echo(orjson.dumps(schema_for(event_type), option=orjson.OPT_INDENT_2).decode())


def main() -> None:
    """``python -m divergence.cli_webhooks``: the sub-app alone (tests, subprocesses)."""
    try:
        app(standalone_mode=False, prog_name="divergence webhooks")
    except DivergenceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
