"""Ports the worker listens on (METRICS_PORT, API_PORT): a taken one stops the start by name.

    server = bind_or_stop("METRICS_PORT", host, port, lambda: HTTPServer((host, port), ...))
    ensure_port_free("API_PORT", host, port)    # before handing the port to uvicorn

Both raise SettingsError naming the setting, so the command prints one line and exits 2
instead of a traceback (or a worker running on without its endpoint).
"""
from __future__ import annotations

import errno
import socket
from typing import Callable, TypeVar

from protovideo.runtime.settings import SettingsError

T = TypeVar("T")


def port_error(setting: str, host: str, port: int, exc: OSError) -> SettingsError:
    if exc.errno == errno.EADDRINUSE:
        why = "is already in use (another worker or program listens there; pick another port)"
    elif exc.errno == errno.EACCES:
        why = "may not be bound by this user (ports below 1024 need privileges)"
    elif exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        why = "is not an address of this machine"
    else:
        why = f"cannot be bound ({exc.strerror or exc})"
    return SettingsError(setting, f"{host}:{port} {why}")


def bind_or_stop(setting: str, host: str, port: int, bind: Callable[[], T]) -> T:
    """Call bind() (which binds host:port); an OSError becomes SettingsError(setting)."""
    try:
        return bind()
    except OSError as exc:
        raise port_error(setting, host, port, exc) from None


def ensure_port_free(setting: str, host: str, port: int) -> None:
    """Raise SettingsError(setting) when host:port cannot be bound now (0 = any port: fine)."""
    if not port:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise port_error(setting, host, port, exc) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind(address)
        except OSError as exc:
            raise port_error(setting, host, port, exc) from None
