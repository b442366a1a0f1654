"""``classroom loadtest``: its arguments, the signing key it mints with, and its output."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

from config import Settings, SettingsError, load_settings


def parse_bitrate(text: str) -> int:
    """Bits a second from '1M', '500k', '1.5M' or '800000'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a bitrate: {text!r} (examples: 500k, 1M, 2.5M)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return round(float(match.group(1)) * scale)


def parse_size(text: str) -> tuple[int, int]:
    """Width and height from '640x480' (even numbers, 16 to 3840)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (example: 640x480)")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 3840 and 16 <= height <= 2160) or width % 2 or height % 2:
        raise argparse.ArgumentTypeError("size: even width 16-3840 and height 16-2160")
    return width, height


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``loadtest`` subcommand to the ``classroom`` command."""
    load = commands.add_parser(
        "loadtest",
        help="simulate participants against a running server and report what they got",
        description=(
            "Simulated participants join ROOM over the real protocol: publishers send a "
            "pre-encoded clip (no encoding cost here), subscribers count what arrives "
            "(no decoding). Reports join time, received frame rate, packet loss and the "
            "server's CPU and memory (from its /metrics)."
        ),
    )
    load.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    load.add_argument("--room", required=True)
    load.add_argument("--publishers", type=int, default=0, help="participants sending media")
    load.add_argument("--subscribers", type=int, default=0, help="participants only receiving")
    load.add_argument("--duration", type=float, default=30.0, help="seconds measured (30)")
    load.add_argument("--bitrate", type=parse_bitrate, default=1_000_000, help="video (1M)")
    load.add_argument("--size", type=parse_size, default=(640, 480), help="video (640x480)")
    load.add_argument(
        "--simulcast",
        action="store_true",
        help="cameras in three layers, as browsers send them (a quarter and half size too)",
    )
    load.add_argument(
        "--late-subscribers",
        type=int,
        default=0,
        metavar="L",
        help="L more subscribers join once media flows (first frame in a busy room)",
    )
    load.add_argument(
        "--quiz-burst", type=int, default=0, metavar="K", help="K more answer one quiz at once"
    )
    load.add_argument("--json", action="store_true", help="print the report as JSON")
    load.add_argument("--secret", help="the server's HS256 token secret")
    load.add_argument("--data-dir", help="the server's data directory (its token_secret)")
    load.add_argument("--quiet", action="store_true", help="no progress on stderr")
    load.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    load.set_defaults(run=run_command)


def _signing(args: argparse.Namespace) -> tuple[object, str, str, str]:
    """(key, algorithm, audience, issuer) to mint tokens the server accepts; never creates one."""
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = load_settings(args.config, **overrides)
    if args.secret:
        if len(args.secret) < 32:
            raise SettingsError("--secret must be at least 32 characters")
        return args.secret, "HS256", settings.token_audience, settings.token_issuer
    secret_file = Path(settings.data_dir) / "token_secret"
    if (
        settings.token_algorithm == "HS256"
        and not settings.token_secret
        and not secret_file.exists()
    ):
        raise SettingsError(
            f"no token secret in {settings.data_dir}: give --secret or the server's --data-dir"
        )
    return _key(settings), settings.token_algorithm, settings.token_audience, settings.token_issuer


def _key(settings: Settings) -> object:
    """The key the server signs with, read as the server reads it (the tool is a client of
    the server and imports none of it)."""
    if settings.token_algorithm == "HS256":
        secret = settings.token_secret.reveal()
        if not secret:
            secret = (Path(settings.data_dir) / "token_secret").read_text().strip()
        if len(secret) < 32:
            raise SettingsError("token_secret must be at least 32 characters")
        return secret
    if not settings.token_private_key_file:
        raise SettingsError(
            f"{settings.token_algorithm} tokens need token_private_key_file to be minted here"
        )
    try:
        return Path(settings.token_private_key_file).read_bytes()
    except OSError as error:
        raise SettingsError(f"token_private_key_file: {error.strerror}") from None


def run_command(args: argparse.Namespace) -> int:
    from loadtest.report import Progress, render_json, render_table
    from loadtest.runner import LoadConfig, run

    key, algorithm, audience, issuer = _signing(args)
    try:
        config = LoadConfig(
            url=args.url,
            room=args.room,
            publishers=args.publishers,
            subscribers=args.subscribers,
            duration_s=args.duration,
            bitrate=args.bitrate,
            size=args.size,
            simulcast=args.simulcast,
            quiz_burst=args.quiz_burst,
            late_subscribers=args.late_subscribers,
            signing_key=key,
            algorithm=algorithm,
            audience=audience,
            issuer=issuer,
        )
    except ValueError as error:
        raise SettingsError(str(error)) from None
    progress = Progress(config.duration_s, enabled=not args.quiet)
    try:
        report = asyncio.run(run(config, progress))
    except OSError as error:
        print(f"classroom loadtest: cannot reach {args.url}: {error}", file=sys.stderr)
        return 1
    print(render_json(report) if args.json else render_table(report))
    return 1 if report.summary()["failed"] else 0
