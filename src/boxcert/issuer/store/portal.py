"""The portal's accounts (e-mail, password hash, the subscriptions they see) and its
logged-in sessions (keyed by the SHA-256 of the cookie, shared by every issuer)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxcert.issuer.errors import AlreadyExists, NotFound
from boxcert.issuer.models import (
    PortalAccount,
    PortalAccountSubscription,
    PortalSession,
    Subscription,
)
from boxcert.issuer.store.rows import AccountRow

# --- accounts -------------------------------------------------------------------------------


def _row(session: Session, account: PortalAccount) -> AccountRow:
    subs = session.scalars(
        select(PortalAccountSubscription.subscription_id)
        .where(PortalAccountSubscription.account_id == account.id)
        .order_by(PortalAccountSubscription.subscription_id)
    ).all()
    return AccountRow(
        account.id, account.email, account.password_hash, account.created_at, tuple(subs)
    )


def add_account(session: Session, email: str, password_hash: str, now: datetime) -> AccountRow:
    if session.scalar(select(PortalAccount.id).where(PortalAccount.email == email)) is not None:
        raise AlreadyExists(f"an account {email} exists")
    account = PortalAccount(email=email, password_hash=password_hash, created_at=now)
    session.add(account)
    session.flush()
    return _row(session, account)


def account_by_email(session: Session, email: str) -> AccountRow | None:
    account = session.scalar(select(PortalAccount).where(PortalAccount.email == email))
    return _row(session, account) if account is not None else None


def account_by_id(session: Session, account_id: int) -> AccountRow | None:
    account = session.get(PortalAccount, account_id)
    return _row(session, account) if account is not None else None


def link_subscription(session: Session, account_id: int, sub_id: int) -> bool:
    """Let the account see a subscription; False when it already did."""
    if session.get(Subscription, sub_id) is None:
        raise NotFound(f"no subscription #{sub_id}")
    if session.get(PortalAccountSubscription, (account_id, sub_id)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(PortalAccountSubscription(account_id=account_id, subscription_id=sub_id))
    except IntegrityError:
        return False
    return True


def set_password_hash(session: Session, email: str, password_hash: str) -> None:
    account = session.scalar(select(PortalAccount).where(PortalAccount.email == email))
    if account is None:
        raise NotFound(f"no account {email}")
    account.password_hash = password_hash


def remove_account(session: Session, email: str) -> None:
    account = session.scalar(select(PortalAccount).where(PortalAccount.email == email))
    if account is None:
        raise NotFound(f"no account {email}")
    session.execute(
        delete(PortalAccountSubscription).where(PortalAccountSubscription.account_id == account.id)
    )
    session.execute(delete(PortalSession).where(PortalSession.account_id == str(account.id)))
    session.delete(account)


def list_accounts(session: Session) -> list[AccountRow]:
    return [_row(session, a) for a in session.scalars(select(PortalAccount).order_by("email"))]


# --- sessions -------------------------------------------------------------------------------


def get_session(session: Session, key: str) -> PortalSession | None:
    row = session.get(PortalSession, key)
    if row is not None:
        session.expunge(row)
    return row


def put_session(
    session: Session,
    key: str,
    account_id: str,
    stamp: str,
    created_at: datetime,
    last_seen: datetime,
) -> None:
    row = session.get(PortalSession, key)
    if row is None:
        session.add(
            PortalSession(
                key=key,
                account_id=account_id,
                stamp=stamp,
                created_at=created_at,
                last_seen=last_seen,
            )
        )
    else:
        row.account_id, row.stamp, row.last_seen = account_id, stamp, last_seen


def delete_session(session: Session, key: str) -> None:
    session.execute(delete(PortalSession).where(PortalSession.key == key))


def purge_sessions(session: Session, idle_before: datetime) -> None:
    session.execute(delete(PortalSession).where(PortalSession.last_seen < idle_before))
