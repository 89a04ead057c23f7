"""``boxcert issuer database|subscription …``: the operator's administration of customers.

Contract codes are secrets: given on the command line (or typed at a hidden prompt), kept only
as keyed hashes, and never printed back — listings and confirmations show a subscription's id
and the last characters of its code. Every change is written to the audit log (actor ``cli``)
in the transaction that makes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from boxcert.clock import system_clock
from boxcert.issuer import audit, duplicates
from boxcert.issuer.audit import AuditKind
from boxcert.issuer.contract_codes import ContractCodes, shown
from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
from boxcert.issuer.errors import IssuerError
from boxcert.issuer.models import DatabaseKind, SubscriptionState
from boxcert.issuer.store import accounts, settings, sightings
from boxcert.issuer.store.rows import AuditRecord
from boxcert.wire import canonical_uuid

F = TypeVar("F", bound=Callable[..., Any])


def data_options(fn: F) -> F:
    """--data and --db: where the issuer keeps its state; every issuer command takes them."""
    fn = click.option(
        "--db",
        "db_url",
        envvar="BOXCERT_ISSUER_DB",
        default=None,
        metavar="URL",
        help="SQLAlchemy database URL (default: a SQLite file in --data).",
    )(fn)
    fn = click.option(
        "--data",
        "data_dir",
        envvar="BOXCERT_ISSUER_DATA",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the issuer's state (CA files, SQLite database).",
    )(fn)
    return fn


@contextmanager
def admin_session(data_dir: Path, db_url: str | None) -> Iterator[tuple[Session, ContractCodes]]:
    """A transaction on the issuer's database (migrated first), with its contract-code hashing;
    store and file errors become one line on stderr."""
    try:
        prepare_data_dir(data_dir, db_url)
        engine = open_engine(database_url(data_dir, db_url))
        try:
            with session_factory(engine).begin() as session:
                yield session, settings.contract_codes_of(session)
        finally:
            engine.dispose()
    except (IssuerError, OSError) as err:
        raise click.ClickException(str(err)) from err


def record(session: Session, what: str, *, db: str | None = None, sub: int | None = None) -> None:
    """An audit entry for a change made from the command line (never holds a secret)."""
    audit.write_now(
        session,
        [AuditRecord(system_clock(), AuditKind.ADMIN_CHANGE, "cli", what, db, sub)],
    )


def print_rows(rows: list[dict[str, object]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("(none)")
        return
    widths = [max(len(c), *(len(_cell(r[c])) for r in rows)) for c in columns]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        click.echo("  ".join(_cell(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _cell(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def find_subscription_id(
    session: Session, codes: ContractCodes, code: str | None, sub_id: int | None
) -> int:
    if (code is None) == (sub_id is None):
        raise click.UsageError("give the subscription's --code or its --id (one of them)")
    return sub_id if sub_id is not None else accounts.subscription_id(session, codes, code or "")


def _kinds() -> click.Choice[str]:
    return click.Choice([k.value for k in DatabaseKind])


def _states() -> click.Choice[str]:
    return click.Choice([s.value for s in SubscriptionState])


# --- databases ------------------------------------------------------------------------------


@click.group("database")
def database_group() -> None:
    """Customer databases."""


@database_group.command("add")
@data_options
@click.option("--uuid", required=True, help="The database's uuid (compared without case).")
@click.option("--kind", type=_kinds(), default="production", show_default=True)
@click.option("--subscription", "code", metavar="CODE", help="Contract code of its subscription.")
@click.option("--subscription-id", "sub_id", type=int, help="Id of its subscription.")
def database_add(
    data_dir: Path,
    db_url: str | None,
    uuid: str,
    kind: str,
    code: str | None,
    sub_id: int | None,
) -> None:
    """Register a database under a subscription."""
    with admin_session(data_dir, db_url) as (s, codes):
        target = find_subscription_id(s, codes, code, sub_id)
        row = accounts.add_database(s, uuid, DatabaseKind(kind), target, system_clock())
        record(s, f"registered database {row.uuid} ({row.kind})", db=row.uuid, sub=target)
    click.echo(f"database {row.uuid} added ({row.kind}, subscription #{row.subscription_id})")


@database_group.command("set-kind")
@data_options
@click.option("--uuid", required=True)
@click.option("--kind", type=_kinds(), required=True)
def database_set_kind(data_dir: Path, db_url: str | None, uuid: str, kind: str) -> None:
    with admin_session(data_dir, db_url) as (s, _):
        accounts.set_database_kind(s, uuid, DatabaseKind(kind))
        record(s, f"database kind {kind}", db=canonical_uuid(uuid))
    click.echo(f"database {canonical_uuid(uuid)} is now {kind}")


@database_group.command("resolve-duplicate")
@data_options
@click.option("--uuid", required=True, help="The database marked duplicate.")
@click.option(
    "--keep",
    required=True,
    metavar="FINGERPRINT",
    help="The hub installation that is the real one; the others are set aside.",
)
def database_resolve_duplicate(data_dir: Path, db_url: str | None, uuid: str, keep: str) -> None:
    """Keep one installation of a database reported by several; it is eligible again."""
    uuid = canonical_uuid(uuid)
    with admin_session(data_dir, db_url) as (s, _):
        duplicates.resolve(s, uuid, keep.strip().lower())
        audit.write_now(
            s,
            [
                AuditRecord(
                    system_clock(),
                    AuditKind.DUPLICATE_RESOLVED,
                    "cli",
                    f"duplicate resolved: kept installation {keep}, the others dismissed",
                    uuid,
                )
            ],
        )
    click.echo(f"database {uuid}: installation {keep} kept, the others set aside")


@database_group.command("installations")
@data_options
@click.option("--uuid", required=True)
@click.option("--json", "as_json", is_flag=True)
def database_installations(data_dir: Path, db_url: str | None, uuid: str, as_json: bool) -> None:
    """The hub installations that reported a database (fingerprints, last report)."""
    with admin_session(data_dir, db_url) as (s, _):
        rows = sightings.sightings(s, canonical_uuid(uuid))
    table: list[dict[str, object]] = [
        {
            "fingerprint": r.fingerprint,
            "first_seen": r.first_seen.isoformat(timespec="seconds"),
            "last_seen": r.last_seen.isoformat(timespec="seconds"),
            "verdict": r.verdict,
        }
        for r in rows
    ]
    print_rows(table, as_json, ["fingerprint", "first_seen", "last_seen", "verdict"])


@database_group.command("list")
@data_options
@click.option("--json", "as_json", is_flag=True)
def database_list(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    """Databases with their boxes and box cap (default: the issuer's --max-boxes)."""
    with admin_session(data_dir, db_url) as (s, _):
        rows = accounts.list_databases(s)
    table: list[dict[str, object]] = [
        {
            "uuid": r.uuid,
            "kind": r.kind,
            "subscription_id": r.subscription_id,
            "boxes": r.boxes,
            "max_boxes": r.max_boxes,
        }
        for r in rows
    ]
    if not as_json:
        for row in table:  # None: the issuer's --max-boxes
            row["max_boxes"] = "default" if row["max_boxes"] is None else row["max_boxes"]
    print_rows(table, as_json, ["uuid", "kind", "subscription_id", "boxes", "max_boxes"])


# --- subscriptions --------------------------------------------------------------------------


@click.group("subscription")
def subscription_group() -> None:
    """Subscriptions (contracts): found by contract code or by id; codes are never shown."""


@subscription_group.command("add")
@data_options
@click.option("--code", prompt="Contract code", hide_input=True, help="The contract code.")
@click.option("--state", type=_states(), default="in_progress", show_default=True)
@click.option(
    "--line",
    "lines",
    multiple=True,
    metavar="NAME",
    help='Product line, e.g. "IoT Box Subscription"; repeatable.',
)
def subscription_add(
    data_dir: Path, db_url: str | None, code: str, state: str, lines: tuple[str, ...]
) -> None:
    """Add a subscription; prints its id."""
    with admin_session(data_dir, db_url) as (s, codes):
        row = accounts.add_subscription(
            s, codes, code, SubscriptionState(state), list(lines), system_clock()
        )
        record(
            s,
            f"created subscription #{row.id} ({row.state}, lines: "
            f"{', '.join(row.lines) or 'none'})",
            sub=row.id,
        )
    click.echo(
        f"subscription #{row.id} added ({row.state}, {len(row.lines)} line(s), "
        f"code {shown(row.code_hint)})"
    )


def which_subscription(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--id", "sub_id", type=int, help="The subscription's id.")(fn)
    return click.option("--code", metavar="CODE", help="The subscription's contract code.")(fn)


@subscription_group.command("set-state")
@data_options
@which_subscription
@click.option("--state", type=_states(), required=True)
def subscription_set_state(
    data_dir: Path, db_url: str | None, code: str | None, sub_id: int | None, state: str
) -> None:
    with admin_session(data_dir, db_url) as (s, codes):
        target = find_subscription_id(s, codes, code, sub_id)
        accounts.set_subscription_state(s, target, SubscriptionState(state))
        record(s, f"subscription #{target}: state {state}", sub=target)
    click.echo(f"subscription #{target} is now {state}")


@subscription_group.command("add-line")
@data_options
@which_subscription
@click.option("--line", required=True, metavar="NAME")
def subscription_add_line(
    data_dir: Path, db_url: str | None, code: str | None, sub_id: int | None, line: str
) -> None:
    with admin_session(data_dir, db_url) as (s, codes):
        target = find_subscription_id(s, codes, code, sub_id)
        accounts.add_subscription_line(s, target, line)
        record(s, f"subscription #{target}: line {line!r} added", sub=target)
    click.echo(f"line {line!r} added to subscription #{target}")


@subscription_group.command("list")
@data_options
@click.option("--json", "as_json", is_flag=True)
def subscription_list(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    """List subscriptions with the last characters of their codes."""
    with admin_session(data_dir, db_url) as (s, _):
        rows = accounts.list_subscriptions(s)
    table: list[dict[str, object]] = [
        {"id": r.id, "code_hint": r.code_hint, "state": r.state, "lines": list(r.lines)}
        for r in rows
    ]
    print_rows(table, as_json, ["id", "code_hint", "state", "lines"])
