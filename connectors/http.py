"""HTTP helpers for connectors: TLS settings that hold, and transport failures sorted into error families.

Every connector that speaks HTTP takes two settings, ``verify_tls`` (default true) and
``ca_bundle`` (a PEM file with the CA that signed the ERP's or the corporate proxy's certificate).
The configuration loader refuses ``verify_tls: false`` unless the deployment runs in ``dev_mode``.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.errors import ConnectorError, TlsError, TransientError

__all__ = ["TlsSession", "classify_transport_error", "tls_verify"]


def tls_verify(verify_tls: bool, ca_bundle: str | None) -> bool | str:
    """What ``requests`` takes for ``verify``: the CA bundle when one is set, else on or off."""
    if ca_bundle:
        return ca_bundle
    return verify_tls


class TlsSession(requests.Session):
    """A session whose ``verify`` holds for every request.

    A plain session lets ``REQUESTS_CA_BUNDLE`` replace its own ``verify`` for any request that
    does not pass one, so a connection's ``ca_bundle`` would silently lose to the environment.
    Here the session's setting is passed on every request; ``True`` still lets the environment's
    bundle stand in for the system store.
    """

    def __init__(self, verify: bool | str = True) -> None:
        super().__init__()
        self.verify = verify

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: MutableMapping[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,
    ) -> Any:
        chosen = self.verify if verify is None else verify
        return super().merge_environment_settings(url, proxies, stream, chosen, cert)


_VERIFY_REASON = re.compile(r"certificate verify failed: ([^(')\]]+)")


def classify_transport_error(exc: requests.RequestException, what: str) -> ConnectorError:
    """Sort a failure below HTTP (no usable answer) into an error family.

    An untrusted or mismatched certificate is permanent: retrying cannot fix it, an admin must
    (with ``ca_bundle``). Everything else (refused or reset connections, timeouts, bodies cut
    short) is transient: the call may be repeated.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        url = getattr(getattr(exc, "request", None), "url", None)
        host = urlsplit(url).netloc if isinstance(url, str) else "the server"
        found = _VERIFY_REASON.search(str(exc))
        reason = found.group(1).strip() if found else _short(str(exc))
        return TlsError(
            f"{what}: TLS certificate of {host} not trusted ({reason}); if the ERP or a proxy in "
            "between uses a private CA, set the connection's ca_bundle to that CA's PEM file",
            erp_code="TLS",
        )
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{what}: timed out")
    return TransientError(f"{what}: {type(exc).__name__}")


def _short(text: str) -> str:
    return " ".join(text.split())[:200]

