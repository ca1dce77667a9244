"""The deployment configuration: one YAML file per deployment, validated by these models.

Every model forbids unknown keys, so a typo is an error that names the key rather than a setting
that silently keeps its default. Relative paths (the SQLite file, policy and rule files) are
resolved against the directory of the configuration file, passed to validation as the context key
``base_dir``; without it they resolve against the current directory.

Secrets are never written here: fields that hold one are typed ``SecretStr`` and filled from a
reference (``${ENV_VAR}``, ``${file:…}``, ``${credential:…}``) by ``config.secrets``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mapping.models import Stream

if TYPE_CHECKING:
    from connectors.base import ConnectorSettings

__all__ = [
    "BUILTIN_POLICY",
    "CashAppRulesConfig",
    "ConnectionConfig",
    "DefaultsConfig",
    "DeploymentConfig",
    "DunningChannelsConfig",
    "DunningRetryConfig",
    "DunningRulesConfig",
    "FolderChannelConfig",
    "LoggingConfig",
    "PredictionConfig",
    "RulesConfig",
    "Schedule",
    "ServerConfig",
    "SmtpChannelConfig",
    "SsoConfig",
    "StatementInboxConfig",
    "StoreConfig",
    "WebhookChannelConfig",
    "WorkersConfig",
    "WorklistConfig",
    "WriteBackConfig",
    "format_duration",
    "parse_duration",
]

# The policy a deployment gets with dunning enabled and no ``policy:`` of its own.
BUILTIN_POLICY = Path(__file__).resolve().with_name("dunning-policy.builtin.yaml")

SECRET_HINT = "a secret reference: ${ENV_VAR}, ${file:/path} or ${credential:name}"

_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
_DURATION_PART = re.compile(r"(\d+)\s*([smhd])")
_DURATION = re.compile(r"^\s*(?:\d+\s*[smhd]\s*)+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_HELP = "a duration like 30s, 15m, 2h, 1d (or 1h30m), or a whole number of seconds"


def parse_duration(value: Any) -> timedelta:
    """Parse ``30s``, ``15m``, ``2h``, ``1d``, ``1h30m`` or whole seconds into a ``timedelta``.

    Args:
        value: a string in that notation, an ``int`` of seconds, or a ``timedelta``.

    Returns:
        The duration.

    Raises:
        ValueError: the value is not a duration in that notation.
    """
    if isinstance(value, timedelta):
        return value
    # bool is an int subclass; ``interval: true`` is a mistake, not one second.
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return timedelta(seconds=int(text))
        if _DURATION.match(text):
            seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
            return timedelta(seconds=seconds)
    raise ValueError(f"expected {DURATION_HELP}")


def format_duration(value: timedelta) -> str:
    """Write a duration back in the notation ``parse_duration`` reads (``1h30m``, ``45s``)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\s*(?:\d+\s*[smhdSMHD]\s*)+$"},
            ],
            "description": f"Interval between runs: {DURATION_HELP}.",
            "examples": ["30s", "15m", "2h", "1d"],
        }
    ),
]


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    path = value.expanduser()
    if not path.is_absolute():
        path = _base_dir(info) / path
    # normpath, not resolve(): the file may not exist yet and symlinks are the admin's business.
    return Path(_normpath(path))


def _normpath(path: Path) -> str:
    import os.path

    return os.path.normpath(str(path))


def _unset() -> Any:
    """Default of a nested model: an empty mapping, validated (with context) like a written one."""
    return {}


