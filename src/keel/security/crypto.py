"""Encryption at rest for sensitive fields, with key rotation (`cryptography`'s Fernet:
AES-128-CBC + HMAC-SHA256, authenticated).

Keys come from `KEEL_ENCRYPTION_KEYS` (comma-separated, newest first) or are passed in.
Rotation: put a new key first, call `rotate` on the stored tokens (a store's own
`rotate()` does this for every row), then drop the old key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from keel.exceptions import ConfigurationError, MissingExtraError

try:
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("encryption at rest", "security") from exc

__all__ = ["ENV_KEYS", "DecryptionError", "Encryptor", "generate_key"]

ENV_KEYS = "KEEL_ENCRYPTION_KEYS"


class DecryptionError(ConfigurationError):
    """A stored value could not be decrypted with any configured key."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


class Encryptor:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigurationError(f"no encryption keys: set {ENV_KEYS} (keel keys --help)")
        try:
            self._fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"an encryption key is not a valid Fernet key (32 url-safe base64 bytes): {exc}"
            ) from None
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_env(cls) -> Encryptor:
        raw = os.environ.get(ENV_KEYS, "")
        return cls([k.strip() for k in raw.split(",") if k.strip()])

    def encrypt(self, plain: str) -> str:
        return self._multi.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError(
                "a stored value does not decrypt with any configured key; was a key "
                f"dropped from {ENV_KEYS} before its rows were rotated?"
            ) from None

    def rotate(self, token: str) -> str:
        """The token re-encrypted under the newest key."""
        try:
            return self._multi.rotate(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError("cannot rotate: no configured key decrypts this value") from None
