"""The JSON schema of the configuration file, for editors (``# yaml-language-server: $schema=``).

Regenerate the committed ``config/schema.json`` after changing the models::

    python -m config.schema            # rewrite config/schema.json
    python -m config.schema --check    # exit 1 if it is out of date (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config.model import DeploymentConfig

__all__ = ["SCHEMA_PATH", "generate_schema", "main", "render_schema"]

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def generate_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of a deployment configuration file."""
    schema = DeploymentConfig.model_json_schema(mode="validation")
    schema["$id"] = "https://github.com/arbridge/arbridge/config/schema.json"
    return schema


def render_schema() -> str:
    """The schema as the committed file holds it: sorted keys, two-space indent, final newline."""
    return json.dumps(generate_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``config/schema.json``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m config.schema", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed schema is out of date")
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH, help="where to write the schema")
    args = parser.parse_args(argv)
    text = render_schema()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run: python -m config.schema", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
