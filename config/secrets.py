"""Secrets by reference: ``${ENV_VAR}``, ``${file:/path}``, ``${credential:name}``.

Any string in the configuration may contain references; they are replaced before validation, so a
field the models type as ``SecretStr`` receives the secret and masks it from then on. The
configuration file itself then holds no secret and can live in version control.

* ``${NAME}`` or ``${env:NAME}``: the environment variable ``NAME``.
* ``${file:/run/secrets/qbo}``: the content of a file, without its trailing newline; a relative
  path is relative to the configuration file.
* ``${credential:qbo}``: the systemd credential ``qbo`` (``LoadCredential=qbo:/etc/…`` in the
  unit), read from ``$CREDENTIALS_DIRECTORY/qbo``.
* ``$${`` writes a literal ``${``.

A plain string where a secret is expected (a "secret literal") is refused unless the
configuration sets ``allow_secret_literals: true`` for development.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from config.errors import join_path

__all__ = [
    "LITERAL_HINT",
    "Resolution",
    "contains_reference",
    "resolve_references",
    "secret_field_paths",
]

LITERAL_HINT = "use ${ENV_VAR}, ${file:/path/to/file} or ${credential:name}"
MAX_SECRET_FILE_BYTES = 1_048_576

_TOKEN = re.compile(r"(?P<escape>\$\$\{)|\$\{(?P<ref>[^}]*)\}|(?P<open>\$\{)")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_@:.-]+$")


class UnresolvableReference(ValueError):
    """A reference that cannot be resolved; the message names what is missing, never a value."""


@dataclass
class Resolution:
    """The configuration tree with references replaced.

    Attributes:
        data: the tree with every reference replaced (unresolvable ones by an empty string).
        references: key paths of strings that contained at least one reference.
        errors: ``(key path, problem)`` for each reference that could not be resolved.
        values: the resolved values, so messages can be scrubbed of them (see ``scrub``).
    """

    data: Any
    references: set[str] = field(default_factory=set)
    errors: list[tuple[str, str]] = field(default_factory=list)
    values: set[str] = field(default_factory=set, repr=False)

    def scrub(self, text: str) -> str:
        """Replace every resolved value in ``text`` by ``***``.

        Our own messages never contain values; this guards against a connector's settings
        validator that quotes its input in an error message.
        """
        # Longest first, so a secret containing a shorter one is masked whole; very short values
        # are skipped because masking them would garble ordinary words.
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    @property
    def unresolved(self) -> set[str]:
        """Key paths whose references failed (their validation errors would only repeat the problem)."""
        return {path for path, _ in self.errors}


def contains_reference(text: str) -> bool:
    """True when ``text`` contains at least one ``${…}`` reference (escaped ``$${`` does not count)."""
    return any(m.group("ref") is not None for m in _TOKEN.finditer(text))


def resolve_references(
    data: Any, *, environ: Mapping[str, str], base_dir: Path | None = None, prefix: str = ""
) -> Resolution:
    """Replace every reference in every string of ``data``.

    Args:
        data: the parsed configuration (dicts, lists, scalars).
        environ: the environment to read ``${NAME}`` and ``CREDENTIALS_DIRECTORY`` from.
        base_dir: the directory relative ``${file:…}`` paths are read from (the current one if None).
        prefix: the key path of ``data`` inside the whole configuration.

    Returns:
        The resolved tree, the key paths that held references, and the references that failed.
    """
    resolution = Resolution(data=None)
    resolution.data = _walk(data, prefix, resolution, environ, base_dir or Path.cwd())
    return resolution


def _walk(node: Any, path: str, res: Resolution, environ: Mapping[str, str], base_dir: Path) -> Any:
    if isinstance(node, Mapping):
        return {k: _walk(v, join_path(path, str(k)), res, environ, base_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, join_path(path, i), res, environ, base_dir) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        return _resolve_string(node, path, res, environ, base_dir)
    return node


def _resolve_string(text: str, path: str, res: Resolution, environ: Mapping[str, str], base_dir: Path) -> str:
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        if match.group("escape"):
            return "${"
        if match.group("open"):
            failed = True
            problem = "unterminated reference: expected '}' after '${' (write $${ for a literal ${)"
            res.errors.append((path, problem))
            return ""
        res.references.add(path)
        try:
            value = _resolve_one(match.group("ref").strip(), environ, base_dir)
        except UnresolvableReference as exc:
            failed = True
            res.errors.append((path, str(exc)))
            return ""
        res.values.add(value)
        return value

    value = _TOKEN.sub(replace, text)
    return "" if failed else value


def _resolve_one(ref: str, environ: Mapping[str, str], base_dir: Path) -> str:
    kind, sep, arg = ref.partition(":")
    if not sep:
        kind, arg = "env", ref
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind == "env":
        if not _ENV_NAME.match(arg):
            raise UnresolvableReference(
                f"expected an environment variable name in ${{{arg}}} (letters, digits, _)"
            )
        if arg not in environ:
            raise UnresolvableReference(f"environment variable {arg} is not set")
        return environ[arg]
    if kind == "file":
        if not arg:
            raise UnresolvableReference("expected a path in ${file:…}")
        target = Path(arg).expanduser()
        if not target.is_absolute():
            target = base_dir / target
        return _read_secret_file(target, what=f"file {target}")
    if kind == "credential":
        if not _CREDENTIAL_NAME.match(arg) or arg in (".", ".."):
            raise UnresolvableReference(
                "expected a credential name (letters, digits, '_', '-', '.') in ${credential:…}"
            )
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise UnresolvableReference(
                f"credential {arg!r} needs CREDENTIALS_DIRECTORY, which systemd sets when the unit has "
                f"LoadCredential={arg}:/path/to/secret (it is not set)"
            )
        return _read_secret_file(
            Path(directory) / arg, what=f"credential {arg!r} in CREDENTIALS_DIRECTORY ({directory})"
        )
    raise UnresolvableReference(f"unknown reference kind {kind!r}: {LITERAL_HINT}")


def _read_secret_file(path: Path, *, what: str) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UnresolvableReference(f"{what} does not exist") from None
    except IsADirectoryError:
        raise UnresolvableReference(f"{what} is a directory, expected a file") from None
    except PermissionError:
        raise UnresolvableReference(f"{what} is not readable by this user (permission denied)") from None
    except OSError as exc:
        raise UnresolvableReference(f"{what} could not be read ({exc.strerror})") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise UnresolvableReference(f"{what} is larger than {MAX_SECRET_FILE_BYTES} bytes, expected a secret")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnresolvableReference(f"{what} is not UTF-8 text") from None
    # Editors and `echo` add a final newline that is never part of the secret.
    return text.rstrip("\r\n")


def secret_field_paths(obj: Any, raw: Any, prefix: str = "") -> list[str]:
    """Key paths (as written in ``raw``) whose validated value in ``obj`` is a secret type.

    Walks a validated model and the data it was validated from side by side, so aliases, nested
    models, lists and dicts map back to the keys the admin wrote. Values that came from defaults
    rather than from the file are skipped.

    Args:
        obj: a validated pydantic model (or a value inside one).
        raw: the data ``obj`` was validated from.
        prefix: the key path of ``raw`` in the whole configuration.

    Returns:
        The key paths of every ``SecretStr``/``SecretBytes`` value that came from the file.
    """
    if isinstance(obj, SecretStr | SecretBytes):
        return [prefix]
    found: list[str] = []
    if isinstance(obj, BaseModel) and isinstance(raw, Mapping):
        for name, info in type(obj).model_fields.items():
            key = info.alias if info.alias and info.alias in raw else name
            if key in raw:
                found += secret_field_paths(getattr(obj, name, None), raw[key], join_path(prefix, key))
    elif isinstance(obj, list | tuple) and isinstance(raw, list):
        for i, (item, raw_item) in enumerate(zip(obj, raw, strict=False)):
            found += secret_field_paths(item, raw_item, join_path(prefix, i))
    elif isinstance(obj, Mapping) and isinstance(raw, Mapping):
        for key, value in obj.items():
            if key in raw:
                found += secret_field_paths(value, raw[key], join_path(prefix, str(key)))
    return found
