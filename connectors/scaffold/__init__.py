"""``arbridge new-connector NAME``: a connector package that installs, is discovered and passes the kit.

The template (``template/``, Jinja2) writes a distribution ``arbridge-connector-NAME`` with the
same files as every connector in this repository (connector, client, mapping, manifest, quality
checklist, README), a fake ERP serving a small REST API on loopback HTTP, the conformance target
that drives it, the one-line conformance test module, and a ``pyproject.toml`` that registers the
entry point and ships the package data.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

__all__ = ["Scaffold", "ScaffoldError", "render", "scaffold_for"]

TEMPLATE = Path(__file__).with_name("template")
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class ScaffoldError(ValueError):
    """The name is unusable or the destination is taken."""


@dataclass(frozen=True)
class Scaffold:
    """The names one connector's files use, all derived from its entry-point name."""

    name: str  # the entry-point name: "acme_erp"
    title: str  # "AcmeErp"
    cls: str  # "AcmeErpConnector"
    package: str  # "arbridge_connector_acme_erp"
    dist: str  # "arbridge-connector-acme-erp"


def scaffold_for(name: str) -> Scaffold:
    """The names for connector ``name``.

    Raises:
        ScaffoldError: ``name`` is not 2–40 lowercase letters, digits and underscores starting
            with a letter.
    """
    if not _NAME.match(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise ScaffoldError(
            f"connector name {name!r}: use 2-40 lowercase letters, digits and '_', starting with a letter"
            " (e.g. 'acme' or 'acme_erp')"
        )
    title = "".join(part.capitalize() for part in name.split("_") if part)
    return Scaffold(
        name=name,
        title=title,
        cls=f"{title}Connector",
        package=f"arbridge_connector_{name}",
        dist=f"arbridge-connector-{name.replace('_', '-')}",
    )


def render(name: str, destination: Path) -> Path:
    """Write the package for connector ``name`` into ``destination/arbridge-connector-NAME``.

    Returns:
        the project folder written.

    Raises:
        ScaffoldError: the name is unusable or the project folder already exists.
    """
    names = scaffold_for(name)
    project = destination / names.dist
    if project.exists():
        raise ScaffoldError(f"{project} already exists: choose another folder or remove it first")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = {field: getattr(names, field) for field in ("name", "title", "cls", "package", "dist")}
    for source in sorted(TEMPLATE.rglob("*.j2")):
        relative = source.relative_to(TEMPLATE).as_posix()
        target = project / relative.removesuffix(".j2").replace("PACKAGE", names.package).replace(
            "NAME", names.name
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.get_template(relative).render(**context), encoding="utf-8")
    return project
