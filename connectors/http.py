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
    return TransientError(f"{what}: {_unreachable(exc)}")


# What each way of not getting through says, and what an admin checks first.
_NO_NAME = (
    "NameResolutionError",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
    "No address associated",
)
_REFUSED = ("Connection refused", "ConnectionRefusedError", "actively refused")
_POOL_HOST = re.compile(r"host='([^']+)', port=(\d+)")


def _where(exc: requests.RequestException) -> str:
    """``host:port`` the call went to, from the request or from urllib3's message."""
    url = getattr(getattr(exc, "request", None), "url", None)
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.hostname:
            return f"{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"
    found = _POOL_HOST.search(str(exc))
    return f"{found.group(1)}:{found.group(2)}" if found else "the ERP's host"


def _unreachable(exc: requests.RequestException) -> str:
    """Which host and port could not be reached, how, and what to check (DNS, firewall, proxy, TLS)."""
    where, text = _where(exc), str(exc)
    if isinstance(exc, requests.exceptions.ProxyError):
        return (
            f"the proxy did not connect to {where}: check the proxy settings (HTTPS_PROXY, HTTP_PROXY, "
            "NO_PROXY) and that the proxy allows that host"
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return (
            f"no answer from {where} within the timeout while connecting: check the firewall (outgoing "
            "connections to that host and port), the proxy settings, and that the host is up"
        )
    if isinstance(exc, requests.Timeout):
        return (
            f"connected to {where}, but it timed out waiting for the answer: the ERP may be slow or "
            "overloaded, or a proxy holds the request; the call is retried"
        )
    if any(sign in text for sign in _NO_NAME):
        return f"cannot resolve the host name of {where}: check DNS and the host in the connection's URL"
    if any(sign in text for sign in _REFUSED):
        return (
            f"connection to {where} refused: nothing listens on that port or a firewall rejects it; check "
            "the port in the connection's URL and the firewall"
        )
    return (
        f"cannot reach {where} ({type(exc).__name__}: the connection failed or was cut): check DNS, the "
        "firewall, the proxy settings, and TLS (an http:// URL to an https port, or the reverse)"
    )


def _short(text: str) -> str:
    return " ".join(text.split())[:200]
