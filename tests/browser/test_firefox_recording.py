"""A Firefox interpreter in a recording, against ``classroom serve`` as users run it.

The trainer (Chromium) speaks a 440 Hz tone on the floor in English, Ivana interprets
into Serbian from Firefox ESR (its fake microphone plays 1 kHz), and hands over to Igor
(Chromium, 1700 Hz) halfway. The recording's Serbian audio must carry Ivana's voice,
then Igor's, each over the floor lowered; its English (the floor) carries neither.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from recordings.journal import read_journal
from tests.browser.conftest import LaunchBrowser
from tests.browser.firefox import LaunchFirefox
from tests.browser.mixed import firefox_join
from tests.browser.test_firefox import chromium_join, no_script_errors
from tests.browser.test_firefox_booth import take_over
from tests.browser.test_interpretation_audio import tone
from tests.recordings.conftest import probe, tone_levels
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
FLOOR_HZ, FIREFOX_HZ, IGOR_HZ = 440, 1000, 1700
#: Seconds of each interpreter on air in the recording, at least.
STRETCH_S = 6.0
#: Seconds kept clear of each change when measuring (clocks, the mixer's ramps).
MARGIN_S = 1.5


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess.as_users_run_it(tmp_path / "site")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def journal(directory: Path) -> list[dict[str, Any]]:
    path = directory / "journal.jsonl"
    return read_journal(path) if path.exists() else []


def written_until(directory: Path) -> float:
    """The time of the last thing the recorder journaled (media keeps it moving)."""
    return max((entry["t"] for entry in journal(directory)), default=0.0)


def on_air_at(directory: Path, who: str) -> float | None:
    """When ``who`` went on air in the recording's journal."""
    for entry in journal(directory):
        event = entry["data"] if entry["kind"] == "event" else {}
        if entry.get("type") == "on_air_changed" and event.get("id") == who:
            return float(event["at"])
    return None


async def until(check: Any, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {within} s")


def strongest(path: Path, stream: int, start: float, end: float) -> int:
    """The frequency (20 Hz steps) of the strongest tone in one audio stream."""
    levels = tone_levels(path, stream, start, end, list(range(200, 4000, 20)))
    return max(levels, key=lambda hz: levels[hz])


def db(ratio: float) -> float:
    return 20 * math.log10(ratio)


async def test_a_firefox_interpreter_and_her_chromium_partner_in_the_serbian_recording(
    served: ServerProcess, launch_browser: LaunchBrowser, launch_firefox: LaunchFirefox,
    tmp_path: Path,
) -> None:  # fmt: skip
    def url(role: str, name: str, lang: str) -> str:
        token = served.mint(role, name, sub=name.lower(), lang=lang)
        return f"{served.url}/join?token={token}"

    floor_wav = tone(tmp_path / "floor.wav", FLOOR_HZ)
    igor_wav = tone(tmp_path / "igor.wav", IGOR_HZ)
    trainer_token = served.mint("trainer", "Tea", sub="tea", lang="en")
    await chromium_join(
        await launch_browser(f"--use-file-for-fake-audio-capture={floor_wav}"),
        f"{served.url}/join?token={trainer_token}", camera=False,
    )  # fmt: skip
    ivana = await firefox_join(
        await launch_firefox(), url("interpreter", "Ivana", "sr"), camera=False
    )
    await ivana.wait_for("!!document.querySelector('#interpretation-offer')")
    igor = await chromium_join(
        await launch_browser(f"--use-file-for-fake-audio-capture={igor_wav}"),
        url("interpreter", "Igor", "sr"), camera=False, microphone=False,
    )  # fmt: skip

    api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {trainer_token}"})
    try:
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "start"}
        ) as made:
            assert made.status == 201, await made.text()
            recording = (await made.json())["id"]
        directory = served.data / "recordings" / recording
        started = await until(lambda: journal(directory) and journal(directory)[0]["t"], "start")
        await until(lambda: written_until(directory) > started + STRETCH_S, "Ivana recorded")
        await take_over(ivana, igor)  # Firefox to Chromium
        handed = await until(lambda: on_air_at(directory, "igor"), "the handover journaled")
        await until(lambda: written_until(directory) > handed + STRETCH_S, "Igor recorded")
        async with api.post(
            f"{served.url}/api/rooms/demo/recording", json={"action": "stop"}
        ) as done:
            assert done.status == 200, await done.text()
        ended = journal(directory)[-1]["t"]

        body: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with api.get(f"{served.url}/api/recordings/{recording}") as response:
                body = await response.json()
            if body["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.5)
        assert body["status"] == "ready", json.dumps(body)[:2000]
        mp4 = served.workdir / "download.mp4"
        async with api.get(f"{served.url}{body['download']}") as response:
            assert response.status == 200
            mp4.write_bytes(await response.read())
    finally:
        await api.close()

    # One audio track per language: the floor in English, the Serbian channel.
    audio = [s for s in probe(mp4)["streams"] if s["codec_type"] == "audio"]
    assert [s["tags"].get("language") for s in audio] == ["eng", "srp"]
    before = (MARGIN_S, handed - started - MARGIN_S)
    after = (handed - started + MARGIN_S, ended - started - MARGIN_S)
    tones = [FLOOR_HZ, FIREFOX_HZ, IGOR_HZ]
    floor = [tone_levels(mp4, 0, start, end, tones) for start, end in (before, after)]
    serbian = [tone_levels(mp4, 1, start, end, tones) for start, end in (before, after)]
    heard = [strongest(mp4, 1, start, end) for start, end in (before, after)]
    print(f"floor {floor}; Serbian {serbian}; strongest in Serbian {heard}")

    # The floor: the trainer alone, in both stretches.
    assert [strongest(mp4, 0, start, end) for start, end in (before, after)] == [FLOOR_HZ] * 2
    # Serbian: Ivana (Firefox), then Igor, each far over the other, the floor lowered.
    assert heard == [FIREFOX_HZ, IGOR_HZ]
    assert db(serbian[0][FIREFOX_HZ] / serbian[0][IGOR_HZ]) > 40
    assert db(serbian[1][IGOR_HZ] / serbian[1][FIREFOX_HZ]) > 40
    for stretch in (0, 1):
        lowered = db(serbian[stretch][FLOOR_HZ] / floor[stretch][FLOOR_HZ])
        assert -20 < lowered < -8, lowered
    no_script_errors(ivana)
