"""Who may reach the lock broker: loopback only, unless ZeroMQ CURVE authenticates clients.

A broker bound beyond loopback (any tcp host that is not 127.0.0.0/8, ``localhost`` or
``::1``) must be given a CURVE server certificate and a directory of the public keys of
the clients it admits (the ``zmq.auth`` certificate format, made by
``zmq.auth.create_certificates``); a ZAP handler then refuses every other client at the
handshake, and the traffic is encrypted. Keys come from files, named by arguments or by
the environment variables below, so they never appear on a command line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from harness.errors import InputError

SERVER_CERT_ENV = "HARNESS_BROKER_CURVE_SERVER_CERT"  # server secret certificate file
CLIENT_KEYS_ENV = "HARNESS_BROKER_CURVE_CLIENT_KEYS"  # directory of admitted client public keys
CLIENT_CERT_ENV = "HARNESS_BROKER_CURVE_CLIENT_CERT"  # a client's secret certificate file
SERVER_KEY_ENV = "HARNESS_BROKER_CURVE_SERVER_KEY"  # the server's public certificate file

_TCP_HOST = re.compile(r"^tcp://(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:]*)):")
_LOOPBACK = re.compile(r"^(?:127(?:\.\d{1,3}){3}|localhost|::1|lo)$")


class SecurityError(InputError):
    """The broker's exposure or keys are not acceptable."""


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint is reachable from this machine only (inproc, ipc, loopback tcp)."""
    if not endpoint.startswith("tcp://"):
        return endpoint.startswith(("inproc://", "ipc://"))
    match = _TCP_HOST.match(endpoint)
    return match is not None and bool(_LOOPBACK.match(match.group("v6") or match.group("host") or ""))


def _certificate(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise SecurityError(f"{path}: not a CURVE certificate: {exc}") from None
    if secret and secret_key is None:
        raise SecurityError(f"{path}: holds no secret key (want the .key_secret file)")
    return public, secret_key


@dataclass(frozen=True)
class CurveServer:
    """The broker's CURVE keys and the directory of the client keys it admits."""

    public: bytes
    secret: bytes
    client_keys: Path

    @classmethod
    def load(cls, cert: Path, client_keys: Path) -> CurveServer:
        """Read the server's secret certificate; check the client key directory exists."""
        public, secret = _certificate(cert, secret=True)
        if not client_keys.is_dir():
            raise SecurityError(f"{client_keys}: not a directory of client public keys")
        assert secret is not None
        return cls(public, secret, client_keys)

    def apply(self, context: zmq.Context, sock: zmq.Socket) -> ThreadAuthenticator:
        """Make ``sock`` a CURVE server; the returned authenticator admits the known clients."""
        auth = ThreadAuthenticator(context)
        auth.start()
        auth.configure_curve(domain="*", location=str(self.client_keys))
        sock.curve_server = True
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        return auth


@dataclass(frozen=True)
class CurveClient:
    """A client's CURVE keys and the broker's public key (picklable, for process workers)."""

    public: bytes
    secret: bytes
    server_public: bytes

    @classmethod
    def load(cls, cert: Path, server_key: Path) -> CurveClient:
        """Read a client's secret certificate and the broker's public certificate."""
        public, secret = _certificate(cert, secret=True)
        server_public, _ = _certificate(server_key, secret=False)
        assert secret is not None
        return cls(public, secret, server_public)

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of the broker (before it connects)."""
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server_public


def server_from_env(env: Mapping[str, str] = os.environ) -> CurveServer | None:
    """The broker's CURVE settings from the environment, or None when not configured."""
    cert, keys = env.get(SERVER_CERT_ENV), env.get(CLIENT_KEYS_ENV)
    if not cert and not keys:
        return None
    if not cert or not keys:
        raise SecurityError(f"CURVE needs both {SERVER_CERT_ENV} and {CLIENT_KEYS_ENV}")
    return CurveServer.load(Path(cert), Path(keys))


def client_from_env(env: Mapping[str, str] = os.environ) -> CurveClient | None:
    """A client's CURVE settings from the environment, or None when not configured."""
    cert, server = env.get(CLIENT_CERT_ENV), env.get(SERVER_KEY_ENV)
    if not cert and not server:
        return None
    if not cert or not server:
        raise SecurityError(f"CURVE needs both {CLIENT_CERT_ENV} and {SERVER_KEY_ENV}")
    return CurveClient.load(Path(cert), Path(server))


def check_exposure(endpoint: str, curve: CurveServer | None) -> None:
    """Refuse a bind beyond loopback without client authentication."""
    if curve is None and not is_loopback(endpoint):
        raise SecurityError(
            f"refusing to bind {endpoint} beyond loopback without authentication: "
            f"set {SERVER_CERT_ENV} and {CLIENT_KEYS_ENV} (ZeroMQ CURVE) or bind 127.0.0.1"
        )
