"""The deployment's secret and the keys derived from it, one per purpose.

Sessions, CSRF and signed links each get their own key, derived from the one secret, so a
token made for one purpose can never be replayed as another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from core.db import private_directory
from settings import Settings


def master_key(settings: Settings) -> bytes:
    """``SLIPGUARD_SECRET_KEY``, else a random one kept in the data directory (0600), so a
    restart does not log everyone out or break the links already sent."""
    configured = settings.server.secret_key.get()
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = settings.data_dir / "secret_key"
    if not path.exists():
        private_directory(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return hashlib.sha256(path.read_text().strip().encode()).digest()


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose (e.g. ``unsubscribe``), derived from the master key."""
    return hmac.new(master_key(settings), f"slipguard:{purpose}".encode(), hashlib.sha256).digest()


def derived_keys(settings: Settings, purpose: str) -> list[bytes]:
    """The keys that verify tokens of one purpose, oldest first: the key derived from
    ``SLIPGUARD_SECRET_KEY_PREVIOUS`` (while a rotation's grace lasts) and the current one,
    which signs."""
    keys = [derived_key(settings, purpose)]
    previous = settings.server.previous_secret_key.get()
    if previous:
        old_master = hashlib.sha256(previous.encode()).digest()
        keys.insert(
            0, hmac.new(old_master, f"slipguard:{purpose}".encode(), hashlib.sha256).digest()
        )
    return keys
