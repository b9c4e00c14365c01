"""Signed, expiring links (update payment method, hosted invoice, portal): HMAC-SHA256 with an
installation secret kept in the database, so every server of one installation agrees."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from cadency.kit import clock
from cadency.kit.db import Base


class InstallationSecret(Base):
    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class BadSignature(Exception):
    """The token was altered, made for another purpose, or has expired."""


def _secret(session: Session, name: str = "links") -> bytes:
    # A secret never changes once made: read it once per session (the email dispatcher signs a
    # link in most of the emails of a batch).
    cached: bytes | None = session.info.get(f"signing_secret:{name}")
    if cached is not None:
        return cached
    secret = _load_secret(session, name)
    session.info[f"signing_secret:{name}"] = secret
    return secret


def _load_secret(session: Session, name: str) -> bytes:
    value = session.scalar(select(InstallationSecret.value).where(InstallationSecret.name == name))
    if value is None:
        value = secrets.token_hex(32)
        # Two first requests may race; the primary key keeps one, and the loser reads it back.
        try:
            with session.begin_nested():
                session.add(InstallationSecret(name=name, value=value))
        except IntegrityError:
            value = session.scalar(
                select(InstallationSecret.value).where(InstallationSecret.name == name)
            )
            assert value is not None
    return value.encode()


def ensure_secret(session_factory: Any) -> None:
    """Make the installation's link secret at start-up, so signing a link inside a read-only
    request never has to write (and commit) it."""
    with session_factory() as session:
        _secret(session)
        session.commit()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(session: Session, purpose: str, payload: dict[str, Any], expires_at: datetime) -> str:
    """A URL-safe token carrying `payload` for `purpose` until `expires_at`."""
    body = _b64(
        json.dumps(
            {"p": purpose, "d": payload, "e": int(expires_at.timestamp())},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
    )
    mac = hmac.new(_secret(session), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def derived_key(session: Session, purpose: str, value: str) -> bytes:
    """32 bytes only this installation can make for `value` (an HMAC with the link secret),
    the same each time: a key that is made again when needed instead of being stored."""
    return hmac.new(_secret(session), f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def keyed_token(session: Session, purpose: str, value: str) -> str:
    """A URL-safe token only this installation can make for `value`: unguessable, and the same
    each time, so an email that is rendered again after a failed send carries the same link
    and no copy of it has to be stored."""
    return _b64(derived_key(session, purpose, value))


def unsign(
    session: Session, purpose: str, token: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The payload of a token made by `sign` for `purpose`; BadSignature otherwise."""
    body, _, mac = token.partition(".")
    try:
        given = _unb64(mac)
        expected = hmac.new(_secret(session), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise BadSignature("signature does not match")
        data = json.loads(_unb64(body))
    except (ValueError, TypeError) as exc:
        raise BadSignature("malformed token") from exc
    if data.get("p") != purpose:
        raise BadSignature("token made for another purpose")
    if int(data.get("e", 0)) < int((now or clock.real_now()).timestamp()):
        raise BadSignature("token has expired")
    payload = data.get("d")
    if not isinstance(payload, dict):
        raise BadSignature("malformed token")
    return payload
