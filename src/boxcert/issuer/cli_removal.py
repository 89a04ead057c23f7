"""``boxcert issuer database remove|set-max-boxes``, ``subscription remove``, ``box list|forget``:
taking back what the vendor no longer serves (:mod:`boxcert.issuer.removal`).

A removal that would leave a valid certificate behind is refused in one line that names the
way out; ``--revoke`` (a box: by default) revokes first, which needs the CA backend the
certificates came from: these verbs take ``serve``'s CA options for that. Every change is in
the audit log (actor ``cli``); nothing secret is shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from boxcert.clock import system_clock
from boxcert.issuer.cli_admin import (
    admin_session,
    data_options,
    database_group,
    find_subscription_id,
    print_rows,
    record,
    subscription_group,
    which_subscription,
)
from boxcert.issuer.cli_ca import ca_options, existing_service
from boxcert.issuer.db import database_url, open_engine, prepare_data_dir, session_factory
from boxcert.issuer.errors import InUse, IssuerError, StillValid
from boxcert.issuer.removal import REASON, Remover, box_label_of
from boxcert.issuer.store import accounts, removals
from boxcert.issuer.store.rows import StoredCertificate
from boxcert.wire import canonical_uuid

T = TypeVar("T")


@contextmanager
def remover(
    data_dir: Path, db_url: str | None, revoke: bool, kw: dict[str, Any]
) -> Iterator[Remover]:
    """A remover on the issuer's database; with the CA backend of ``kw`` when it revokes."""
    if revoke:
        service = existing_service(data_dir, db_url, **kw)
        try:
            yield Remover(service.sessions, service.clock, service.revoker)
        finally:
            service.close()  # the revocations' audit entries are written here
        return
    try:
        prepare_data_dir(data_dir, db_url)
        engine = open_engine(database_url(data_dir, db_url))
    except (IssuerError, OSError) as err:
        raise click.ClickException(str(err)) from err
    try:
        yield Remover(session_factory(engine), system_clock)
    finally:
        engine.dispose()


def run(job: Coroutine[Any, Any, T], still_valid: str) -> T:
    """Run a removal; its refusals and failures become one line (``still_valid``: the way
    out when valid certificates are in the way)."""
    try:
        return asyncio.run(job)
    except StillValid as err:
        raise click.ClickException(f"{err}: {still_valid.format(name=err.names[0])}") from err
    except (IssuerError, OSError) as err:
        raise click.ClickException(str(err)) from err


def _revoked(serials: tuple[str, ...]) -> None:
    for serial in serials:
        click.echo(f"revoked {serial} ({REASON.value})")


_WAY_OUT = (
    f"give --revoke to revoke them ({REASON.value}) and remove it, or revoke them first with "
    "`boxcert issuer revoke --domain {name}`"
)


# --- databases ------------------------------------------------------------------------------


@database_group.command("remove")
@data_options
@click.option("--uuid", required=True)
@click.option(
    "--revoke",
    is_flag=True,
    help="Revoke its valid certificates first (cessationOfOperation); needs serve's CA options.",
)
@ca_options
def database_remove(data_dir: Path, db_url: str | None, uuid: str, revoke: bool, **kw: Any) -> None:
    """Remove a database with its boxes; refused while it has valid certificates.

    Its certificates (for the CRL) and audit entries are kept.
    """
    with remover(data_dir, db_url, revoke, kw) as r:
        done = run(r.remove_database(uuid, revoke=revoke), _WAY_OUT)
    _revoked(done.revoked)
    gone = done.removed
    click.echo(
        f"database {gone.uuid} removed (subscription #{gone.subscription_id}): {gone.boxes} "
        f"box(es) and {gone.installations} hub installation(s) with it; certificates and "
        "audit entries kept"
    )


def _cap(text: str) -> int | None:
    if text.strip().lower() in ("none", "default"):
        return None
    if not text.strip().isdigit() or len(text.strip()) > 9:
        raise click.BadParameter("a number of boxes (0 or more), or none", param_hint="--max")
    return int(text)


@database_group.command("set-max-boxes")
@data_options
@click.option("--uuid", required=True)
@click.option(
    "--max",
    "cap",
    required=True,
    metavar="N|none",
    help="Boxes allowed (0: no new box); none: the issuer's --max-boxes.",
)
def database_set_max_boxes(data_dir: Path, db_url: str | None, uuid: str, cap: str) -> None:
    """Give a database its own box cap, overriding `serve --max-boxes`.

    Registered boxes stay, even above a lowered cap; the cap counts new ones.
    """
    value = _cap(cap)
    uuid = canonical_uuid(uuid)
    with admin_session(data_dir, db_url) as (s, _):
        try:
            accounts.set_database_max_boxes(s, uuid, value)
        except IssuerError as err:
            raise click.ClickException(str(err)) from err
        shown = str(value) if value is not None else "the issuer's --max-boxes"
        record(s, f"database {uuid}: box cap {shown}", db=uuid)
    click.echo(f"database {uuid}: box cap {shown}")


