"""A recording whose processing failed, in a real Chromium against ``classroom serve`` run as
``make run`` runs it: a trainee reads a plain sentence in their language; the trainer of
the room reads why, presses "Prepare again", watches the progress, and it becomes
watchable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from recordings.library import Library
from tests.browser.conftest import OpenPage
from tests.recordings.synthetic import generate_session
from tests.server import ServerProcess

# Real ffmpeg (and browsers) on a busy 2-core machine: a bound on hanging, not on speed.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REASON = "ffmpeg failed in step encode: data/recordings/x/work/audio0.mp4.part: No such file"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    served = ServerProcess.as_users_run_it(tmp_path / "classroom")
    await served.start()
    yield served
    await served.stop()


async def test_trainees_read_a_plain_sentence_and_the_trainer_retries(
    server: ServerProcess, open_page: OpenPage, tmp_path: Path
) -> None:
    # What three failed attempts leave: the raw recording kept, the reason recorded.
    library = Library(server.workdir / "data" / "recordings")
    made = generate_session(
        library, tmp_path / "clips", duration_s=12, channels=(), title="Border management",
    )  # fmt: skip
    library.update(made.status.id, status="failed", error=REASON, attempts=3)
    room = made.status.room
    card = f".recording[data-id='{made.status.id}']"

    trainee = server.mint("trainee", "Lena", room=room, sub="lena", lang="sq")
    page = await open_page(f"{server.url}/library?token={trainee}")
    status = page.locator(f"{card} .recording-status")
    # Albanian, and nothing of the server's insides.
    await expect(status).to_have_text(
        "Ky regjistrim nuk mund të përgatitej për riprodhim. "
        "Trajneri juaj mund ta përgatisë përsëri."
    )
    await expect(page.locator(card)).not_to_contain_text("ffmpeg")
    await expect(page.locator(f"{card} button")).to_have_count(0)

    trainer = server.mint("trainer", "Tea", room=room, sub="tea", lang="en")
    page = await open_page(f"{server.url}/library?token={trainer}")
    await expect(page.locator(f"{card} .recording-status")).to_contain_text(REASON)
    retry = page.get_by_role("button", name="Prepare again: Border management")
    await retry.focus()
    await page.keyboard.press("Enter")  # usable by keyboard
    # Being prepared (with its progress), then ready: the title becomes the player's link.
    await expect(page.locator(f"{card}[data-status=ready] h4 a")).to_have_text(
        "Border management", timeout=120_000
    )
    assert library.load(made.status.id).error is None
