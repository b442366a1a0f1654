"""The private parts of aiortc, aioice and pylibsrtp that forwarding relies on are checked at
start-up: the installed ones pass, and a moved one stops the server with a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc import RTCRtpSender

from config import load_settings
from media import seams
from web.cli import main


def test_the_installed_libraries_have_every_seam() -> None:
    assert seams.problems() == []
    seams.check()


def test_a_moved_seam_or_another_release_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seams, "VERSIONS", {**seams.VERSIONS, "aiortc": "1.15.0"})
    moved = (RTCRtpSender, "_RTCRtpSender__packets_sent", "sender reports count packets")
    monkeypatch.setattr(seams, "_ATTRIBUTES", (*seams._ATTRIBUTES, moved))
    monkeypatch.delattr(RTCRtpSender, "_send_keyframe")  # renamed upstream: assignment is silent
    found = seams.problems()
    assert any("aiortc 1.16.0 is installed, forwarding needs 1.15.0" in p for p in found)
    assert any("RTCRtpSender no longer sets _RTCRtpSender__packets_sent" in p for p in found)
    assert any("RTCRtpSender._send_keyframe is missing" in p for p in found)
    with pytest.raises(seams.SeamMissing, match="make setup"):
        seams.check()


def test_the_server_refuses_to_start_with_a_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from web.app import create_app

    monkeypatch.delattr(RTCRtpSender, "_retransmit")
    with pytest.raises(seams.SeamMissing):
        create_app(load_settings(environ={}, data_dir=str(tmp_path), token_secret="s" * 40))
    monkeypatch.setenv("CLASSROOM_DATA_DIR", str(tmp_path))
    assert main(["serve", "--port", "1"]) == 2
    assert "RTCRtpSender._retransmit is missing" in capsys.readouterr().err
