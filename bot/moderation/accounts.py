"""Who moderates: phone numbers (MODERATOR_NUMBERS and the ``moderators`` table) and web logins."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.messaging.addresses import AddressError, parse_address
from bot.moderation.models import ModeratorAccount, ModeratorSession

WEB_SESSION_LIFETIME = timedelta(hours=8)  # absolute: no login outlives it, however busy


def moderator_numbers(session: Session, settings) -> list[str]:
    stored = session.scalars(
        select(ModeratorAccount.number).where(
            ModeratorAccount.kind == "phone", ModeratorAccount.active.is_(True)
        )
    ).all()
    return sorted(set(settings.moderator_numbers) | {n for n in stored if n})


def is_moderator(session: Session, settings, number: str) -> bool:
    if number in settings.moderator_numbers:
        return True
    return (
        session.scalar(
            select(ModeratorAccount.id).where(
                ModeratorAccount.kind == "phone",
                ModeratorAccount.number == number,
                ModeratorAccount.active.is_(True),
            )
        )
        is not None
    )


def moderators_among(session: Session, settings, numbers: set[str]) -> set[str]:
    """Which of ``numbers`` moderate: :func:`is_moderator` for a batch, in one query."""
    found = {n for n in numbers if n in settings.moderator_numbers}
    rest = numbers - found
    if rest:
        found |= set(
            session.scalars(
                select(ModeratorAccount.number).where(
                    ModeratorAccount.kind == "phone",
                    ModeratorAccount.number.in_(rest),
                    ModeratorAccount.active.is_(True),
                )
            )
        )
    return found


def add_web_moderator(session: Session, username: str, password: str) -> ModeratorAccount:
    moderator = session.scalar(
        select(ModeratorAccount).where(ModeratorAccount.username == username)
    )
    if moderator is None:
        moderator = ModeratorAccount(kind="web", username=username)
        session.add(moderator)
    moderator.password_hash = generate_password_hash(password)
    moderator.active = True
    session.flush()
    return moderator


def check_web_login(session: Session, username: str, password: str) -> ModeratorAccount | None:
    # No account name holds a control character (PostgreSQL text cannot even hold NUL):
    # such a name is simply unknown, and costs the same one hash check below.
    if not username.isprintable():
        username = ""
    moderator = (
        None
        if not username
        else session.scalar(
            select(ModeratorAccount).where(
                ModeratorAccount.kind == "web",
                ModeratorAccount.username == username,
                ModeratorAccount.active.is_(True),
            )
        )
    )
    # One hash check whoever asks, so response time does not reveal who exists: an unknown
    # name is checked against a stand-in hash made once, with the same method and cost.
    stored = (moderator.password_hash if moderator else None) or _stand_in_hash()
    if check_password_hash(stored, password) and moderator is not None:
        return moderator
    return None


@functools.cache
def _stand_in_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def add_phone_moderator(session: Session, who: str) -> str:
    """Add (or re-activate) a moderator number; ``who`` in any form ``parse_address`` reads.

    Raises AddressError. Adding and removing share this one normaliser, so whatever form was
    used to add a number (``whatsapp:+1…``, ``+1…``) also removes it.
    """
    _, number = parse_address(who)
    moderator = session.scalar(select(ModeratorAccount).where(ModeratorAccount.number == number))
    if moderator is None:
        session.add(ModeratorAccount(kind="phone", number=number))
    else:
        moderator.active = True
    return number


def remove_moderator(session: Session, who: str) -> ModeratorAccount | None:
    """Deactivate a moderator by number (any form) or web name; None when there is none.

    A web moderator's sessions end with it: the login loader refuses inactive accounts.
    """
    try:
        _, key = parse_address(who)
    except AddressError:
        key = who
    moderator = session.scalar(
        select(ModeratorAccount).where(
            ModeratorAccount.active.is_(True),
            (ModeratorAccount.number == key) | (ModeratorAccount.username == who),
        )
    )
    if moderator is not None:
        moderator.active = False
    return moderator


def active_accounts(session: Session) -> list[ModeratorAccount]:
    return list(
        session.scalars(
            select(ModeratorAccount)
            .where(ModeratorAccount.active.is_(True))
            .order_by(ModeratorAccount.id)
        )
    )


# ------------------------------------------------------------------ web sessions


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def open_web_session(session: Session, account: ModeratorAccount, now: datetime) -> str:
    """Record a new login for ``account``; returns the token, which only the cookie keeps.

    Sessions past their lifetime are deleted here, so the table stays as small as the number
    of logins of the last eight hours without a separate sweep.
    """
    session.execute(
        delete(ModeratorSession).where(ModeratorSession.created_at <= now - WEB_SESSION_LIFETIME)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        ModeratorSession(
            token_hash=_digest(token),
            account_id=account.id,
            password_stamp=_digest(account.password_hash or ""),
            created_at=now,
        )
    )
    session.flush()
    return token


def find_web_session(session: Session, token: str, now: datetime) -> ModeratorAccount | None:
    """The active web account behind ``token``, or None: logged out, expired, removed, or
    its password changed since (the stamp no longer matches)."""
    row = session.execute(
        select(ModeratorSession.password_stamp, ModeratorAccount)
        .join(ModeratorAccount, ModeratorAccount.id == ModeratorSession.account_id)
        .where(
            ModeratorSession.token_hash == _digest(token),
            ModeratorSession.created_at > now - WEB_SESSION_LIFETIME,
            ModeratorAccount.kind == "web",
            ModeratorAccount.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    stamp, account = row
    if not hmac.compare_digest(stamp, _digest(account.password_hash or "")):
        return None
    return account


def close_web_session(session: Session, token: str) -> None:
    """Forget ``token``: every copy of the cookie that carries it stops working."""
    session.execute(delete(ModeratorSession).where(ModeratorSession.token_hash == _digest(token)))
