"""A camera's URL as it is added: RTSP only, credentials taken out and kept beside it."""

from __future__ import annotations

import pytest

from live.cameras import BadCameraUrl, new_camera, public_view
from media.rtsp import with_credentials


@pytest.mark.parametrize(
    ("url", "username", "password", "kept", "user", "secret"),
    [
        ("rtsp://10.0.0.5/stream1", None, None, "rtsp://10.0.0.5/stream1", None, None),
        ("RTSPS://cam.example:322/a?b=1", "op", "pw", "rtsps://cam.example:322/a?b=1", "op", "pw"),
        ("rtsp://op:p%40ss@10.0.0.5:554/s", None, None, "rtsp://10.0.0.5:554/s", "op", "p@ss"),
        ("rtsp://op:inline@10.0.0.5/s", "given", "pw", "rtsp://10.0.0.5/s", "given", "pw"),
        ("  rtsp://[fe80::1]:8554/live#x ", None, None, "rtsp://[fe80::1]:8554/live", None, None),
    ],
)
def test_urls_are_kept_without_credentials(
    url: str,
    username: str | None,
    password: str | None,
    kept: str,
    user: str | None,
    secret: str | None,
) -> None:
    camera = new_camera("demo", " Door ", url, username, password)
    assert (camera.url, camera.username, camera.password, camera.name) == (
        kept,
        user,
        secret,
        "Door",
    )
    shown = public_view(camera)
    assert secret is None or secret not in str(shown)
    assert shown["has_password"] is (secret is not None)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.5/stream", "rtsp:// or rtsps://"),
        ("file:///etc/passwd", "rtsp:// or rtsps://"),
        ("10.0.0.5:554/stream", "rtsp:// or rtsps://"),
        ("rtsp:///stream", "names no host"),
        ("rtsp://10.0.0.5:99999/stream", "malformed"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, words: str) -> None:
    with pytest.raises(BadCameraUrl, match=words):
        new_camera("demo", "Door", url, None, None)


def test_the_server_opens_the_url_with_the_credentials_quoted() -> None:
    assert with_credentials("rtsp://h:554/s", "op", "a:b@c") == "rtsp://op:a%3Ab%40c@h:554/s"
    assert with_credentials("rtsp://h/s", None, "ignored") == "rtsp://h/s"
    assert with_credentials("rtsp://h/s", "op", None) == "rtsp://op:@h/s"
