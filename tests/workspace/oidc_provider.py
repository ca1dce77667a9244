"""A small OpenID Connect provider on the loopback, standing in for Entra ID or Keycloak in the tests.

It serves discovery, JWKS, authorization and token endpoints over real HTTP, checks what a provider
checks (the client's secret, the code, the redirect URI, the PKCE verifier) and issues ID tokens
signed with its RSA key (joserfc). ``forge`` makes the next ID token wrong in one way, as an
attacker or a misconfigured provider would send it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from markupsafe import escape
from werkzeug.serving import make_server

from tests.workspace.seed import free_port

CLIENT_ID = "arbridge-workspace"
CLIENT_SECRET = "s3cret-client-Value-7f2c9e1d"
FORGERIES = ("bad_signature", "wrong_audience", "wrong_nonce", "expired", "wrong_issuer")


@dataclass
class Provider:
    """The provider; ``user`` is who logs in at its (form-less) authorization endpoint."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    user: dict[str, Any] = field(default_factory=dict)
    forge: str | None = None
    # A sign-in page with a button, as people see at Entra ID or Keycloak, instead of an instant answer.
    interactive: bool = False
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    # What reached the endpoints, for the tests to look at.
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)
    _server: Any = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Provider:
        self._server = make_server("127.0.0.1", self.port, self.app(), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": f"sub-{self.user.get('preferred_username', 'x')}",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.user,
        }
        key = self.key
        if self.forge == "bad_signature":
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        elif self.forge == "wrong_audience":
            claims["aud"] = "another-application"
        elif self.forge == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif self.forge == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif self.forge == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1/elsewhere"
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def app(self) -> Flask:
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                }
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
                abort(400)
            code = secrets.token_urlsafe(16)
            self._codes[code] = args
            back = f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args['state']})}"
            if self.interactive:
                name = escape(str(self.user.get("preferred_username", "")))
                return (
                    f'<!doctype html><title>Sign in</title><form method="post" action="/approve">'
                    f'<input type="hidden" name="back" value="{escape(back)}">'
                    f'<p>Signed in as {name}</p><button id="approve">Continue</button></form>'
                )
            return redirect(back)

        @app.post("/approve")
        def approve() -> Any:
            return redirect(request.form["back"], code=303)

        @app.post("/token")
        def token() -> Any:
            form = request.form.to_dict()
            self.token_requests.append({**form, "authorization": request.headers.get("Authorization", "")})
            auth = request.authorization
            client_id, secret = (
                (auth.username, auth.password) if auth else (form.get("client_id"), form.get("client_secret"))
            )
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                return jsonify({"error": "invalid_client"}), 401
            asked = self._codes.pop(form.get("code", ""), None)
            if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
                return jsonify({"error": "invalid_grant"}), 400
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
            if asked.get("code_challenge_method") != "S256" or challenge.decode() != asked.get(
                "code_challenge"
            ):
                return jsonify({"error": "invalid_grant", "error_description": "PKCE verifier"}), 400
            return jsonify(
                {
                    "access_token": secrets.token_urlsafe(24),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": self.id_token(asked.get("nonce", "")),
                }
            )

        return app
