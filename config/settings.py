"""Typed settings read from environment, then a settings file, then the defaults file."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).with_name("default.toml")
CATALOGUE_FILE = Path(__file__).with_name("modules.toml")
ENV_PREFIX = "CLASSROOM_"


class SettingsError(ValueError):
    """A settings file or variable is missing, unknown or of the wrong type."""


class Secret:
    """A string that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the service; see config/default.toml for what each means."""

    host: str
    port: int
    base_url: str
    data_dir: Path
    node_id: str
    redis_url: str
    token_algorithm: str
    token_secret: Secret
    token_public_key_file: str
    token_private_key_file: str
    token_audience: str
    token_issuer: str
    token_ttl: str
    token_leeway_s: int
    allowed_origins: tuple[str, ...]
    ws_max_message_bytes: int
    ws_rate_per_s: float
    ws_rate_burst: int
    log_level: str
    log_format: str
    catalogue_file: str
    max_videos_per_viewer: int
    ice_servers: tuple[str, ...]
    turn_username: str
    turn_password: Secret
    public_ip: str
    interpretation_channels: tuple[str, ...]
    recording_workers: int
    room_max_participants: int
    lobby_max_knocks: int
    companions_per_device: int
    pairing_failures_per_minute: int
    trusted_proxies: tuple[str, ...]
    recording_empty_stop_s: int
    max_upload_mb: int
    quiz_template_answers: str

    @property
    def public_url(self) -> str:
        """The URL users reach the service at, without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    @property
    def catalogue_path(self) -> Path:
        return Path(self.catalogue_file) if self.catalogue_file else CATALOGUE_FILE

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (values are converted like a file's)."""
        merged = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in merged:
                raise SettingsError(f"unknown setting {key!r}")
            merged[key] = value
        return _build(merged, "replace()")


_ALGORITHMS = ("HS256", "RS256", "EdDSA")
_FILE_SETTINGS = ("token_public_key_file", "token_private_key_file", "catalogue_file")


def _absolute(path: Path) -> Path:
    """``path`` from the current working directory, with ``~`` expanded; not resolved, so
    that a data directory reached through a symbolic link keeps its name."""
    return Path(os.path.abspath(path.expanduser()))


_LOG_FORMATS = ("json", "text")
_TEMPLATE_ANSWERS = ("author", "trainers")


def _convert(name: str, kind: Any, value: Any, where: str) -> Any:
    def wrong() -> SettingsError:
        return SettingsError(f"{where}: setting {name!r} has the wrong type: {value!r}")

    if kind in ("int", int):
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise wrong() from None
        if isinstance(value, int):
            return value
        raise wrong()
    if kind in ("float", float):
        if isinstance(value, bool):
            raise wrong()
        try:
            return float(value)
        except (TypeError, ValueError):
            raise wrong() from None
    if kind == "Path":
        if isinstance(value, str | Path):
            return Path(value)
        raise wrong()
    if kind == "Secret":
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise wrong()
    if kind == "tuple[str, ...]":
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise wrong()
    if kind in ("str", str):
        if isinstance(value, str):
            return value
        raise wrong()
    raise SettingsError(f"setting {name!r} has an unsupported type {kind!r}")


def _build(raw: Mapping[str, Any], where: str) -> Settings:
    values = {}
    for field in dataclasses.fields(Settings):
        if field.name not in raw:
            raise SettingsError(f"{where}: setting {field.name!r} is missing")
        values[field.name] = _convert(field.name, field.type, raw[field.name], where)
    if not values["node_id"]:
        values["node_id"] = socket.gethostname()
    # Relative paths are taken from the working directory once, here: nothing downstream
    # (ffmpeg run in a recording's folder, a worker process) depends on where it runs.
    values["data_dir"] = _absolute(values["data_dir"])
    for name in _FILE_SETTINGS:
        if values[name]:
            values[name] = str(_absolute(Path(values[name])))
    if values["token_algorithm"] not in _ALGORITHMS:
        raise SettingsError(f"token_algorithm must be one of {', '.join(_ALGORITHMS)}")
    if values["log_format"] not in _LOG_FORMATS:
        raise SettingsError(f"log_format must be one of {', '.join(_LOG_FORMATS)}")
    if not 0 < values["port"] < 65536:
        raise SettingsError(f"port must be between 1 and 65535, not {values['port']}")
    if values["ws_max_message_bytes"] < 1024:
        raise SettingsError("ws_max_message_bytes must be at least 1024")
    for name in (
        "room_max_participants",
        "lobby_max_knocks",
        "companions_per_device",
        "pairing_failures_per_minute",
        "recording_empty_stop_s",
        "max_upload_mb",
    ):
        if values[name] < 1:
            raise SettingsError(f"{name} must be at least 1, not {values[name]}")
    if values["quiz_template_answers"] not in _TEMPLATE_ANSWERS:
        raise SettingsError(f"quiz_template_answers must be one of {', '.join(_TEMPLATE_ANSWERS)}")
    try:
        for proxy in values["trusted_proxies"]:
            ipaddress.ip_network(proxy, strict=False)
    except ValueError as error:
        raise SettingsError(f"trusted_proxies: {error}") from None
    return Settings(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: {error}") from None


def setting_names() -> list[str]:
    return [field.name for field in dataclasses.fields(Settings)]


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then config_file, then CLASSROOM_<KEY> variables, then overrides."""
    raw = _read_toml(DEFAULT_FILE)
    known = set(setting_names())
    if config_file:
        extra = _read_toml(Path(config_file))
        unknown = sorted(set(extra) - known)
        if unknown:
            raise SettingsError(f"{config_file}: unknown settings: {', '.join(unknown)}")
        raw.update(extra)
    environ = os.environ if environ is None else environ
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in known:
                raw[name] = value
    raw.update(overrides)
    return _build(raw, str(config_file or DEFAULT_FILE))
