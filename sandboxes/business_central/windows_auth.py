"""Windows authentication (NTLM) for the on-premises layout, as a BC server instance set to Windows
credentials accepts it.

NTLM authenticates a connection, not a request: the client's negotiate message gets a 401 with a
challenge, its authenticate message on the same connection completes the handshake, and later
requests on that connection carry no credentials. The acceptor is pyspnego's, which looks the
users up in the file named by ``NTLM_USER_FILE`` (``DOMAIN:USER:PASSWORD`` lines): the sandbox
keeps one such file for the process and adds its users to it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import tempfile
import threading

import spnego

from sandboxes.business_central.errors import BcError, unauthorized

_FILE_LOCK = threading.Lock()


def _register(users: dict[str, str]) -> None:
    """Add ``DOMAIN\\user: password`` pairs to the process's NTLM user file (creating it once)."""
    with _FILE_LOCK:
        path = os.environ.get("NTLM_USER_FILE")
        if not path:
            handle, path = tempfile.mkstemp(prefix="bc-sandbox-ntlm-", suffix=".txt")
            os.close(handle)
            os.environ["NTLM_USER_FILE"] = path
            atexit.register(_remove, path)
        lines = []
        for name, password in users.items():
            domain, _, user = name.rpartition("\\")
            lines.append(f"{domain}:{user}:{password}\n")
        with open(path, "a", encoding="utf-8") as out:
            out.writelines(lines)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class WindowsAuth:
    """The NTLM handshakes in progress and the connections they authenticated."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {name.upper(): name for name in users}
        _register(users)
        self._pending: dict[tuple[str, str], spnego.ContextProxy] = {}
        self._done: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def user(self, header: str, connection: tuple[str, str]) -> str:
        """The Windows user of this connection; a 401 carrying the next handshake step otherwise."""
        with self._lock:
            known = self._done.get(connection)
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("ntlm", "negotiate"):
            if known is not None:
                return known
            raise challenge()
        try:
            with self._lock:
                context = self._pending.pop(connection, None) or spnego.server(protocol="ntlm")
            answer = context.step(base64.b64decode(token.strip()))
        except (spnego.exceptions.SpnegoError, ValueError):
            raise unauthorized() from None
        if not context.complete:
            with self._lock:
                self._pending[connection] = context
            assert answer is not None
            raise challenge(f"{scheme} {base64.b64encode(answer).decode()}")
        name = str(context.client_principal or "")
        if name.upper() not in self.users:
            raise unauthorized()
        with self._lock:
            self._done[connection] = name.upper()
        return name.upper()


def challenge(value: str = "NTLM") -> BcError:
    """A 401 asking for (or continuing) the NTLM handshake."""
    err = unauthorized()
    err.headers["WWW-Authenticate"] = value
    return err


__all__ = ["WindowsAuth", "challenge"]
