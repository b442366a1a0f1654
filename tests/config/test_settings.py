"""Settings: defaults, file, environment, secrets that never print, docs of every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import Secret, SettingsError, load_settings
from config.settings import DEFAULT_FILE, setting_names


def test_defaults_are_embedded_and_runnable() -> None:
    settings = load_settings(environ={})
    assert (settings.host, settings.port, settings.redis_url) == ("127.0.0.1", 8080, "")
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.ws_max_message_bytes == 65536
    assert settings.node_id  # the host name when unset


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        'port = 9000\nbase_url = "https://classroom.example/"\nallowed_origins = ["https://a"]\n'
    )
    env = {
        "CLASSROOM_PORT": "9100",
        "CLASSROOM_ICE_SERVERS": "stun:a:3478, turn:b:3478",
        "OTHER": "1",
    }
    settings = load_settings(config, environ=env)
    assert settings.port == 9100
    assert settings.public_url == "https://classroom.example"
    assert settings.allowed_origins == ("https://a",)
    assert settings.ice_servers == ("stun:a:3478", "turn:b:3478")
    assert load_settings(config, environ=env, port=9200).port == 9200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown settings: prot"),
        ('port = "x"\n', "wrong type"),
        ("port = 0\n", "port must be"),
        ('token_algorithm = "none"\n', "token_algorithm must be"),
        ("port = \n", "settings.toml"),
    ],
)
def test_bad_settings_file_is_refused_with_a_message(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ={})


def test_missing_file_is_named() -> None:
    with pytest.raises(SettingsError, match=r"not found: /nowhere\.toml"):
        load_settings("/nowhere.toml", environ={})


def test_secrets_never_show() -> None:
    settings = load_settings(environ={"CLASSROOM_TOKEN_SECRET": "hunter2-" * 5})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.token_secret)
    assert settings.token_secret.reveal() == "hunter2-" * 5
    assert Secret("a") == Secret("a") and not Secret("")


def test_every_setting_is_in_the_defaults_file_with_a_comment() -> None:
    lines = DEFAULT_FILE.read_text().splitlines()
    for name in setting_names():
        index = next((i for i, line in enumerate(lines) if re.match(rf"{name}\s*=", line)), None)
        assert index is not None, f"{name} is missing from config/default.toml"
        above = lines[index - 1]
        assert above.startswith("#") or re.match(r"\w+\s*=", above), f"{name} has no comment"


def test_relative_paths_are_made_absolute_where_settings_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={}, catalogue_file="site/modules.toml")
    # The default data_dir is "./data": it means the directory the server started in.
    assert settings.data_dir == tmp_path / "data"
    assert settings.data_dir.is_absolute()
    assert settings.catalogue_file == str(tmp_path / "site" / "modules.toml")
    assert load_settings(environ={}, token_public_key_file="").token_public_key_file == ""
    # Moving elsewhere afterwards changes nothing: the paths were fixed at load time.
    monkeypatch.chdir("/")
    assert settings.replace(port=9000).data_dir == tmp_path / "data"
    assert load_settings(environ={"CLASSROOM_DATA_DIR": "~/x"}).data_dir == Path.home() / "x"
