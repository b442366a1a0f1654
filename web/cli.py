"""The ``classroom`` console script: serve, mint join tokens, and load-test a server."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from aiohttp import web

from classroom.errors import TokenError
from classroom.identity import mint_token, parse_duration
from config import SettingsError, load_settings
from live.keys import load_token_keys
from loadtest import command as loadtest
from media.ice import warn_small_buffers
from media.seams import SeamMissing
from web import backup
from web.logs import AccessLogger, setup_logging
from web.worker import register as register_worker


def _serve(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = load_settings(args.config, **overrides)
    setup_logging(settings.log_level, settings.log_format)
    from web.app import create_app

    app = create_app(settings)
    warn_small_buffers()
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log_class=AccessLogger,
        print=lambda text: print(text, file=sys.stderr),
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    keys = load_token_keys(settings)
    if keys.signing_key is None:
        raise SettingsError(
            f"{settings.token_algorithm} tokens need token_private_key_file to be minted here"
        )
    try:
        ttl = parse_duration(args.ttl or settings.token_ttl)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    token = mint_token(
        room=args.room,
        role=args.role,
        name=args.name,
        lang=args.lang,
        now=int(time.time()),
        ttl_s=ttl,
        signing_key=keys.signing_key,
        algorithm=settings.token_algorithm,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
    )
    base = (args.base_url or settings.public_url).rstrip("/")
    print(f"{args.role} {args.name} in room {args.room}, valid for {ttl} s:", file=sys.stderr)
    print(f"{base}/join?token={token}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="classroom", description="A self-hosted virtual classroom.")
    top.add_argument("--config", help="settings file (TOML) instead of the defaults")
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="print a join URL with a signed token")
    token.add_argument("--room", required=True)
    token.add_argument(
        "--role", required=True, choices=["trainer", "trainee", "interpreter", "room", "observer"]
    )
    token.add_argument("--name", required=True)
    token.add_argument("--lang", help="language code: an interpreter's channel or preference")
    token.add_argument("--ttl", help="lifetime such as 45m, 2h, 7d (default: token_ttl)")
    token.add_argument("--base-url", help="public URL of the service (default: base_url)")
    token.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    token.set_defaults(run=_token)

    loadtest.register(commands)
    register_worker(commands)
    backup.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.config = args.config_sub or args.config
    try:
        result: int = args.run(args)
        return result
    except (SettingsError, TokenError, SeamMissing) as error:
        print(f"classroom: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
