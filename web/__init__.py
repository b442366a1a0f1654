"""The aiohttp application: pages, JSON API, websocket, and the composition root."""

__version__ = "0.1.0"