class _Model(BaseModel):
    # validate_default with ``default_factory=_unset`` for nested models: defaults are validated
    # like written values, with the same context, so a default relative path resolves too.
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Schedule(_Model):
    """When a connection syncs: every ``interval``, or at the times a ``cron`` expression names."""

    interval: Duration | None = Field(default=None, description=f"Run every {DURATION_HELP}.")
    cron: str | None = Field(
        default=None,
        description="A five-field cron expression, e.g. '*/15 * * * *' or '0 6 * * 1-5'.",
        examples=["*/15 * * * *", "0 6 * * 1-5"],
    )
    timezone: str = Field(
        default="UTC",
        description="The IANA time zone a cron expression is read in, e.g. 'Europe/Berlin'.",
    )

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value.total_seconds() < 1:
            raise ValueError(f"expected an interval of at least one second: {DURATION_HELP}")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                "expected a five-field cron expression (minute hour day-of-month month day-of-week), "
                "e.g. '*/15 * * * *'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'UTC' or 'America/New_York'") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("expected exactly one of 'interval' (e.g. 15m) or 'cron' (e.g. '*/15 * * * *')")
        return self

    def next_run(self, after: datetime) -> datetime:
        """The first run time strictly after ``after`` (timezone-aware in, timezone-aware out).

        Args:
            after: a timezone-aware datetime, usually the end of the previous run.

        Returns:
            ``after + interval``, or the next cron match in ``timezone``.
        """
        if self.interval is not None:
            return after + self.interval
        local = after.astimezone(ZoneInfo(self.timezone))
        nxt: datetime = croniter(self.cron, local).get_next(datetime)
        return nxt.astimezone(after.tzinfo or UTC)

    def describe(self) -> str:
        """A short human description for status output: ``every 15m`` or ``cron '0 6 * * *' (UTC)``."""
        if self.interval is not None:
            return f"every {format_duration(self.interval)}"
        return f"cron {self.cron!r} ({self.timezone})"


def _default_schedule() -> Schedule:
    return Schedule(interval=timedelta(minutes=15))


class StoreConfig(_Model):
    """Where the state (records, cursors, outbox, audit) lives."""

    url: str = Field(
        default="sqlite:///./arbridge-state/arbridge.sqlite",
        description=(
            "SQLAlchemy URL of the state store: 'sqlite:///relative/or/absolute.sqlite' (relative to "
            "this file) or 'postgresql+psycopg://user@host/db'. Put a password in by reference, "
            "e.g. 'postgresql+psycopg://arbridge:${PGPASSWORD}@db/arbridge', or use ~/.pgpass."
        ),
        repr=False,
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        dialect = scheme.split("+", 1)[0]
        if dialect == "sqlite":
            return _absolute_sqlite_url(value, info)
        if dialect in ("postgresql", "postgres"):
            if not urlsplit(value).hostname and "host=" not in value:
                raise ValueError("expected a PostgreSQL URL with a host: postgresql+psycopg://user@host/db")
            return value
        raise ValueError(
            "expected a SQLite URL (sqlite:///./arbridge-state/arbridge.sqlite) "
            "or a PostgreSQL URL (postgresql+psycopg://user@host/db)"
        )

    @property
    def is_sqlite(self) -> bool:
        """True when the store is a SQLite file (one process, one company)."""
        return self.url.lower().startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, absolute; None for PostgreSQL or an in-memory database."""
        if not self.is_sqlite:
            return None
        rest = self.url.split(":///", 1)[1] if ":///" in self.url else ""
        rest = rest.split("?", 1)[0]
        if not rest or rest == ":memory:":
            return None
        return Path(rest)

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***``, safe for logs and status output."""
        return redact_url(self.url)

    def __repr_args__(self) -> Any:
        yield "url", self.redacted_url


def redact_url(url: str) -> str:
    """Replace the password of a URL with ``***`` (the rest stays, for diagnosis)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _absolute_sqlite_url(url: str, info: ValidationInfo) -> str:
    if ":///" not in url:
        if url.rstrip("/").endswith(":"):  # 'sqlite://' is SQLAlchemy's in-memory database
            return url
        raise ValueError("expected a SQLite URL with three slashes: sqlite:///path/to/file.sqlite")
    prefix, rest = url.split(":///", 1)
    path, sep, query = rest.partition("?")
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    absolute = _normpath(_base_dir(info) / Path(path).expanduser())
    return f"{prefix}:///{absolute}{sep}{query}"


class LoggingConfig(_Model):
    """How the daemon logs."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="The least severe level written: DEBUG, INFO, WARNING, ERROR, CRITICAL."
    )
    format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="'json' (one object per line, for journald/ELK), 'text', or 'auto' (text on a "
        "terminal, json otherwise).",
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class SsoConfig(_Model):
    """Single sign-on to the workspace with an OpenID Connect provider (Entra ID, Keycloak, …)."""

    issuer: str = Field(
        description="The provider's issuer URL; its settings are read from "
        "<issuer>/.well-known/openid-configuration. HTTPS (plain HTTP only on this machine's loopback).",
        examples=["https://login.microsoftonline.com/<tenant id>/v2.0", "https://sso.example.com/realms/ar"],
    )
    client_id: str = Field(min_length=1, description="The workspace's client (application) id there.")
    client_secret: SecretStr = Field(description=f"The client's secret; {SECRET_HINT}.")
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="Scopes asked for; 'openid' is always among them.",
    )
    username_claim: str = Field(
        default="preferred_username",
        description="The ID token claim that names the user in the workspace and its audit log.",
    )
    roles_claim: str = Field(
        default="groups",
        description="The ID token claim listing the user's groups or app roles ('groups', 'roles').",
    )
    roles: dict[str, Literal["viewer", "collector", "clerk", "admin"]] = Field(
        min_length=1,
        description="A value of the roles claim → the workspace role it grants. A user with several "
        "gets the first listed here; a user with none may not log in.",
    )
    redirect_uri: str | None = Field(
        default=None,
        description="The address the provider sends the browser back to, as registered there "
        "(https://ar.example.com/sso/callback); default: the address the request came to + /sso/callback.",
    )
    button: str = Field(default="Log in with single sign-on", description="The login page's button text.")
    password_login: bool = Field(
        default=True,
        description="Whether the users of 'arbridge users' may still log in with a password; false: "
        "single sign-on only.",
    )

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme == "https" and parts.hostname:
            return value.strip().rstrip("/")
        if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
            return value.strip().rstrip("/")
        raise ValueError("expected an https:// issuer URL (plain http only for a provider on the loopback)")

    @field_validator("scopes")
    @classmethod
    def _with_openid(cls, value: list[str]) -> list[str]:
        return value if "openid" in value else ["openid", *value]


