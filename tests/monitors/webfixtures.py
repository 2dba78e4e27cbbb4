"""Real local HTTP(S) servers and clients for the monitor tests (import the fixtures you use)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from orchestrator.monitors.fetch import new_client

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "statuspage"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def spec(name: str) -> dict:
    """A captured Statuspage payload from ../shared/specs/statuspage/."""
    return json.loads((SPECS / name).read_text())


def spec_bytes(name: str) -> bytes:
    return (SPECS / name).read_bytes()


async def _start(app: web.Application, ssl_context: ssl.SSLContext | None = None):
    # A short shutdown: handlers that hang on purpose must not hold up the teardown.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, port


@pytest.fixture
async def serve():
    """Factory: `await serve({"/path": handler, ...})` → base URL of a server on 127.0.0.1."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[str, Handler], ssl_context: ssl.SSLContext | None = None):
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        runner, port = await _start(app, ssl_context)
        runners.append(runner)
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client():
    """The shared client the scheduler would pass: fetch.new_client() (aiohttp)."""
    session = new_client()
    yield session
    await session.close()


@pytest.fixture(params=["aiohttp", "httpx"])
async def any_client(request):
    """Both client types fetch() accepts: the chosen aiohttp session and an httpx client."""
    if request.param == "aiohttp":
        session = new_client()
        yield session
        await session.close()
    else:
        async with httpx.AsyncClient() as session:
            yield session


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def json_handler(payload: object, *, headers: dict[str, str] | None = None,
                 status: int = 200) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(payload, status=status, headers=headers)
    return handler


def bytes_handler(body: bytes, content_type: str = "application/json",
                  status: int = 200) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type=content_type)
    return handler
