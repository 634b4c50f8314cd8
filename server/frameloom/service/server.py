"""`frameloom serve`: the grpc.aio server with health, reflection, bearer-token auth and TLS.

Binds loopback unless told otherwise, and refuses to bind anything else without a token: an
engine that reads and writes files under its media roots must not be open to the network. Health
reports NOT_SERVING until the engine has found its devices and requeued unfinished jobs.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import signal
import socket
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from frameloom_client.v1 import frameloom_pb2 as pb

from ..errors import UserError
from ..jobs.engine import Engine, EngineConfig
from .handlers import frameloom_handler
from .servicer import FrameloomServicer

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Frameloom"].full_name
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass
class ServerConfig:
    engine: EngineConfig
    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    tls_cert: str | None = None      # PEM files; both or neither
    tls_key: str | None = None
    port_file: str | None = None     # write the bound port here (useful with port 0)
    extra: dict = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback
                       for a in socket.getaddrinfo(host, None))
        except OSError:
            return False


def check_config(cfg: ServerConfig) -> None:
    if not is_loopback(cfg.host) and not cfg.token:
        raise UserError(f"binding {cfg.host} exposes the server beyond this machine: give a bearer "
                        "token (--token-file or FRAMELOOM_TOKEN)")
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise UserError("TLS needs both --tls-cert and --tls-key")


class BearerAuth(grpc.aio.ServerInterceptor):
    """Every call but health checks needs ``authorization: Bearer <token>``."""

    def __init__(self, token: str, exempt: tuple[str, ...] = ("/grpc.health.v1.Health/",)):
        self._expected = f"Bearer {token}".encode()
        self._exempt = exempt

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(self._exempt):
            return handler
        got = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(got, bytes):
            got = got.decode("latin-1")
        if got and hmac.compare_digest(got.encode(), self._expected):
            return handler
        message = "wrong bearer token" if got else "this server needs a bearer token (authorization metadata)"
        return _deny(handler, message)


def _deny(handler, message: str):
    async def abort(context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        async def ss(request_iterator, context):
            await abort(context)
            yield  # pragma: no cover
        return grpc.stream_stream_rpc_method_handler(ss)
    if handler.response_streaming:
        async def us(request, context):
            await abort(context)
            yield  # pragma: no cover
        return grpc.unary_stream_rpc_method_handler(us)
    if handler.request_streaming:
        async def su(request_iterator, context):
            await abort(context)
        return grpc.stream_unary_rpc_method_handler(su)

    async def uu(request, context):
        await abort(context)
    return grpc.unary_unary_rpc_method_handler(uu)


class FrameloomServer:
    """Start with :meth:`start` (returns the bound port), stop with :meth:`stop`."""

    def __init__(self, config: ServerConfig, *, engine: Engine | None = None):
        check_config(config)
        self.config = config
        self.engine = engine or Engine(config.engine)
        self.port = 0
        self.server: grpc.aio.Server | None = None

    def _build(self) -> grpc.aio.Server:
        # Built inside the running loop: a grpc.aio server belongs to the loop that creates it.
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        server = grpc.aio.server(
            interceptors=[BearerAuth(self.config.token)] if self.config.token else [],
            options=options)
        server.add_generic_rpc_handlers((frameloom_handler(
            FrameloomServicer(self.engine, auth_required=bool(self.config.token))),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        return server

    async def start(self) -> int:
        self.health = health.aio.HealthServicer()
        self.server = self._build()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{self.config.host}:{self.config.port}"
        if self.config.tls_cert:
            with open(self.config.tls_key, "rb") as f:
                key = f.read()
            with open(self.config.tls_cert, "rb") as f:
                cert = f.read()
            self.port = self.server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        else:
            self.port = self.server.add_insecure_port(address)
        if not self.port:
            raise UserError(f"cannot bind {address}")
        await self.server.start()
        # Device discovery imports torch and requeueing reads the store: seconds, so the port is
        # already open (health says NOT_SERVING) while it happens.
        try:
            await asyncio.to_thread(self.engine.start)
        except BaseException:   # e.g. an unknown --device: one line from the CLI, no port left open
            await self.server.stop(0)
            raise
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.config.port_file:
            tmp = f"{self.config.port_file}.tmp"
            with open(tmp, "w") as f:
                f.write(str(self.port))
            os.replace(tmp, self.config.port_file)
        log.info("frameloom serving on %s:%d", self.config.host, self.port)
        return self.port

    async def stop(self, grace: float = 2.0) -> None:
        """Jobs stop first (headless ones stay queued for the next start), then the calls end,
        and only then does the store close: no call ever reads a closed store."""
        await self.health.enter_graceful_shutdown()
        await asyncio.to_thread(self.engine.stop)
        await self.server.stop(grace)
        await asyncio.to_thread(self.engine.close)


async def serve_forever(config: ServerConfig) -> None:
    server = FrameloomServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            pass
    await stop.wait()
    await server.stop()