class ServerConfig(_Model):
    """The local admin/metrics HTTP endpoint."""

    bind: str = Field(
        default="127.0.0.1:8765",
        description="host:port to listen on; keep 127.0.0.1 unless a reverse proxy needs more. "
        "IPv6: '[::1]:8765'.",
    )
    token: SecretStr | None = Field(
        default=None,
        description=f"Bearer token the admin API requires; {SECRET_HINT}. "
        "Required when binding beyond the loopback interface.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest request body accepted, in bytes (default 1 MiB)."
    )
    sso: SsoConfig | None = Field(
        default=None, description="Single sign-on to the workspace (OpenID Connect); none: passwords only."
    )

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        _split_bind(value)
        return value.strip()

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> ServerConfig:
        if self.token is None and not _is_loopback(self.host):
            raise ValueError(
                f"expected 'token' ({SECRET_HINT}) when the server binds beyond localhost ({self.host})"
            )
        return self

    def with_bind(self, bind: str) -> ServerConfig:
        """These settings listening on ``bind`` instead, checked as if ``bind`` were in the file.

        Raises:
            pydantic.ValidationError: ``bind`` is not host:port, or it is beyond loopback and no
                token is configured.
        """
        return ServerConfig.model_validate(
            {"bind": bind, "token": self.token, "max_body_bytes": self.max_body_bytes, "sso": self.sso}
        )

    @property
    def host(self) -> str:
        """The host part of ``bind`` (without IPv6 brackets)."""
        return _split_bind(self.bind)[0]

    @property
    def port(self) -> int:
        """The port part of ``bind``."""
        return _split_bind(self.bind)[1]


