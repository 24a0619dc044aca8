"""What every ``smartcustoms`` command shares: help without type tags, progress bars on stderr, secrets off argv."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from typer.core import TyperArgument, TyperOption

#: exit statuses of the commands (README "Command line")
EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2

err = Console(stderr=True)


def hide_type_tags() -> None:
    """Rich help without Click's type tags (TEXT, INTEGER, PATH): each option's help says what it takes.

    Choices (``[a|b]``) and ranges (``x>=1``) stay: they tell the reader something. Typer has no setting for
    this, so the two parameter classes' ``display_type_rich`` are narrowed once, for this process.
    """
    for cls in (TyperOption, TyperArgument):
        if getattr(cls, "_sc_no_type_tags", False):
            continue
        original = cls.display_type_rich

        def shown(self, ctx, _original=original):  # type: ignore[no-untyped-def]
            choice = getattr(getattr(self, "type_descriptor", None), "is_choice", False)
            return _original(self, ctx) if choice else None

        cls.display_type_rich = shown  # type: ignore[method-assign]
        setattr(cls, "_sc_no_type_tags", True)  # noqa: B010 - a marker on a library class


def bars_enabled(quiet: bool) -> bool:
    """Progress bars only for a person watching: stderr is a terminal and ``--quiet`` was not given."""
    return not quiet and err.is_terminal


@contextmanager
def progress_bar(quiet: bool, *, bytes_total: bool = False) -> Iterator[Progress]:
    """A Rich progress display on stderr (transient: it leaves no trace), disabled when :func:`bars_enabled` is not."""
    count = TaskProgressColumn() if bytes_total else MofNCompleteColumn()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), count, TimeElapsedColumn(),
                  console=err, transient=True, disable=not bars_enabled(quiet)) as progress:
        yield progress


PASSWORD_ENV = "SMARTCUSTOMS_NEW_USER_PASSWORD"


def read_password(from_stdin: bool) -> str | None:
    """A new user's password, never from the command line: stdin's first line with ``--password-stdin``, else
    ``$SMARTCUSTOMS_NEW_USER_PASSWORD`` (scripts), else a hidden prompt typed twice when a person is at the
    terminal; ``None`` (no password: API keys only) when none of these gives one."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            err.print("error: --password-stdin: stdin gave no password")
            raise typer.Exit(EXIT_USAGE)
        return line
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        value = typer.prompt("password (empty: none, API keys only)", default="", show_default=False,
                             hide_input=True, confirmation_prompt=True)
        return value or None
    return None
