"""The network policy: which hosts the worker may reach (asset downloads, webhooks, APIs).

    resolve_checked(host, port, allow_private)   # (family, ip) pairs; RefusedAddress if any is refused
    url_refusal(url, allow_private)              # why a URL's host is refused, or None
    http_session(allow_private)                  # the process's pooled, guarded requests session

Every address a host resolves to must be public unless ALLOW_PRIVATE_URLS: loopback, private,
link-local (the cloud metadata address 169.254.169.254 among them), multicast, reserved and
unspecified addresses are refused, IPv4 inside IPv6 (mapped, 6to4) by its IPv4 address, Teredo
always. The guarded session's connections resolve, check and connect to the checked address
themselves, so DNS that changes its answer between the check and the connection cannot slip
past. Used by generators.fetch (assets), the webhooks (protovideo.service.webhooks) and the job
checker (a job's callback_url at submit).
"""
from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

USER_AGENT = "ProtoVideo-worker/1"


class RefusedAddress(Exception):
    """A URL host that resolves to an address the worker must not reach."""


def address_problem(ip_text: str) -> str | None:
    """Why this IP must not be reached, or None when it is a public address."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return address_problem(str(mapped))
        if ip.teredo:
            return "a Teredo tunnel address"
    checks = (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link-local (cloud metadata)", ip.is_link_local), ("multicast", ip.is_multicast),
              ("reserved", ip.is_reserved), ("private", ip.is_private))
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    if not ip.is_global:
        return "not a public address"
    return None


def resolve_checked(host: str, port: int, allow_private: bool) -> list[tuple[int, str]]:
    """(family, ip) for every address of host; RefusedAddress when any is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise socket.gaierror(exc.errno, f"cannot resolve host {host!r}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:
        raise socket.gaierror(socket.EAI_NONAME, f"cannot resolve host {host!r}: {exc}") from None
    addresses = list(dict.fromkeys((info[0], info[4][0]) for info in infos))
    if not allow_private:
        for _family, ip in addresses:
            problem = address_problem(ip)
            if problem:
                raise RefusedAddress(f"host {host!r} resolves to {ip}, {problem}; such URLs are "
                                     "refused (ALLOW_PRIVATE_URLS is off)")
    return addresses


class GuardedHTTPConnection(HTTPConnection):
    """Connects only to addresses it has checked itself (no DNS rebinding gap). Subclasses
    change `allow_private()` and `prepare(sock)` (the socket's timeout, set before connecting)."""

    def allow_private(self) -> bool:
        return False

    def prepare(self, sock: socket.socket) -> float | None:
        return self.timeout if isinstance(self.timeout, (int, float)) else None

    def _new_conn(self) -> socket.socket:
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
        addresses = resolve_checked(self._dns_host, self.port, allow_private=self.allow_private())
        last: OSError | None = None
        for family, ip in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                timeout = self.prepare(sock)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if timeout is not None:
                    sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect((ip, self.port))
                return sock
            except socket.timeout as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                last = exc
            except BaseException:
                sock.close()
                raise
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")


def guarded_adapter(connection: type[GuardedHTTPConnection], **pool) -> HTTPAdapter:
    """A requests adapter whose http and https pools make `connection`s (TLS over it for https)."""
    secure = type(f"{connection.__name__}TLS", (connection, HTTPSConnection), {})
    pools = {"http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": connection}),
             "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": secure})}

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = dict(pools)

    return GuardedAdapter(**pool)


_sessions: dict[bool, requests.Session] = {}
_sessions_lock = threading.Lock()


def http_session(allow_private: bool) -> requests.Session:
    """The process's pooled session (guarded unless private URLs are allowed)."""
    with _sessions_lock:
        session = _sessions.get(allow_private)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies or .netrc from the environment
            session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            if not allow_private:
                adapter = guarded_adapter(GuardedHTTPConnection, pool_connections=8, pool_maxsize=16, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
            _sessions[allow_private] = session
        return session


def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why this http(s) URL's host must not be reached, or None. A host that does not resolve
    now is not refused here (a delivery or download tries again and fails on its own)."""
    if allow_private:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        resolve_checked(parts.hostname or "", port, allow_private=False)
    except RefusedAddress as exc:
        return str(exc)
    except (ValueError, OSError):   # a bad port, a host that does not resolve now
        return None
    return None