# --- subscriptions --------------------------------------------------------------------------


@subscription_group.command("remove")
@data_options
@which_subscription
@click.option(
    "--with-databases",
    is_flag=True,
    help="Remove the databases registered under it too (each as `database remove`).",
)
@click.option(
    "--revoke",
    is_flag=True,
    help="With --with-databases: revoke their valid certificates first; needs serve's CA options.",
)
@ca_options
def subscription_remove(
    data_dir: Path,
    db_url: str | None,
    code: str | None,
    sub_id: int | None,
    with_databases: bool,
    revoke: bool,
    **kw: Any,
) -> None:
    """Remove a subscription; refused while databases are registered under it.

    Its databases are no longer eligible from then on (they are removed with it).
    """
    if revoke and not with_databases:
        raise click.UsageError("--revoke goes with --with-databases")
    with admin_session(data_dir, db_url) as (s, codes):
        target = find_subscription_id(s, codes, code, sub_id)
    with remover(data_dir, db_url, revoke, kw) as r:
        try:
            done = run(
                r.remove_subscription(target, with_databases=with_databases, revoke=revoke),
                _WAY_OUT.replace("remove it", "remove them"),
            )
        except click.ClickException as err:
            if isinstance(err.__cause__, InUse) and not isinstance(err.__cause__, StillValid):
                raise click.ClickException(
                    f"{err.message}; remove them first (`boxcert issuer database remove "
                    "--uuid UUID`) or give --with-databases"
                ) from err.__cause__
            raise
    for db in done.databases:
        _revoked(db.revoked)
        click.echo(f"database {db.removed.uuid} removed ({db.removed.boxes} box(es))")
    gone = done.removed
    click.echo(
        f"subscription #{gone.id} removed ({gone.lines} line(s), {gone.accounts} portal "
        "account link(s))"
    )


# --- boxes ----------------------------------------------------------------------------------


@click.group("box")
def box_group() -> None:
    """Boxes (one key each), registered to the database they first asked for."""


def _valid_until(cert: StoredCertificate | None) -> str:
    return cert.not_after.isoformat(timespec="seconds") if cert is not None else "none"


@box_group.command("list")
@data_options
@click.option("--database", "db_uuid", metavar="UUID", help="Only the boxes of this database.")
@click.option("--json", "as_json", is_flag=True)
def box_list(data_dir: Path, db_uuid: str | None, db_url: str | None, as_json: bool) -> None:
    """Boxes with their database, when they were seen, and their valid certificate."""
    uuid = canonical_uuid(db_uuid) if db_uuid is not None else None
    with admin_session(data_dir, db_url) as (s, _):
        if uuid is not None:
            try:
                accounts.get_database(s, uuid)
            except IssuerError as err:
                raise click.ClickException(str(err)) from err
        found = removals.list_boxes(s, uuid, system_clock())
    table: list[dict[str, object]] = [
        {
            "label": b.box.label,
            "database": b.box.db_uuid,
            "identifier": b.box.identifier,
            "first_seen": b.box.first_seen.isoformat(timespec="seconds"),
            "last_seen": b.box.last_seen.isoformat(timespec="seconds"),
            "serial": b.certificate.serial_hex if b.certificate else None,
            "valid_until": _valid_until(b.certificate) if b.certificate else None,
        }
        for b in found
    ]
    if not as_json:
        for row in table:
            row["serial"] = row["serial"] or "-"
            row["valid_until"] = row["valid_until"] or "no valid certificate"
    columns = ["label", "database", "identifier", "last_seen", "valid_until"]
    print_rows(table, as_json, columns)


@box_group.command("forget")
@data_options
@click.option(
    "--box",
    "box",
    required=True,
    metavar="LABEL",
    help="The box's label (`box list`), or a name of its certificate or address.",
)
@click.option(
    "--keep-certificate",
    is_flag=True,
    help="Leave its certificate valid (else it is revoked: cessationOfOperation).",
)
@ca_options
def box_forget(
    data_dir: Path, db_url: str | None, box: str, keep_certificate: bool, **kw: Any
) -> None:
    """Remove a box's registration, freeing its place under its database's cap; its valid
    certificate is revoked first (needs serve's CA options) unless --keep-certificate.

    A box that still runs registers again when it next asks, if its database has room.
    """
    try:
        label = box_label_of(box)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--box") from err
    with remover(data_dir, db_url, not keep_certificate, kw) as r:
        done = run(
            r.forget_box(label, keep_certificate=keep_certificate),
            "revoke it or give --keep-certificate",
        )
    _revoked(done.revoked)
    gone = done.forgotten
    kept = f"; certificate {gone.kept[0].serial_hex} left valid" if gone.kept else ""
    click.echo(f"box {label} of database {gone.box.db_uuid} forgotten{kept}")


__all__ = ["box_group"]
