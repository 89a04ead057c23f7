"""One deadline for a whole HTTP exchange: connect, TLS handshake, request, headers and body.

httpx and httpcore bound each socket operation, not their sum, so a server that sends a byte of
its headers every few seconds would hold the box (and its lock) for as long as it likes. This
network backend for httpcore gives every operation at most the time left until the deadline and
raises :class:`DeadlinePassed` once it has passed. The TLS handshake is one operation (Python
bounds its total duration); each address of the issuer's name is tried only while time is left.
Resolving the name itself is left to the system resolver and its own timeouts.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
from httpcore import NetworkBackend, NetworkStream

Monotonic = Callable[[], float]


class DeadlinePassed(httpcore.TimeoutException):
    """The exchange's deadline passed before the answer was complete."""


class Deadline:
    """An absolute point on the monotonic clock, and what is left until it."""

    def __init__(self, seconds: float, monotonic: Monotonic = time.monotonic) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
        self._end = monotonic() + seconds

    def left(self, timeout: float | None = None) -> float:
        """Seconds an operation may take: ``timeout`` cut to what is left; raises when none."""
        remaining = self._end - self._monotonic()
        if remaining <= 0:
            raise self.passed()
        return remaining if timeout is None else min(timeout, remaining)

    def passed(self) -> DeadlinePassed:
        return DeadlinePassed(f"no complete answer within {self.seconds:g} s")

    def timed_out(self, err: TimeoutError, kind: type[httpcore.TimeoutException]) -> Exception:
        """The error for an operation that timed out: the deadline's, once it has passed."""
        if self._end - self._monotonic() <= 0:
            return self.passed()
        return kind(err)


class DeadlineBackend(NetworkBackend):
    """A synchronous httpcore backend with every socket operation bounded by ``deadline``."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            raise httpcore.ConnectError(err) from err
        last: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.deadline.left(timeout))
                if local_address is not None:
                    sock.bind((local_address, 0))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(address)
            except OSError as err:  # TimeoutError among them: try the next address
                sock.close()
                last = err
                if isinstance(err, TimeoutError):
                    self.deadline.left()  # raises DeadlinePassed once no time is left
                continue
            except BaseException:
                sock.close()
                raise
            return _Stream(sock, self.deadline)
        if isinstance(last, TimeoutError):
            raise httpcore.ConnectTimeout(last) from last
        raise httpcore.ConnectError(last or f"no address for {host}") from last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> NetworkStream:
        raise httpcore.ConnectError("the box does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.deadline.left()))


class _Stream(NetworkStream):
    """A connected socket (plain or TLS); each call gets at most the time left."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            self._sock.settimeout(self._deadline.left(timeout))
            return self._sock.recv(max_bytes)
        except TimeoutError as err:
            raise self._deadline.timed_out(err, httpcore.ReadTimeout) from err
        except OSError as err:
            raise httpcore.ReadError(err) from err

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            while buffer:
                self._sock.settimeout(self._deadline.left(timeout))
                sent = self._sock.send(buffer)
                buffer = buffer[sent:]
        except TimeoutError as err:
            raise self._deadline.timed_out(err, httpcore.WriteTimeout) from err
        except OSError as err:
            raise httpcore.WriteError(err) from err

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> NetworkStream:
        try:
            # Python bounds the whole handshake by the socket's timeout.
            self._sock.settimeout(self._deadline.left(timeout))
            tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as err:
            self._sock.close()
            raise self._deadline.timed_out(err, httpcore.ConnectTimeout) from err
        except OSError as err:  # ssl.SSLError among them, verification failures included
            self._sock.close()
            raise httpcore.ConnectError(err) from err
        except BaseException:
            self._sock.close()
            raise
        return _Stream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":  # httpcore asks it for the negotiated ALPN protocol
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "socket":
            return self._sock
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        return None
