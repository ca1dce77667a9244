"""The one error a configuration problem raises, and how key paths are written."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["ConfigError", "format_path", "join_path"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(prefix: str, key: str | int) -> str:
    """Append one key or list index to a key path: ``connections`` + 0 → ``connections[0]``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    part = key if _PLAIN_KEY.match(key) else f"[{key!r}]"
    if part.startswith("["):
        return f"{prefix}{part}"
    return f"{prefix}.{part}" if prefix else part


def format_path(parts: Iterable[str | int]) -> str:
    """A key path from its parts: ``('connections', 0, 'settings')`` → ``connections[0].settings``."""
    path = ""
    for part in parts:
        path = join_path(path, part)
    return path


class ConfigError(Exception):
    """The configuration is not usable; ``errors`` says where and what was expected.

    Attributes:
        errors: one ``(key path, what was expected)`` pair per problem, e.g.
            ``("connections[0].settings.realm_id", "expected a string")``. The key path is empty for
            problems with the file as a whole.
        source: the configuration file, when there is one.
        lines: the line number of key paths that could be located in the file.

    The message never contains a configuration value, only key paths and expectations, so it is
    safe to log even when the value was a secret.
    """

    def __init__(
        self,
        errors: Sequence[tuple[str, str]],
        *,
        source: Path | str | None = None,
        lines: Mapping[str, int] | None = None,
    ) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        self.source = Path(source) if source is not None else None
        self.lines: dict[str, int] = dict(lines or {})
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        count = len(self.errors)
        head = f"invalid configuration{where}: {count} problem{'s' if count != 1 else ''}"
        body = []
        for path, expected in self.errors:
            line = self.lines.get(path)
            at = f" (line {line})" if line else ""
            body.append(f"  {path or '(file)'}{at}: {expected}")
        return "\n".join([head, *body])

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (multiprocessing workers).
        return (_rebuild, (self.errors, self.source, self.lines))


def _rebuild(errors: list[tuple[str, str]], source: Path | None, lines: dict[str, int]) -> ConfigError:
    return ConfigError(errors, source=source, lines=lines)
