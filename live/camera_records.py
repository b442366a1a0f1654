"""An IP camera as it is kept: its room, name, RTSP URL and credentials.

The credentials stay on the server: what anyone is shown (``public_view``) has the URL
without them and no password. Credentials written in the URL
(``rtsp://user:pass@host/...``) are taken out of it and kept beside it.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from classroom.errors import ClassroomError
from media.rtsp import with_credentials

SCHEMES = ("rtsp", "rtsps")


class BadCameraUrl(ClassroomError):
    """The camera's URL is not one the server can pull (HTTP 400)."""

    code = "bad_url"


@dataclasses.dataclass(frozen=True)
class Camera:
    id: str
    room: str
    name: str
    url: str  # without credentials
    username: str | None = None
    password: str | None = None

    @property
    def participant(self) -> str:
        """The camera's participant id in its room."""
        return f"camera-{self.id}"

    @property
    def source_url(self) -> str:
        """What the server opens: the URL with the credentials in it."""
        return with_credentials(self.url, self.username, self.password)

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Camera:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in fields})


def new_camera(
    room: str, name: str, url: str, username: str | None, password: str | None
) -> Camera:
    """A camera to add, its URL checked (BadCameraUrl says what is wrong)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BadCameraUrl(f"the camera's URL is malformed: {error}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise BadCameraUrl("the camera's URL must start with rtsp:// or rtsps://")
    if not parts.hostname:
        raise BadCameraUrl("the camera's URL names no host")
    if parts.username is not None and not username:
        username = unquote(parts.username)
        password = password or unquote(parts.password or "")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    clean = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))
    return Camera("", room, name.strip(), clean, username or None, password or None)


def public_view(camera: Camera) -> dict[str, Any]:
    """What trainers are shown: no password, a URL without credentials."""
    return {
        "id": camera.id,
        "name": camera.name,
        "url": camera.url,
        "username": camera.username,
        "has_password": bool(camera.password),
    }