def _split_bind(value: str) -> tuple[str, int]:
    text = value.strip()
    match = re.match(r"^\[([0-9a-fA-F:.]+)\]:(\d+)$", text) or re.match(r"^([^:\[\]\s]+):(\d+)$", text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError("expected host:port, e.g. '127.0.0.1:8765' or '[::1]:8765' (port 1-65535)")
    return match.group(1), int(match.group(2))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WorkersConfig(_Model):
    """Who runs the sync cycles: this one process, or workers sharing a PostgreSQL task queue."""

    engine: Literal["local", "procrastinate"] = Field(
        default="local",
        description="'local': this process syncs every connection on its schedule (SQLite or "
        "PostgreSQL). 'procrastinate': every process started with this file is a worker of one "
        "task queue in the PostgreSQL state store; each connection's cycle is a job run by one "
        "worker at a time, and a dead worker's job is retried by another. Needs a PostgreSQL store.url.",
    )
    concurrency: int = Field(
        default=1,
        ge=1,
        le=16,
        description="How many connections this process syncs at the same time (procrastinate only); "
        "for more, start more processes.",
    )
    heartbeat: Duration = Field(
        default=timedelta(seconds=10),
        description=f"How often a worker tells the database it is alive: {DURATION_HELP}.",
    )
    stalled_after: Duration = Field(
        default=timedelta(seconds=30),
        description="A worker silent for this long is taken for dead, and the jobs it was running are "
        f"retried by another worker: {DURATION_HELP}. At least twice the heartbeat.",
    )
    keep_jobs: Duration = Field(
        default=timedelta(days=7),
        description=f"How long finished jobs stay in the queue's tables for inspection: {DURATION_HELP}.",
    )

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> WorkersConfig:
        # One late heartbeat must not make a live worker look dead and its connection run twice.
        if self.stalled_after < 2 * self.heartbeat:
            raise ValueError(
                "expected stalled_after to be at least twice the heartbeat "
                f"(heartbeat {format_duration(self.heartbeat)}, stalled_after "
                f"{format_duration(self.stalled_after)})"
            )
        return self

    @property
    def distributed(self) -> bool:
        """True when cycles are jobs of the shared PostgreSQL task queue."""
        return self.engine == "procrastinate"


class DefaultsConfig(_Model):
    """Values a connection inherits when it does not set them."""

    schedule: Schedule = Field(default_factory=_default_schedule, description="Default sync schedule.")


class WriteBackConfig(_Model):
    """Whether decisions are written back to the ERP."""

    enabled: bool = Field(
        default=False,
        description="Write decisions (payment applications, collection status…) back to the ERP. "
        "Off unless turned on: writing to an ERP is a deliberate choice.",
    )
    dry_run: bool = Field(
        default=False,
        description="Fill the outbox and log what would be sent, but send nothing.",
    )


class ConnectionConfig(_Model):
    """One ERP company/account and how it is synced.

    ``settings`` keeps the connector settings as written in the file, with secret references
    unresolved, so printing or dumping the configuration never reveals a secret. The resolved,
    validated settings (secrets as ``SecretStr``) are ``validated_settings``, set by the loader
    when the connector is installed.
    """

    name: str = Field(description="Unique name of the connection: lowercase letters, digits, '-' and '_'.")
    connector: str = Field(description="Name of an installed connector, e.g. 'quickbooks', 'netsuite'.")
    enabled: bool = Field(default=True, description="A disabled connection is kept but never synced.")
    schedule: Schedule | None = Field(
        default=None, description="When this connection syncs; 'defaults.schedule' when absent."
    )
    streams: list[Stream] | None = Field(
        default=None,
        description="Streams to read (customers, invoices, credit_memos, payments); all the connector "
        "reads when absent.",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Connector settings, validated by the connector; secrets by reference only.",
        repr=False,
    )
    mapping: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides merged over the connector's default mapping.yaml (custom fields, value maps).",
    )
    write_back: WriteBackConfig = Field(default_factory=_unset)
    budget_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="The fraction of the ERP account's request budget (requests per minute, "
        "requests in flight) this process may spend: 1 when it is the only one using the account, "
        "e.g. 0.5 each when two processes (or another integration) draw on it at the same time.",
    )

    _validated_settings: ConnectorSettings | None = PrivateAttr(default=None)

    @field_validator("name", "connector")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("expected 1-64 lowercase letters, digits, '-' or '_' (e.g. 'acme-qbo')")
        return value

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, value: list[Stream] | None) -> list[Stream] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("expected at least one stream, or no 'streams' key for all of them")
        if len(set(value)) != len(value):
            raise ValueError("expected each stream once")
        return value

    @property
    def validated_settings(self) -> ConnectorSettings | None:
        """The settings validated by the connector's ``settings_model`` (None if not validated)."""
        return self._validated_settings

    def set_validated_settings(self, settings: ConnectorSettings) -> None:
        """Attach the settings object validated against the connector's ``settings_model``."""
        self._validated_settings = settings


