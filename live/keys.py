"""Join-token keys from settings: the shared secret (generated once) or a key pair."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import Any

from classroom.identity import TokenPolicy
from config import Settings, SettingsError


@dataclasses.dataclass(frozen=True)
class TokenKeys:
    policy: TokenPolicy
    signing_key: Any | None  # None when this service only verifies (no private key)


def _secret_file(data_dir: Path) -> Path:
    return data_dir / "token_secret"


def load_or_create_secret(data_dir: Path) -> str:
    """The HS256 secret kept in the data directory, created (mode 0600) on first start."""
    path = _secret_file(data_dir)
    if path.exists():
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret


def _read_pem(name: str, value: str) -> bytes:
    try:
        return Path(value).read_bytes()
    except OSError as error:
        raise SettingsError(f"{name}: cannot read {value}: {error.strerror}") from None


def load_token_keys(settings: Settings) -> TokenKeys:
    algorithm = settings.token_algorithm
    signing: Any
    verify: Any
    if algorithm == "HS256":
        secret = settings.token_secret.reveal() or load_or_create_secret(settings.data_dir)
        if len(secret) < 32:
            raise SettingsError("token_secret must be at least 32 characters")
        verify = signing = secret
    else:
        if not settings.token_public_key_file:
            raise SettingsError(f"token_algorithm {algorithm} needs token_public_key_file")
        verify = _read_pem("token_public_key_file", settings.token_public_key_file)
        signing = (
            _read_pem("token_private_key_file", settings.token_private_key_file)
            if settings.token_private_key_file
            else None
        )
    policy = TokenPolicy(
        algorithm=algorithm,
        verify_key=verify,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        leeway_s=settings.token_leeway_s,
    )
    return TokenKeys(policy=policy, signing_key=signing)
