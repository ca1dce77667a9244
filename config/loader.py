"""Load and validate a deployment configuration file.

Everything wrong with a file is reported at once, each problem with its key path
(``connections[0].settings.realm_id``) and what was expected, so an admin fixes the file in one
pass. Messages name keys, never values: a value may be a secret.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
import stat
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, join_path
from config.model import DeploymentConfig
from config.secrets import LITERAL_HINT, Resolution, resolve_references, secret_field_paths
from connectors.base import Connector, ConnectorSettings
from connectors.registry import Registry, discover
from mapping.fieldmap import FieldMap, MapFileError
from mapping.models import Stream

__all__ = ["ConfigError", "default_config", "load_config", "parse_config"]

log = logging.getLogger("arbridge.config")

_LITERAL_REFUSED = (
    f"a secret must not be written in the file: {LITERAL_HINT} "
    "(or set allow_secret_literals: true for development)"
)


def load_config(
    path: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeploymentConfig:
    """Read, resolve and validate the deployment configuration at ``path``.

    Args:
        path: the YAML file. Relative paths inside it resolve against its directory.
        registry: the installed connectors each connection's ``settings`` are validated against;
            discovered from the ``arbridge.connectors`` entry points when None.
        environ: the environment secret references read from; ``os.environ`` when None.

    Returns:
        The validated configuration. Each connection whose connector is installed carries its
        ``validated_settings``; ``warnings`` lists what was accepted but should be fixed.

    Raises:
        ConfigError: the file is missing, not YAML, or not valid; ``errors`` lists every problem.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", f"configuration file {source} does not exist")], source=source) from None
    except IsADirectoryError:
        raise ConfigError([("", f"{source} is a directory, expected a YAML file")], source=source) from None
    except PermissionError:
        problem = f"{source} is not readable by this user (permission denied)"
        raise ConfigError([("", problem)], source=source) from None
    except UnicodeDecodeError:
        raise ConfigError([("", "expected UTF-8 text")], source=source) from None
    data, lines = _parse_yaml(text, source)
    mode = source.stat().st_mode if os.name == "posix" else None
    return _build(
        data,
        base_dir=source.absolute().parent,
        registry=registry,
        environ=environ,
        source=source,
        lines=lines,
        file_mode=mode,
    )


def parse_config(
    data: Any,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
    source: str | os.PathLike[str] | None = None,
) -> DeploymentConfig:
    """Resolve and validate a configuration that is already parsed (a dict, as YAML would give).

    Args:
        data: the configuration tree.
        base_dir: what relative paths resolve against; the current directory when None.
        registry: as for ``load_config``.
        environ: as for ``load_config``.
        source: where ``data`` came from, for messages.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: ``errors`` lists every problem.
    """
    return _build(
        data,
        base_dir=Path(base_dir).absolute() if base_dir is not None else Path.cwd(),
        registry=registry,
        environ=environ,
        source=Path(source) if source is not None else None,
    )