class SmtpChannelConfig(_Model):
    """Dunning e-mails through an SMTP relay."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    host: str = Field(min_length=1, description="The SMTP relay, e.g. 'smtp.example.com'.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 587 with starttls, 465 with ssl, 25 with none."
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="'starttls' (upgrade after connecting, port 587), 'ssl' (TLS from the first byte, "
        "port 465) or 'none' (plain; only to a relay on this machine).",
    )
    username: str | None = Field(default=None, description="Login name, when the relay wants one.")
    password: SecretStr | None = Field(default=None, description=f"Login password; {SECRET_HINT}.")
    from_address: str = Field(
        alias="from",
        min_length=3,
        description="The sender, e.g. 'Example Supplies AR <ar@example.com>'. Its domain names the "
        "Message-ID of every reminder.",
    )
    reply_to: str | None = Field(default=None, description="Where customers' replies go.")
    bcc: list[str] = Field(default_factory=list, description="Copies for the collections team.")
    timeout: Duration = Field(
        default=timedelta(seconds=30), description=f"How long to wait for the relay: {DURATION_HELP}."
    )
    messages_per_connection: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Reminders sent over one SMTP connection before a new one is opened (relays "
        "limit messages per session; Exchange Online allows 30 per minute per mailbox).",
    )

    @model_validator(mode="after")
    def _safe_login(self) -> SmtpChannelConfig:
        if self.password is not None and not self.username:
            raise ValueError("expected 'username' with 'password'")
        if self.password is not None and self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                "expected security 'starttls' or 'ssl': a password is never sent in plain text "
                f"to another machine ({self.host})"
            )
        return self

    @property
    def effective_port(self) -> int:
        """The port to connect to: the one written, or the usual one for ``security``."""
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class FolderChannelConfig(_Model):
    """Letters or call tasks dropped as files into a folder that people or a print house pick up."""

    dir: Path = Field(description="The folder, relative to this file; created when missing.")

    @field_validator("dir")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve_path(value, info)


class WebhookChannelConfig(_Model):
    """Dunning actions POSTed as JSON to another system (a CRM, a ticketing tool)."""

    url: str = Field(description="The endpoint; https unless it is on this machine.")
    secret: SecretStr | None = Field(
        default=None,
        description=f"Key of the X-Arbridge-Signature HMAC-SHA256 header; {SECRET_HINT}.",
    )
    timeout: Duration = Field(default=timedelta(seconds=30), description=f"Request timeout: {DURATION_HELP}.")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("expected an http(s) URL, e.g. 'https://crm.example.com/hooks/dunning'")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(
                f"expected https: dunning data must not cross the network in plain text ({value})"
            )
        return value.strip()


class DunningChannelsConfig(_Model):
    """Where planned communications go. A channel left out is not sent on: its actions wait."""

    email: SmtpChannelConfig | None = Field(default=None, description="E-mail through SMTP.")
    letter: FolderChannelConfig | None = Field(
        default=None, description="PDF letters ({key}.pdf, with a {key}.json cover sheet)."
    )
    call: FolderChannelConfig | None = Field(
        default=None, description="Call tasks for collectors ({key}.json)."
    )
    webhook: WebhookChannelConfig | None = Field(default=None, description="POST each action as JSON.")

    @property
    def configured(self) -> list[str]:
        """The channels set up here, by name."""
        return [name for name in ("email", "letter", "call", "webhook") if getattr(self, name) is not None]


class DunningRetryConfig(_Model):
    """How temporary failures (an SMTP 4xx, a relay that is down) are retried."""

    initial: Duration = Field(default=timedelta(minutes=5), description="First wait; doubled each time.")
    max: Duration = Field(default=timedelta(hours=6), description="Longest wait between two tries.")
    attempts: int = Field(
        default=12, ge=1, description="Tries before the action is marked failed (about two days by default)."
    )


_PAYMENT_FIELDS = {"customer_id": "C1", "currency": "EUR", "level": 1, "reference": "C1-EUR"}


class WorklistConfig(_Model):
    """How the collectors' worklist ranks customers whose invoices are in several currencies."""

    reporting_currency: str | None = Field(
        default=None,
        description="The currency every amount at risk is converted to for the ranking (ISO 4217, e.g. "
        "USD). Without it, a customer owing in several currencies is ranked on its largest amount only.",
    )
    fx_rates: Path | None = Field(
        default=None,
        description="CSV file of rates into the reporting currency, relative to this file: columns "
        "currency, rate (reporting-currency units per unit), date. An amount in a currency without a "
        "rate is left out of the ranking, and the worklist line says so.",
    )

    @field_validator("reporting_currency")
    @classmethod
    def _iso_currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from iso4217 import Currency

        code = value.strip().upper()
        if code not in {c.code for c in Currency}:
            raise ValueError(
                f"expected a currency code assigned in ISO 4217 such as USD or EUR, got {value!r}"
            )
        return code

    @field_validator("fx_rates")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)

    @model_validator(mode="after")
    def _rates_need_a_currency(self) -> WorklistConfig:
        if self.fx_rates is not None and self.reporting_currency is None:
            raise ValueError("expected reporting_currency with fx_rates: the currency the rates convert into")
        return self


