"""Microphones over the websocket: pages report their state; a trainer's unmute reaches a
room device as an order and a trainee as a question."""

from __future__ import annotations

from tests.conftest import Mint
from tests.web.test_ws import Client, connect, receive


async def test_a_trainer_unmutes_a_room_device_and_asks_a_trainee(
    client: Client, mint: Mint
) -> None:
    trainer = await connect(client, mint("trainer", "Tea", sub="t"))
    await receive(trainer, "welcome")
    room = await connect(client, mint("room", "Room 3", sub="k"))
    await receive(room, "welcome")
    ana = await connect(client, mint("trainee", "Ana", sub="a"))
    await receive(ana, "welcome")

    # The room device was muted by the trainer, so its page turned the microphone off.
    await trainer.send_json({"type": "mute", "target": "k", "muted": True})
    assert (await receive(room, "mute_changed"))["muted"] is True
    await room.send_json({"type": "microphone", "on": False})
    changed = await receive(trainer, "microphone_changed")
    assert (changed["id"], changed["self_muted"]) == ("k", True)
    await room.send_json({"type": "microphone", "on": True, "ref": "r"})
    assert (await receive(room, "error"))["code"] == "forbidden"  # locked by the trainer

    # Unmuting it: the lock goes and the device is told to turn on; its report follows.
    await trainer.send_json({"type": "mute", "target": "k", "muted": False})
    assert (await receive(trainer, "mute_changed"))["muted"] is False
    request = await receive(room, "unmute_requested")
    assert (request["direct"], request["by"]) == (True, "t")
    await room.send_json({"type": "microphone", "on": True})
    changed = await receive(trainer, "microphone_changed")
    assert (changed["id"], changed["self_muted"]) == ("k", False)

    # A trainee with the microphone off is asked, and may decline.
    await ana.send_json({"type": "microphone", "on": False})
    await receive(trainer, "microphone_changed")
    await trainer.send_json({"type": "mute", "target": "a", "muted": False})
    assert (await receive(ana, "unmute_requested"))["direct"] is False
    await ana.send_json({"type": "decline_unmute"})
    assert (await receive(trainer, "unmute_declined"))["id"] == "a"
    welcome_later = await connect(client, mint("observer", "Olga", sub="o"))
    people = {p["id"]: p for p in (await receive(welcome_later, "welcome"))["room"]["participants"]}
    assert (people["a"]["self_muted"], people["k"]["self_muted"]) == (True, False)
