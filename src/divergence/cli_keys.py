"""``divergence keys ...``: make API keys for the service and hash existing ones.

- ``new --name N --role R`` prints a fresh key once (it is stored nowhere) and the
  settings lines that configure it by its SHA-256;
- ``hash`` reads a key from stdin (never from the command line, which shells keep in
  their history) and prints its SHA-256.
"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from pydantic import ValidationError

from divergence.auth.config import ApiKeySpec
from divergence.auth.keys import key_hash, new_key
from divergence.auth.roles import Role
from divergence.errors import DivergenceError
from divergence.validation import describe_validation_error

app = typer.Typer(
    no_args_is_help=True,
    help="API keys of the service: make a key with a role, or hash an existing one.",
)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Option(help="Who holds the key (shown in logs, never the key).")],
    role: Annotated[Role, typer.Option(help="viewer, analyst or admin.")],
) -> None:
    """Print a fresh key once, and the settings lines that configure it by its hash."""
    key = new_key()
    try:
        spec = ApiKeySpec(name=name, role=role, sha256=key_hash(key))
    except ValidationError as exc:
        field, message = describe_validation_error(exc)
        raise DivergenceError(f"--{field}: {message}") from exc
    entry = {"name": spec.name, "role": str(spec.role), "sha256": spec.sha256}
    typer.echo(f"key for {spec.name!r} ({spec.role}); shown once, stored nowhere:")
    typer.echo(f"  {key}")
    typer.echo("")
    typer.echo("add to the settings file (--config):")
    typer.echo("  [[service.api_keys]]")
    for field, value in entry.items():
        typer.echo(f'  {field} = "{value}"')
    typer.echo("")
    typer.echo("or to the environment (a JSON list of every key):")
    typer.echo(f"  DIVERGENCE_SERVICE__API_KEYS='{orjson.dumps([entry]).decode()}'")


@app.command("hash")
def hash_command() -> None:
    """Read one key from stdin and print its SHA-256 (the ``sha256`` of its settings entry)."""
    key = sys.stdin.readline().strip()
    if not key:
        raise DivergenceError("stdin: expected a key on the first line")
    typer.echo(key_hash(key))
