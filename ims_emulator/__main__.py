"""``python -m ims_emulator``: run the IMS emulator until SIGTERM/SIGINT.

The first line on stdout is the base URL (``http://127.0.0.1:PORT``), so a caller can
start it with ``--port 0`` and read where it listens. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from ims_emulator import PLATFORM_PROJECT_ID
from ims_emulator.app import State, build_app
from ims_emulator.auth import Authenticator, Identity, parse_token
from ims_emulator.faults import FaultError, FaultRule, Faults
from ims_emulator.imagedata import ImageFiles
from ims_emulator.obs import DEFAULT_REGION, ObjectStore, ObsSettings, parse_credentials, parse_endpoint
from ims_emulator.settings import BOOLEAN_SETTINGS, Settings
from ims_emulator.store import Store

T = TypeVar("T")
PARENT_POLL_SECONDS = 0.5
#: The emulator's manual, installed with the package (package data).
README = Path(__file__).resolve().parent / "README.md"
#: Seconds a connection may take to send a complete request head (slow-header clients are cut off).
HEADER_TIMEOUT = 60.0


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (only this machine can connect)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_warning(host: str) -> str | None:
    """The stderr warning for binding ``host``, or ``None`` for a loopback address."""
    if loopback(host):
        return None
    return (f"ims-emulator: WARNING: listening on {host}, not a loopback address: other machines may reach this "
            "emulator, whose demo credentials are public and whose /_emulator/* controls need no credentials. "
            "Bind 127.0.0.1 unless you mean it.")


def _arg_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Turn a parser's ``ValueError`` into an argparse usage error."""

    def convert(value: str) -> T:
        try:
            return parse(value)
        except (ValueError, FaultError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see ``ims_emulator/README.md``."""
    defaults = Settings()
    p = argparse.ArgumentParser(
        prog="ims-emulator", description="Run the IMS emulator until SIGTERM/SIGINT.",
        epilog=f"The manual (identities, options, faults, test controls): `ims-emulator --readme`, or the file {README}",
    )
    p.add_argument("--readme", action="store_true", help="print the emulator's manual (its README.md) and exit")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    p.add_argument("--data", type=Path, help="directory of the SQLite database (default: a temp dir removed on exit)")
    p.add_argument(
        "--parent-pid", type=int, help="exit when this process (our parent) is gone; test helpers use it to never leak"
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT,
        help="seconds a connection has to send a request's headers, from its opening or the previous response; "
        f"also the idle keep-alive limit (default {HEADER_TIMEOUT:g})",
    )
    auth = p.add_argument_group(
        "authentication (the demo identity and token of ims_emulator/__init__.py are always accepted, "
        "unless --no-demo-identity)"
    )
    auth.add_argument(
        "--identity", action="append", default=[], type=_arg_type(Identity.parse), metavar="AK:SK:PROJECT_ID",
        help="another AK/SK pair and its project, besides the demo identity (repeatable)",
    )
    auth.add_argument("--token", action="append", default=[], type=_arg_type(parse_token), metavar="TOKEN:PROJECT_ID",
                      help="another X-Auth-Token and its project, besides the demo token (repeatable)")
    auth.add_argument(
        "--no-demo-identity", action="store_true",
        help="accept only the --identity/--token given (the demo AK/SK and token are refused)",
    )
    auth.add_argument(
        "--no-auth", action="store_true", help="accept every request (project: X-Project-Id or the demo one)"
    )
    obs = p.add_argument_group(
        "object store (OBS) for PUT /v1/cloudimages/{id}/upload: any S3-compatible server, e.g. scripts/s3/serve.sh"
    )
    obs.add_argument("--obs-endpoint", type=_arg_type(parse_endpoint), metavar="URL",
                     help="its http(s)://host:port; registered image files are read from it (path-style, SigV4)")
    obs.add_argument("--obs-credentials", type=_arg_type(parse_credentials), metavar="AK:SK",
                     help="the access key and secret key the emulator reads objects with")
    obs.add_argument("--obs-region", default=DEFAULT_REGION,
                     help=f"the region its requests are signed for (default {DEFAULT_REGION})")
    tls = p.add_argument_group("TLS")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate chain; serve https")
    tls.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    rules = p.add_argument_group(
        "unclear points of the IMS docs (defaults: strictest reading; see the table in ims_emulator/README.md)"
    )
    rules.add_argument(
        "--lenient-create",
        action="store_true",
        help="like Glance, let POST /v2/images take keys beyond the nine documented ones (custom "
        "attributes, __description), min_disk 0 and duplicate tags",
    )
    rules.add_argument(
        "--lenient-patch",
        action="store_true",
        help="like Glance, let PATCH treat __* keys and IMS's own attributes (hw_firmware_type...) as custom ones",
    )
    rules.add_argument(
        "--lenient-list",
        action="store_true",
        help="like Glance, let GET /v2/images filter on any attribute and value and sort by updated_at",
    )
    rules.add_argument("--unique-names", action="store_true", help="IMG.0009 on a duplicate name in a project")
    rules.add_argument("--allow-protected-patch", action="store_true", help="let PATCH change /protected")
    rules.add_argument(
        "--tag-api-allow-equals", action="store_true", help="let PUT/DELETE .../tags/{tag} take key=value"
    )
    rules.add_argument("--name-max-length", type=int, choices=(128, 255), default=defaults.name_max_length)
    rules.add_argument("--quota", type=int, default=defaults.quota, help="private images per project (IMG.0015)")
    rules.add_argument(
        "--member-limit",
        type=int,
        default=defaults.member_limit,
        help="members (projects an image is shared with) per image (IMG.0088; default 256)",
    )
    rules.add_argument(
        "--protected-delete-status", type=int, choices=(400, 403), default=defaults.protected_delete_status
    )
    rules.add_argument("--delete-unknown-204", action="store_true", help="DELETE of an unknown image answers 204")
    rules.add_argument(
        "--upload-delay", type=float, default=defaults.upload_delay, help="seconds an upload stays 'saving'"
    )
    rules.add_argument(
        "--upload-max-bytes",
        type=int,
        default=defaults.upload_max_bytes,
        help="largest file PUT /v2/images/{id}/file takes (IMG.0059 beyond; default 1999999999: \"smaller than 2 GB\")",
    )
    rules.add_argument(
        "--register-max-bytes",
        type=int,
        default=defaults.register_max_bytes,
        help="largest object a registration takes (IMG.0059 beyond; default 128000000000: \"at most 128 GB\")",
    )
    rules.add_argument(
        "--no-public-images",
        dest="public_images",
        action="store_false",
        help="hide the catalogue of public images (ims_emulator/catalogue.py) that every project sees by default",
    )
    rules.add_argument(
        "--keep-image-data",
        action="store_true",
        help="keep uploaded image data in DATA/images/<id> (default: hash it and throw it away)",
    )
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_arg_type(FaultRule.from_cli),
        metavar="KIND[:key=value,...]",
        help="e.g. error:status=503,rate=0.2  throttle:retry_after=2,count=3  latency:ms=500,jitter_ms=100",
    )
    faults.add_argument("--fault-seed", type=int, help="seed of the fault random generator")
    args = p.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if (args.obs_endpoint is None) != (args.obs_credentials is None):
        p.error("--obs-endpoint and --obs-credentials go together")
    if not args.header_timeout > 0:
        p.error("--header-timeout must be a positive number of seconds")
    projects = {identity.project_id for identity in args.identity} | {project for _, project in args.token}
    if PLATFORM_PROJECT_ID in projects:
        p.error(f"{PLATFORM_PROJECT_ID} is the platform project that owns the public images, not a user's project")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    """The behaviour switches given on the command line."""
    settings = Settings()
    settings.update(
        {
            **{name: getattr(args, name) for name in BOOLEAN_SETTINGS},
            "name_max_length": args.name_max_length,
            "quota": args.quota,
            "member_limit": args.member_limit,
            "protected_delete_status": args.protected_delete_status,
            "upload_delay": args.upload_delay,
            "upload_max_bytes": args.upload_max_bytes,
            "register_max_bytes": args.register_max_bytes,
        }
    )
    return settings


def object_store(args: argparse.Namespace) -> ObjectStore | None:
    """The object store of ``--obs-endpoint``/``--obs-credentials``, or ``None`` without them."""
    if args.obs_endpoint is None:
        return None
    access_key, secret_key = args.obs_credentials
    return ObjectStore(ObsSettings(args.obs_endpoint, access_key, secret_key, args.obs_region))


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly."""
    ssl_context = None
    if args.tls_cert is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    temp = tempfile.TemporaryDirectory(prefix="ims-emulator-") if args.data is None else nullcontext(str(args.data))
    with temp as data_dir:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        state = State(
            store=Store(Path(data_dir)),
            files=ImageFiles(Path(data_dir)),
            settings=settings_from(args),
            auth=Authenticator.build(args.identity, args.token, enabled=not args.no_auth,
                                     demo=not args.no_demo_identity),
            faults=Faults(args.fault, args.fault_seed),
            obs=object_store(args),
        )
        # aiohttp closes a connection whose request head is not complete within keepalive_timeout of its
        # opening or of the previous response (the keep-alive timer runs from connection_made): a
        # slow-header client cannot hold a connection open.
        runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False,
                               keepalive_timeout=args.header_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, args.host, args.port, ssl_context=ssl_context).start()
            port = runner.addresses[0][1]
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(f"{'https' if ssl_context else 'http'}://{host}:{port}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            watcher = loop.create_task(_watch_parent(args.parent_pid, stop)) if args.parent_pid else None
            await stop.wait()
            if watcher is not None:
                watcher.cancel()
        finally:
            await runner.cleanup()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once we are re-parented, i.e. the process that started us died (even by SIGKILL)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_POLL_SECONDS)
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    if args.readme:
        sys.stdout.write(README.read_text(encoding="utf-8"))
        return 0
    if warning := bind_warning(args.host):
        print(warning, file=sys.stderr, flush=True)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(args))
    except OSError as exc:  # typically the port is taken; no traceback for that
        print(f"ims-emulator: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
