"""What makes the ``vidlab`` commands one tool: command groups, hidden aliases, help text.

- :class:`RunByDefault`: a command group (``vidlab detect``) whose first word may be
  left out for its main command: ``vidlab detect VIDEO ...`` is ``vidlab detect run
  VIDEO ...`` (the form before the groups existed).
- :func:`alias`: an old flat name (``detect-train``) kept, hidden from ``--help``,
  for the same function as the new grouped one (``detect train``).
- :func:`rewrap_help`: docstrings keep their source line breaks; the help panels
  want paragraphs, so single line breaks inside a paragraph become spaces (bullets,
  indented lines and ``\\b`` blocks are kept as they are).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

try:  # recent Typer releases carry their own copy of Click: its exceptions are the ones raised
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - a Typer that uses the Click package
    from click import exceptions as click_errors  # type: ignore[no-redef]

__all__ = ["click_errors", "RunByDefault", "alias", "rewrap_help", "rewrap_tree"]


class RunByDefault(TyperGroup):
    """A group that runs its ``run`` command when the first argument is not one of its commands."""

    default_command = "run"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help") and self.default_command in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def alias(app: typer.Typer, name: str, fn: Callable[..., Any]) -> None:
    """Register ``fn`` once more as ``vidlab NAME``, hidden from the command list."""
    app.command(name, hidden=True)(fn)


_LIST_ITEM = re.compile(r"^\s*(?:[-*]\s|\d+[.)]\s|\s)")


def rewrap_help(text: str | None) -> str | None:
    """``text`` with the single line breaks inside each paragraph turned into spaces."""
    if not text:
        return text
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip("\n")):
        lines = para.split("\n")
        if lines[0].startswith("\b"):
            paragraphs.append(para)
            continue
        out = [lines[0].rstrip()]
        for line in lines[1:]:
            if _LIST_ITEM.match(line):
                out.append(line.rstrip())
            else:
                out[-1] = f"{out[-1]} {line.strip()}"
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs)


def rewrap_tree(command: Any) -> Any:
    """:func:`rewrap_help` on ``command`` and every command under it (in place); returns it."""
    command.help = rewrap_help(command.help)
    if command.short_help:
        command.short_help = rewrap_help(command.short_help)
    for sub in (getattr(command, "commands", None) or {}).values():
        rewrap_tree(sub)
    return command
