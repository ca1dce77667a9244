"""The connector manifest (``manifest.json`` beside the connector's module) and its checks."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.base import Connector

REQUIRED_KEYS = ("name", "version", "capabilities", "permissions")


def manifest_path(connector: type[Connector]) -> Path:
    """Where ``connector``'s manifest lives: beside the module that defines the class."""
    return Path(inspect.getfile(connector)).with_name("manifest.json")


def load_manifest(connector: type[Connector]) -> dict[str, Any]:
    """Read ``connector``'s manifest.

    Raises:
        FileNotFoundError: the connector ships no manifest.
        ValueError: the manifest is not a JSON object.
    """
    path = manifest_path(connector)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a manifest must be a JSON object")
    return data


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in typing.get_args(annotation))


def manifest_problems(connector: type[Connector], manifest: dict[str, Any]) -> list[str]:
    """Every way ``manifest`` disagrees with the class it describes (empty when they agree)."""
    problems = [f"missing key {key!r}" for key in REQUIRED_KEYS if key not in manifest]
    if manifest.get("name") != connector.name:
        problems.append(f"name is {manifest.get('name')!r}, the class says {connector.name!r}")
    if manifest.get("version") != connector.version:
        problems.append(f"version is {manifest.get('version')!r}, the class says {connector.version!r}")
    caps = connector.capabilities
    declared = manifest.get("capabilities") or {}
    expected: dict[str, Any] = {
        "streams": sorted(s.value for s in caps.streams),
        "write_ops": sorted(o.value for o in caps.write_ops),
        "page_max": caps.page_max,
        "batch_max": caps.batch_max,
        "requests_per_minute": caps.requests_per_minute,
        "max_concurrency": caps.max_concurrency,
        "sorted_streams": sorted(s.value for s in caps.sorted_streams),
    }
    for key, value in expected.items():
        got = declared.get(key)
        if isinstance(value, list) and isinstance(got, list):
            got = sorted(got)
        if got != value:
            problems.append(f"capabilities.{key} is {declared.get(key)!r}, the class says {value!r}")
    permissions = manifest.get("permissions")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        problems.append("permissions must be a list of the ERP permissions the connector needs")
    fields = connector.settings_model.model_fields
    for name in manifest.get("secrets") or []:
        if name not in fields:
            problems.append(f"secret {name!r} is not a setting")
        elif not _mentions_secret(fields[name].annotation):
            problems.append(f"secret {name!r} is not typed SecretStr, so it would show in repr and logs")
    return problems