class DunningRulesConfig(_Model):
    """The dunning engine."""

    enabled: bool = Field(default=False, description="Decide and send reminders.")
    policy: Path | None = Field(
        default=None,
        description="Dunning policy YAML (levels, channels, templates), relative to this file; the "
        "built-in policy when absent.",
    )
    templates: Path | None = Field(
        default=None,
        description="A folder of your own templates ({lang}/reminder.j2 …), searched before the "
        "shipped ones.",
    )
    payment_link: str | None = Field(
        default=None,
        description="Pay-online link in every message, overriding the policy's; placeholders "
        "{customer_id}, {currency}, {level}, {reference}.",
    )
    channels: DunningChannelsConfig = Field(default_factory=_unset)
    retry: DunningRetryConfig = Field(default_factory=_unset)
    expire_after: Duration = Field(
        default=timedelta(days=3),
        description="A planned communication not sent this long after its send time (the daemon or a "
        "channel was down) is dropped as expired instead of reaching the customer late.",
    )
    worklist: WorklistConfig = Field(default_factory=_unset)

    @field_validator("policy", "templates")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)

    @model_validator(mode="after")
    def _builtin_policy(self) -> DunningRulesConfig:
        # Everything that runs dunning reads ``policy``: filling it here gives each of them the
        # built-in policy the documentation promises, instead of a silent "nothing to decide".
        if self.policy is None:
            self.policy = BUILTIN_POLICY
        return self

    @property
    def builtin_policy(self) -> bool:
        """Whether no policy file was configured, so the built-in one is used."""
        return self.policy == BUILTIN_POLICY

    @field_validator("payment_link")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            value.format(**_PAYMENT_FIELDS)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "expected only the placeholders {customer_id}, {currency}, {level}, {reference} "
                f"({exc})"
            ) from None
        return value


class StatementInboxConfig(_Model):
    """Bank statements to apply like payments."""

    inbox: Path = Field(
        description="Folder of camt.053, BAI2 and MT940 files, relative to this file; each file is imported "
        "once (by content), an unreadable one is quarantined."
    )
    connection: str | None = Field(
        default=None,
        description="The connection whose ERP receives the statement lines' applications; needed when "
        "several connections are configured.",
    )

    @field_validator("inbox")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve_path(value, info)


class CashAppRulesConfig(_Model):
    """The cash-application matcher."""

    enabled: bool = Field(default=False, description="Propose payment applications to open invoices.")
    rules: Path | None = Field(
        default=None, description="Matcher rules YAML, relative to this file; the built-in rules when absent."
    )
    auto_threshold: float = Field(
        default=0.90,
        ge=0.0,
        le=1.0,
        description="Matches at or above this confidence are applied (and written back) automatically.",
    )
    review_threshold: float = Field(
        default=0.60,
        ge=0.0,
        le=1.0,
        description="Matches at or above this confidence (and below auto_threshold) wait for review; "
        "lower ones are dropped.",
    )

    statements: StatementInboxConfig | None = Field(
        default=None, description="A folder of bank statements whose credit lines are matched each cycle."
    )

    @field_validator("rules")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)

    @model_validator(mode="after")
    def _ordered(self) -> CashAppRulesConfig:
        if self.review_threshold > self.auto_threshold:
            raise ValueError("expected review_threshold to be at most auto_threshold")
        return self


class RulesConfig(_Model):
    """The decision engines."""

    dunning: DunningRulesConfig = Field(default_factory=_unset)
    cashapp: CashAppRulesConfig = Field(default_factory=_unset)


_REFIT_WORDS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "monthly": timedelta(days=30)}
REFIT_HELP = (
    "'daily', 'weekly' or 'monthly', a duration such as 3d, or a five-field cron expression such as "
    "'0 3 * * 0' (UTC)"
)


