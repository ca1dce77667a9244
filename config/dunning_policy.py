"""Loading a dunning policy file with the same care as the deployment file.

Every problem is reported at once with its key path inside the policy file and its line
(``policies.standard.levels[1].fee.EUR (line 42): expected an amount of 0 or more, got -5``), so
the command line and the daemon exit with code 2 and a message an administrator can act on, never
with a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from config.errors import ConfigError
from config.loader import _line_of, _parse_yaml, _translate
from config.model import BUILTIN_POLICY
from rules.dunning.policy import DunningPolicy

__all__ = ["BUILTIN_POLICY", "PolicyError", "load_dunning_policy", "policy_problems"]


class PolicyError(ConfigError):
    """A dunning policy file that is not usable: every problem with its key path and line."""

    def _render(self) -> str:
        count = len(self.errors)
        head = f"invalid dunning policy {self.source}: {count} problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {line}" for line in _lines(self))])


def _lines(exc: ConfigError) -> list[str]:
    out = []
    for path, expected in exc.errors:
        line = _line_of(path, exc.lines)
        at = f" (line {line})" if line else ""
        out.append(f"{path or '(file)'}{at}: {expected}")
    return out


def load_dunning_policy(path: str | os.PathLike[str] | None) -> DunningPolicy:
    """Read and validate a policy file; ``None`` gives the built-in policy.

    Raises:
        PolicyError: the file is missing, not YAML, or not a valid policy; ``errors`` lists every
            problem with its key path in the policy file, ``lines`` their lines.
    """
    source = Path(path) if path is not None else BUILTIN_POLICY
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([("", "the file does not exist")], source=source) from None
    except IsADirectoryError:
        raise PolicyError([("", f"{source} is a directory, expected a YAML file")], source=source) from None
    except PermissionError:
        raise PolicyError([("", f"{source} is not readable by this user")], source=source) from None
    except UnicodeDecodeError:
        raise PolicyError([("", "expected UTF-8 text")], source=source) from None
    try:
        data, lines = _parse_yaml(text, source)
    except ConfigError as exc:
        raise PolicyError(exc.errors, source=source) from None
    if not isinstance(data, dict):
        what = "the file is empty" if data is None else "it is not a mapping of keys"
        raise PolicyError(
            [("", f"expected a dunning policy starting with 'version: 1' ({what})")], source=source
        )
    try:
        return DunningPolicy.model_validate(data)
    except ValidationError as exc:
        errors = sorted(
            _translate(exc, raw=data, model=DunningPolicy, skip=set()), key=lambda e: _line_of(e[0], lines)
        )
        raise PolicyError(errors, source=source, lines=lines) from None


def policy_problems(exc: ConfigError) -> list[str]:
    """A policy's problems as single lines naming the file, the key path and the line."""
    return [f"{exc.source}: {line}" for line in _lines(exc)]
