"""Secrets kept in the database (a payment processor's secret key and webhook secret) are
encrypted with a key that is not in the database, so a copy of the database (a backup, a dump
handed to support) does not reveal them.

Fernet from `cryptography` (AES-128-CBC with an HMAC-SHA256, a random IV per value) does the
work; nothing here is home-made cryptography. The key comes from the operator:
`CADENCY_ENCRYPTION_KEY` (one or more Fernet keys, comma-separated: the first encrypts, each
decrypts, so a key can be rotated), else a key file (`CADENCY_ENCRYPTION_KEY_FILE`, by default
`encryption.key` next to the SQLite database, or in the data folder), made with mode 0600 the
first time it is needed. Several servers sharing one PostgreSQL must share the key: set
`CADENCY_ENCRYPTION_KEY` on each.

The key belongs to a database: `register(engine, settings)` ties the settings' key to the
engine an app or worker uses, and `box_for(session)` finds it from a session (an engine nobody
registered, a script's, uses the environment's settings).
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cadency.config import Settings, load_settings
from cadency.kit.db import is_sqlite

KEY_FILE_NAME = "encryption.key"


class DecryptionFailed(RuntimeError):
    """A stored secret cannot be read with the configured key (the key changed or was lost)."""


class SecretBox:
    """Encrypts and decrypts short secrets with the installation's key(s)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise DecryptionFailed(
                "A stored secret cannot be decrypted with the configured encryption key "
                "(CADENCY_ENCRYPTION_KEY or the key file): was the key changed or lost?"
            ) from None

    def __repr__(self) -> str:  # never the key
        return "SecretBox(…)"


def key_file_path(settings: Settings) -> Path:
    """Where the key file is: as configured, else next to the SQLite database, else in the
    data folder (the parent of the files folder)."""
    if settings.encryption_key_file:
        return Path(settings.encryption_key_file)
    url = settings.database_url
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and "///" in url:
            return Path(path).resolve().parent / KEY_FILE_NAME
    return Path(settings.files_dir).resolve().parent / KEY_FILE_NAME


def _read_or_create_key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            # Exclusive create: two processes starting at once keep one key, the first's.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(key + b"\n")
            return key
    return path.read_bytes().strip()


def box_from_settings(settings: Settings) -> SecretBox:
    """The key(s) the settings name (see the module docstring)."""
    if settings.encryption_key:
        keys = [part.strip().encode() for part in settings.encryption_key.split(",")]
        return SecretBox([key for key in keys if key])
    return SecretBox([_read_or_create_key_file(key_file_path(settings))])


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, SecretBox] = weakref.WeakKeyDictionary()


def register(engine: Engine, settings: Settings) -> SecretBox:
    """Tie the settings' key to the engine of their database (the app factory and the worker
    call this once)."""
    box = box_from_settings(settings)
    _BY_ENGINE[engine] = box
    return box


def box_for(session: Session) -> SecretBox:
    """The key of the database the session works on."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    box = _BY_ENGINE.get(engine)
    if box is None:
        settings = load_settings()
        url = engine.url.render_as_string(hide_password=False)
        box = register(engine, dataclasses.replace(settings, database_url=url))
    return box
