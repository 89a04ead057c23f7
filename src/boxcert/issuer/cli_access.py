"""``boxcert issuer account|token|audit``: who may see what, and what happened.

- ``account add --email E --subscription CODE | --subscription-id N`` — a customer's portal
  login (or one more subscription for an existing one); the password is generated and shown
  once, or read from standard input with ``--password-stdin``. Stored as a scrypt hash.
- ``token add --name billing`` — an admin API token, printed once, stored hashed.
- ``audit [--database U] [--since T] [--json]`` — the audit log, newest first.

Nothing here prints a contract code, a stored hash or a token other than the one just made.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from boxcert import secrets
from boxcert.clock import system_clock
from boxcert.issuer import tokens
from boxcert.issuer.cli_admin import admin_session, data_options, record
from boxcert.issuer.errors import InvalidValue
from boxcert.issuer.portal.accounts import hash_password, normalize_email
from boxcert.issuer.store import accounts, audit, portal
from boxcert.issuer.store import tokens as stored_tokens
from boxcert.wire import canonical_uuid

_AGO = re.compile(r"^\s*(\d{1,6})\s*([mhd])\s*$")

# --- portal accounts ------------------------------------------------------------------------


@click.group("account")
def account_group() -> None:
    """Customers' logins to the portal (/my/subscriptions)."""


@account_group.command("add")
@data_options
@click.option("--email", required=True, help="The customer's e-mail address (the login name).")
@click.option(
    "--subscription", "codes", multiple=True, metavar="CODE", help="A contract code; repeatable."
)
@click.option(
    "--subscription-id", "sub_ids", multiple=True, type=int, help="A subscription id; repeatable."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def account_add(
    data_dir: Path,
    db_url: str | None,
    email: str,
    codes: tuple[str, ...],
    sub_ids: tuple[int, ...],
    password_stdin: bool,
) -> None:
    """Give a customer a portal login that sees these subscriptions."""
    if not codes and not sub_ids:
        raise click.UsageError("give --subscription CODE or --subscription-id N (or several)")
    try:
        email = normalize_email(email)
    except InvalidValue as err:
        raise click.BadParameter(str(err), param_hint="--email") from err
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.new_password()
    try:
        password_hash = hash_password(password)
    except InvalidValue as err:
        raise click.ClickException(str(err)) from err
    now = system_clock()
    with admin_session(data_dir, db_url) as (s, contract_codes):
        targets = [accounts.subscription_id(s, contract_codes, c) for c in codes] + list(sub_ids)
        row = portal.account_by_email(s, email)
        created = row is None
        if row is None:
            row = portal.add_account(s, email, password_hash, now)
        for sub_id in targets:
            if portal.link_subscription(s, row.id, sub_id):
                record(s, f"portal account {email} may see subscription #{sub_id}", sub=sub_id)
    shown = ", ".join(f"#{t}" for t in targets)
    if not created:
        click.echo(f"account {email} exists; it now sees subscription(s) {shown}")
        return
    click.echo(f"account {email} added for subscription(s) {shown}")
    if not password_stdin:
        click.echo(f"password (shown once): {password}")


@account_group.command("password")
@data_options
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def account_password(data_dir: Path, db_url: str | None, email: str, password_stdin: bool) -> None:
    """Give an account a new password (generated unless read from stdin); its sessions end."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.new_password()
    try:
        email, password_hash = normalize_email(email), hash_password(password)
    except InvalidValue as err:
        raise click.ClickException(str(err)) from err
    with admin_session(data_dir, db_url) as (s, _):
        portal.set_password_hash(s, email, password_hash)
        record(s, f"portal account {email}: new password")
    click.echo(f"account {email}: password changed")
    if not password_stdin:
        click.echo(f"password (shown once): {password}")


@account_group.command("remove")
@data_options
@click.option("--email", required=True)
def account_remove(data_dir: Path, db_url: str | None, email: str) -> None:
    with admin_session(data_dir, db_url) as (s, _):
        portal.remove_account(s, email.strip().lower())
        record(s, f"portal account {email.strip().lower()} removed")
    click.echo(f"account {email} removed")


@account_group.command("list")
@data_options
@click.option("--json", "as_json", is_flag=True)
def account_list(data_dir: Path, db_url: str | None, as_json: bool) -> None:
    with admin_session(data_dir, db_url) as (s, _):
        rows = [
            {"email": a.email, "subscriptions": list(a.subscription_ids)}
            for a in portal.list_accounts(s)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows or [{"email": "(none)", "subscriptions": []}]:
        subs = ", ".join(f"#{i}" for i in row["subscriptions"])
        click.echo(f"{row['email']}  {subs}".rstrip())


# --- admin API tokens ------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """Tokens of the admin API (/api/v1, described at /openapi.json)."""


@token_group.command("add")
@data_options
@click.option("--name", required=True, help="Who uses it, e.g. billing (shown in the audit log).")
def token_add(data_dir: Path, db_url: str | None, name: str) -> None:
    """Make a token and print it once; only its hash is kept."""
    try:
        tokens.check_name(name)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--name") from err
    with admin_session(data_dir, db_url) as (s, _):
        made = tokens.make(s, name, system_clock)
        record(s, f"admin API token {name!r} added")
    click.echo(made.text)
    click.echo(f"token {name!r} (shown once): send it as 'Authorization: Bearer …'", err=True)


@token_group.command("list")
@data_options
def token_list(data_dir: Path, db_url: str | None) -> None:
    with admin_session(data_dir, db_url) as (s, _):
        rows = stored_tokens.list_tokens(s)
    for t in rows:
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never"
        click.echo(f"{t.name}  made {t.created_at:%Y-%m-%d}  last used {used}")
    if not rows:
        click.echo("(none)")


@token_group.command("remove")
@data_options
@click.option("--name", required=True)
def token_remove(data_dir: Path, db_url: str | None, name: str) -> None:
    """Remove a token: requests with it get 401 at once."""
    with admin_session(data_dir, db_url) as (s, _):
        stored_tokens.remove_token(s, name)
        record(s, f"admin API token {name!r} removed")
    click.echo(f"token {name!r} removed")


# --- the audit log ---------------------------------------------------------------------------


def parse_since(text: str, now: datetime) -> datetime:
    """``2025-03-01``, ``2025-03-01T12:00+01:00`` or a span back from now (``30m``, ``12h``,
    ``7d``); ValueError otherwise. A time without an offset is UTC."""
    match = _AGO.match(text)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(f"expected a date, a time or a span like 7d, not {text!r}") from err
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.command("audit")
@data_options
@click.option("--database", "db_uuid", metavar="UUID", help="Only entries of this database.")
@click.option("--since", metavar="WHEN", help="A date or time, or a span back: 7d, 12h, 30m.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def audit_command(
    data_dir: Path,
    db_url: str | None,
    db_uuid: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show the audit log, newest first: issuances, refusals, revocations, changes, logins."""
    try:
        start = parse_since(since, system_clock()) if since else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--since") from err
    with admin_session(data_dir, db_url) as (s, _):
        rows = audit.entries(
            s,
            db_uuids=[canonical_uuid(db_uuid)] if db_uuid else None,
            since=start,
            limit=limit,
        )
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    if not rows:
        click.echo("(no entry)")
        return
    for r in rows:
        where = r.db_uuid or (f"sub #{r.subscription_id}" if r.subscription_id else "-")
        code = f" [{r.code}]" if r.code else ""
        click.echo(
            f"{r.at.isoformat(timespec='seconds')}  {r.kind:<19} {where:<36} {r.actor:<24} "
            f"{r.detail}{code}"
        )