class PredictionConfig(_Model):
    """When each connection's payment-date model is learned again from the store's paid invoices."""

    refit: str = Field(
        default="weekly",
        description=f"How often the daemon refits each connection's model: {REFIT_HELP}. A stored "
        "model older than this (or made for an older set of features) is refitted after the "
        "connection's next cycle.",
        examples=["weekly", "daily", "3d", "0 3 * * 0"],
    )
    min_history: int = Field(
        default=300,
        ge=1,
        description="Paid invoices (with a known payment day) a connection needs before the model is "
        "trained; with fewer, the customer-median baseline predicts, and says so.",
    )

    @field_validator("refit")
    @classmethod
    def _valid_refit(cls, value: str) -> str:
        text = value.strip().lower()
        if text in _REFIT_WORDS or _DURATION.match(text) or text.isdigit():
            return text
        if len(text.split()) == 5 and croniter.is_valid(text):
            return text
        raise ValueError(f"expected {REFIT_HELP}, got {value!r}")

    def refit_due(self, fitted_at: datetime, now: datetime) -> bool:
        """Whether a model fitted at ``fitted_at`` is due to be refitted at ``now`` (both aware)."""
        return self.next_refit(fitted_at) <= now

    def next_refit(self, fitted_at: datetime) -> datetime:
        """When a model fitted at ``fitted_at`` is due next."""
        if self.refit in _REFIT_WORDS:
            return fitted_at + _REFIT_WORDS[self.refit]
        if len(self.refit.split()) == 5:
            nxt: datetime = croniter(self.refit, fitted_at.astimezone(UTC)).get_next(datetime)
            return nxt
        return fitted_at + parse_duration(self.refit)


class DeploymentConfig(_Model):
    """The whole configuration of one deployment (one YAML file)."""

    model_config = ConfigDict(
        extra="forbid",
        validate_default=True,
        title="arbridge deployment configuration",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    version: Literal[1] = Field(description="Configuration format version; 1.")
    allow_secret_literals: bool = Field(
        default=False,
        description="Development only: accept plain-text secrets (with a warning) instead of refusing them.",
    )
    dev_mode: bool = Field(
        default=False,
        description="Development only: allow settings that weaken security, such as a connection's "
        "verify_tls: false for a local test ERP; each one is logged as a warning. Never in production.",
    )
    store: StoreConfig = Field(default_factory=_unset)
    logging: LoggingConfig = Field(default_factory=_unset)
    server: ServerConfig = Field(default_factory=_unset)
    defaults: DefaultsConfig = Field(default_factory=_unset)
    connections: list[ConnectionConfig] = Field(default_factory=list)
    rules: RulesConfig = Field(default_factory=_unset)
    workers: WorkersConfig = Field(default_factory=_unset)
    prediction: PredictionConfig = Field(default_factory=_unset)

    _source: Path | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("connections")
    @classmethod
    def _unique_names(cls, value: list[ConnectionConfig]) -> list[ConnectionConfig]:
        seen: dict[str, int] = {}
        for i, conn in enumerate(value):
            if conn.name in seen:
                raise ValueError(
                    f"expected unique connection names: {conn.name!r} is used by "
                    f"connections[{seen[conn.name]}] and connections[{i}]"
                )
            seen[conn.name] = i
        return value

    @model_validator(mode="after")
    def _statements_have_one_connection(self) -> DeploymentConfig:
        statements = self.rules.cashapp.statements
        if statements is None:
            return self
        names = [c.name for c in self.connections]
        if statements.connection is None and len(names) > 1:
            raise ValueError(
                "rules.cashapp.statements.connection: expected the connection whose ERP gets the statement "
                f"lines ({', '.join(names)} are configured)"
            )
        if statements.connection is not None and statements.connection not in names:
            raise ValueError(
                f"rules.cashapp.statements.connection: no connection named {statements.connection!r} "
                f"(configured: {', '.join(names) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _inherit_defaults(self) -> DeploymentConfig:
        for conn in self.connections:
            if conn.schedule is None:
                conn.schedule = self.defaults.schedule.model_copy()
        return self

    @property
    def source(self) -> Path | None:
        """The file this configuration was loaded from (None for embedded defaults)."""
        return self._source

    @property
    def warnings(self) -> list[str]:
        """Warnings found while loading (secret literals in development mode, file permissions…)."""
        return list(self._warnings)

    def connection(self, name: str) -> ConnectionConfig:
        """The connection called ``name``.

        Raises:
            KeyError: no such connection; the message lists the configured ones.
        """
        for conn in self.connections:
            if conn.name == name:
                return conn
        names = ", ".join(c.name for c in self.connections) or "none"
        raise KeyError(f"no connection named {name!r} (configured: {names})")

    def enabled_connections(self) -> list[ConnectionConfig]:
        """The connections that are synced."""
        return [c for c in self.connections if c.enabled]

    def schedule_for(self, connection: ConnectionConfig) -> Schedule:
        """The schedule of ``connection``, or the default one."""
        return connection.schedule or self.defaults.schedule