def default_config(
    state_dir: str | os.PathLike[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> DeploymentConfig:
    """The embedded configuration for demos and one-off runs: everything under ``state_dir``.

    The store is ``state_dir/arbridge.sqlite``, logs are text, and secret literals are accepted
    (sandbox credentials are not secrets) without warnings being logged.

    Args:
        state_dir: the directory for the state store; relative paths in ``overrides`` resolve
            against it too.
        overrides: keys deep-merged over the defaults, e.g. ``{"connections": [...]}``.
        registry: as for ``load_config``.
        environ: as for ``load_config``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: the overrides are not valid.
    """
    state = Path(state_dir).absolute()
    data: dict[str, Any] = {
        "version": 1,
        "allow_secret_literals": True,
        "store": {"url": f"sqlite:///{state / 'arbridge.sqlite'}"},
        "logging": {"level": "INFO", "format": "text"},
    }
    data = _deep_merge(data, overrides or {})
    return _build(data, base_dir=state, registry=registry, environ=environ, log_warnings=False)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: YAML would silently keep the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping reports it properly
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice (first on line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, source: Path) -> tuple[Any, dict[str, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([("", _yaml_message(exc))], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"expected valid YAML ({type(exc).__name__})")], source=source) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return data, lines


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    # Built from the parts, not str(exc): that quotes the offending line, which may hold a secret.
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    context = f" {exc.context}" if exc.context and exc.context_mark is not None else ""
    context_at = (
        f" started on line {exc.context_mark.line + 1}" if context and exc.context_mark is not None else ""
    )
    problem = exc.problem or "syntax error"
    detail = f" ({context.strip()}{context_at})" if context else ""
    return f"expected valid YAML at {where}: {problem}{detail}"


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            child = join_path(path, str(key_node.value))
            lines.setdefault(child, key_node.start_mark.line + 1)
            _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = join_path(path, i)
            lines.setdefault(child, item.start_mark.line + 1)
            _index_lines(item, child, lines)


# --- validation -------------------------------------------------------------------------------


def _build(
    data: Any,
    *,
    base_dir: Path,
    registry: Registry | None,
    environ: Mapping[str, str] | None,
    source: Path | None = None,
    lines: Mapping[str, int] | None = None,
    file_mode: int | None = None,
    log_warnings: bool = True,
) -> DeploymentConfig:
    if not isinstance(data, Mapping):
        what = "the file is empty" if data is None else f"got a {_kind(data)}"
        problem = f"expected a mapping of keys starting with 'version: 1' ({what})"
        raise ConfigError([("", problem)], source=source)
    env = os.environ if environ is None else environ
    resolution = resolve_references(data, environ=env, base_dir=base_dir)
    resolved: dict[str, Any] = resolution.data
    errors: list[tuple[str, str]] = []
    warnings: list[str] = []
    secret_paths: list[str] = []
    disabled = _disabled_connection_paths(resolved)
    for path, problem in resolution.errors:
        # A connection kept for later need not have its secrets provisioned on this host yet.
        if any(path.startswith(f"{d}.") for d in disabled):
            warnings.append(f"{path}: {problem}; the connection is disabled, so it is skipped")
        else:
            errors.append((path, problem))

    cfg: DeploymentConfig | None = None
    try:
        cfg = DeploymentConfig.model_validate(resolved, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors += _translate(exc, raw=resolved, model=DeploymentConfig, skip=resolution.unresolved)
    if cfg is not None:
        secret_paths += secret_field_paths(cfg, resolved)
        errors += _check_files(cfg)
        errors += _check_dunning_policy(cfg)
        errors += _check_mapping_overrides(cfg)
        errors += _check_workers(cfg)
    secret_paths += _store_password_literal(resolved)

    validated = _validate_connections(resolved, registry, resolution, errors, warnings, secret_paths)
    dev_mode = resolved.get("dev_mode") is True
    if dev_mode:
        warnings.append(
            "dev_mode: true: development mode allows settings that weaken security; never in production"
        )
    _check_tls(validated, dev_mode, base_dir, errors, warnings)

    literals = [p for p in secret_paths if p not in resolution.references and p not in resolution.unresolved]
    if literals:
        if resolved.get("allow_secret_literals") is True:
            warnings += [
                f"{p}: a secret is written in the file (allowed by allow_secret_literals for development); "
                f"for production {LITERAL_HINT}"
                for p in literals
            ]
        else:
            errors += [(p, _LITERAL_REFUSED) for p in literals]
    if literals and file_mode is not None and file_mode & 0o077:
        warnings.append(
            f"the configuration file is readable by other users (mode {stat.S_IMODE(file_mode):04o}) and "
            f"holds secrets in plain text at {', '.join(literals)}; run: chmod 600 {source}"
        )

    if errors:
        ordered = sorted(_dedupe(errors), key=lambda e: _line_of(e[0], lines or {}))
        scrubbed = [(path, resolution.scrub(msg)) for path, msg in ordered]
        raise ConfigError(scrubbed, source=source, lines=lines) from None
    assert cfg is not None  # no errors means the model validated

    raw_connections = data.get("connections") or []
    for i, conn in enumerate(cfg.connections):
        # Keep the settings as written: references, not the secrets they point to.
        conn.settings = copy.deepcopy(dict(raw_connections[i].get("settings") or {}))
        settings, streams = validated.get(i, (None, None))
        if settings is not None:
            conn.set_validated_settings(settings)
        if conn.streams is None and streams is not None:
            conn.streams = streams
    cfg._source = source
    cfg._warnings = [resolution.scrub(w) for w in warnings]
    if log_warnings:
        for warning in cfg._warnings:
            log.warning("%s%s", f"{source}: " if source else "", warning)
    return cfg


def _validate_connections(
    resolved: Mapping[str, Any],
    registry: Registry | None,
    resolution: Resolution,
    errors: list[tuple[str, str]],
    warnings: list[str],
    secret_paths: list[str],
) -> dict[int, tuple[ConnectorSettings, list[Stream] | None]]:
    """Validate each connection's settings with its connector; returns them by connection index."""
    validated: dict[int, tuple[ConnectorSettings, list[Stream] | None]] = {}
    connections = resolved.get("connections")
    if not isinstance(connections, list):
        return validated
    for i, conn in enumerate(connections):
        if not isinstance(conn, Mapping) or not isinstance(conn.get("connector"), str):
            continue  # the model already reported it
        path = join_path("connections", i)
        if registry is None:
            registry = discover()
        name = conn["connector"]
        cls, problem = _connector_class(registry, name)
        if cls is None:
            if conn.get("enabled", True) is False:
                warnings.append(f"{path}.connector: {problem}; the connection is disabled, so it is skipped")
            else:
                errors.append((f"{path}.connector", problem))
            continue
        settings_raw = conn.get("settings", {})
        if settings_raw is None:
            settings_raw = {}
        if not isinstance(settings_raw, Mapping):
            continue  # the model already reported it
        prefix = f"{path}.settings"
        try:
            settings = cls.settings_model.model_validate(dict(settings_raw))
        except ValidationError as exc:
            errors.extend(
                _translate(
                    exc, raw=settings_raw, model=cls.settings_model, skip=resolution.unresolved, prefix=prefix
                )
            )
            continue
        except Exception as exc:  # a connector bug must read as one, not crash the config check
            problem = f"connector {name!r} failed validating its settings ({type(exc).__name__})"
            errors.append((prefix, problem))
            continue
        secret_paths.extend(secret_field_paths(settings, settings_raw, prefix))
        if any(u.startswith(f"{path}.") for u in resolution.unresolved):
            continue  # disabled with secrets missing: not runnable, so no validated settings
        readable = [s for s in Stream if s in cls.capabilities.streams]
        wanted = conn.get("streams")
        if isinstance(wanted, list):
            unread = [s for s in wanted if isinstance(s, str) and s in set(Stream) and s not in readable]
            if unread:
                errors.append(
                    (
                        f"{path}.streams",
                        f"expected streams connector {name!r} reads ({', '.join(readable)}); "
                        f"it does not read {', '.join(map(str, unread))}",
                    )
                )
        validated[i] = (settings, readable)
    return validated


def _check_tls(
    validated: dict[int, tuple[ConnectorSettings, list[Stream] | None]],
    dev_mode: bool,
    base_dir: Path,
    errors: list[tuple[str, str]],
    warnings: list[str],
) -> None:
    """ERP calls verify TLS: ``verify_tls: false`` only in development mode; a ``ca_bundle`` must exist.

    Connectors that speak HTTP name these settings ``verify_tls`` and ``ca_bundle`` (see
    ``connectors.http``); a relative ``ca_bundle`` is read from the configuration's directory.
    """
    for i, (settings, _) in sorted(validated.items()):
        path = join_path(join_path("connections", i), "settings")
        if getattr(settings, "verify_tls", True) is False:
            if dev_mode:
                warnings.append(
                    f"{path}.verify_tls: this ERP's TLS certificate is NOT verified (dev_mode): anyone on "
                    "the network path can read and change the traffic"
                )
            else:
                errors.append(
                    (
                        f"{path}.verify_tls",
                        "expected true: TLS verification of ERP calls can be turned off only with "
                        "dev_mode: true at the top of the file (for a local test ERP); for a private or "
                        "corporate CA set ca_bundle to its PEM file instead",
                    )
                )
        bundle = getattr(settings, "ca_bundle", None)
        if isinstance(bundle, str) and bundle:
            file = Path(bundle).expanduser()
            file = file if file.is_absolute() else base_dir / file
            if file.is_file():
                settings.ca_bundle = str(file)  # type: ignore[attr-defined]
            else:
                errors.append(
                    (f"{path}.ca_bundle", f"expected an existing CA bundle file (PEM): {file} was not found")
                )


def _disabled_connection_paths(resolved: Mapping[str, Any]) -> set[str]:
    connections = resolved.get("connections")
    if not isinstance(connections, list):
        return set()
    return {
        join_path("connections", i)
        for i, conn in enumerate(connections)
        if isinstance(conn, Mapping) and conn.get("enabled") is False
    }


def _connector_class(registry: Registry, name: str) -> tuple[type[Connector] | None, str]:
    installed = registry.names()
    listing = ", ".join(installed) or "none"
    if name in registry.broken:
        return None, f"connector {name!r} is installed but failed to load: {registry.broken[name].error}"
    if name not in installed:
        close = difflib.get_close_matches(name, installed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return None, f"expected an installed connector, one of: {listing}; no connector named {name!r}{hint}"
    cls = registry.get(name)
    model = getattr(cls, "settings_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None, f"connector {name!r} is broken: its settings_model is not a pydantic model"
    if not hasattr(getattr(cls, "capabilities", None), "streams"):
        return None, f"connector {name!r} is broken: it declares no capabilities"
    return cls, ""


def _check_files(cfg: DeploymentConfig) -> list[tuple[str, str]]:
    """Files the enabled rules need must exist now, not at the first run at 3 a.m."""
    problems = []
    for path, enabled, file in (
        ("rules.dunning.policy", cfg.rules.dunning.enabled, cfg.rules.dunning.policy),
        ("rules.cashapp.rules", cfg.rules.cashapp.enabled, cfg.rules.cashapp.rules),
    ):
        if enabled and file is not None and not file.is_file():
            problems.append((path, f"expected an existing file: {file} was not found"))
    templates = cfg.rules.dunning.templates
    if cfg.rules.dunning.enabled and templates is not None and not templates.is_dir():
        problems.append(
            ("rules.dunning.templates", f"expected an existing folder: {templates} was not found")
        )
    return problems


def _check_dunning_policy(cfg: DeploymentConfig) -> list[tuple[str, str]]:
    """A policy that cannot be read is a configuration error now, not a failed cycle later."""
    dunning = cfg.rules.dunning
    if not dunning.enabled:
        return []
    from config.dunning_policy import load_dunning_policy, policy_problems

    problems: list[tuple[str, str]] = []
    if dunning.policy is not None and dunning.policy.is_file():
        try:
            load_dunning_policy(dunning.policy)
        except ConfigError as exc:
            problems += [("rules.dunning.policy", problem) for problem in policy_problems(exc)]
    rates = dunning.worklist.fx_rates
    if rates is not None:
        from rules.dunning.csvio import FileError
        from rules.dunning.fx import read_fx_rates

        try:
            read_fx_rates(rates, str(dunning.worklist.reporting_currency))
        except FileError as exc:
            problems.append(("rules.dunning.worklist.fx_rates", str(exc)))
    return problems


def _check_workers(cfg: DeploymentConfig) -> list[tuple[str, str]]:
    """Workers share their task queue and state through PostgreSQL; a SQLite file serves one process."""
    if cfg.workers.distributed and cfg.store.is_sqlite:
        return [
            (
                "workers.engine",
                "expected store.url on PostgreSQL (postgresql+psycopg://user@host/db) for 'procrastinate': "
                "its workers share the task queue and the state through that database, and a SQLite "
                "file serves a single process; with SQLite keep workers.engine: local",
            )
        ]
    return []


def _check_mapping_overrides(cfg: DeploymentConfig) -> list[tuple[str, str]]:
    """A mapping override naming a field the canonical model lacks would silently do nothing."""
    problems = []
    for i, conn in enumerate(cfg.connections):
        if not conn.mapping:
            continue
        try:
            FieldMap(conn.mapping)
        except MapFileError as exc:
            where, sep, what = str(exc).partition(": ")
            path = f"connections[{i}].mapping"
            problems.append((f"{path}.{where}", what) if sep else (path, str(exc)))
    return problems


def _store_password_literal(resolved: Mapping[str, Any]) -> list[str]:
    store = resolved.get("store")
    url = store.get("url") if isinstance(store, Mapping) else None
    if not isinstance(url, str):
        return []
    try:
        has_password = bool(urlsplit(url).password)
    except ValueError:
        return []
    # A reference anywhere in the URL means the password was (very likely) the part referenced.
    return ["store.url"] if has_password else []


# --- pydantic errors → (key path, expectation) ------------------------------------------------


def _translate(
    exc: ValidationError,
    *,
    raw: Any,
    model: type[BaseModel],
    skip: set[str],
    prefix: str = "",
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        keys = _loc_to_keys(err["loc"], raw, err["type"])
        path = prefix
        for key in keys:
            path = join_path(path, key)
        if any(path == s or path.startswith((f"{s}.", f"{s}[")) for s in skip):
            continue  # an unresolvable reference already explains this
        out.append((path, _expectation(err, model, keys)))
    return out


def _loc_to_keys(loc: tuple[int | str, ...], raw: Any, kind: str) -> list[str | int]:
    """The keys as written in the file, dropping the union tags pydantic inserts into ``loc``."""
    keys: list[str | int] = []
    node = raw
    for n, part in enumerate(loc):
        last = n == len(loc) - 1
        if isinstance(node, Mapping) and str(part) in node:
            keys.append(str(part))
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            keys.append(part)
            node = node[part]
        elif last and (kind in ("missing", "extra_forbidden") or isinstance(node, Mapping)):
            keys.append(part)
        # anything else is a union member's tag, not a key the admin wrote
    return keys


def _expectation(err: Mapping[str, Any], model: type[BaseModel], keys: list[str | int]) -> str:
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    given = err.get("input")
    if kind == "missing":
        return "a required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, keys[:-1])
        if allowed is None:
            return "unknown key"
        close = difflib.get_close_matches(str(keys[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (expected one of: {', '.join(allowed)})"
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err["msg"]))
        return text if text.startswith("expected") else f"expected {text[:1].lower()}{text[1:]}"
    if kind == "string_type":
        hint = ' (put quotes around it, e.g. "0123")' if isinstance(given, int | float) else ""
        return f"expected a string{hint}"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected')}"
    if kind.startswith("date_") or kind == "date_type":
        return "expected a date written YYYY-MM-DD, e.g. 2026-12-24"
    if kind.startswith("time_") or kind == "time_type":
        return 'expected a time written HH:MM in quotes, e.g. "08:00"'
    if kind.startswith("int_"):
        return "expected a whole number"
    if kind.startswith("bool_"):
        return "expected true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys (got a {_kind(given)})"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list (got a {_kind(given)})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "expected a number " + err["msg"].removeprefix("Input should be ")
    msg: str = err["msg"]
    if msg.startswith("Input should be "):
        return "expected " + msg.removeprefix("Input should be ")
    return f"expected a valid value: {msg[:1].lower()}{msg[1:]}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _allowed_keys(model: type[BaseModel], keys: list[str | int]) -> list[str] | None:
    """The keys a mapping at ``keys`` inside ``model`` accepts (None when it cannot be told)."""
    current: Any = model
    for key in keys:
        current = _step(current, key)
        if current is None:
            return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return None


def _step(annotation: Any, key: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not isinstance(key, str):
            return None
        for name, info in annotation.model_fields.items():
            if key in (name, info.alias):
                return _unwrap(info.annotation)
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and isinstance(key, int) and args:
        return _unwrap(args[0])
    if origin is dict and isinstance(key, str) and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` so a model type or a container remains."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            return annotation


def _line_of(path: str, lines: Mapping[str, int]) -> int:
    """The line of ``path`` or of its nearest ancestor in the file, so errors read top to bottom."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return 0


def _dedupe(errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in errors:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
