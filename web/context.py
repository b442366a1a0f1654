"""Typed keys of what the app factory puts in the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from classroom.catalogue import Catalogue
from classroom.ports import Bus, Store
from config import Settings
from live.hub import Hub
from live.keys import TokenKeys
from live.revocation import Revocations

SETTINGS = web.AppKey("settings", Settings)
KEYS = web.AppKey("token_keys", TokenKeys)
HUB = web.AppKey("hub", Hub)
REVOCATIONS = web.AppKey("revocations", Revocations)
CATALOGUE = web.AppKey("catalogue", Catalogue)
STORE: web.AppKey[Store] = web.AppKey("store")
BUS: web.AppKey[Bus] = web.AppKey("bus")
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")
