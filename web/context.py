"""Typed keys of what the app factory puts in the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from classroom.catalogue import Catalogue
from config import Settings
from web.hub import Hub
from web.keys import TokenKeys
from web.store import MemoryBus, MemoryStore, RedisBus, RedisStore

SETTINGS = web.AppKey("settings", Settings)
KEYS = web.AppKey("token_keys", TokenKeys)
HUB = web.AppKey("hub", Hub)
CATALOGUE = web.AppKey("catalogue", Catalogue)
STORE = web.AppKey("store", MemoryStore | RedisStore)
BUS = web.AppKey("bus", MemoryBus | RedisBus)
WEBSOCKETS = web.AppKey("websockets", set[web.WebSocketResponse])
