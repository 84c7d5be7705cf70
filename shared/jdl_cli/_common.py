"""Shared CLI helpers: turn JdlError (and bad OS conditions) into one clear line and exit 2."""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import typer

from jdl_core.errors import JdlError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> "typer.Exit":
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def clear_errors(fn: F) -> F:
    """Decorator: a JdlError or OSError becomes one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JdlError as e:
            raise fail(str(e)) from None
        except OSError as e:
            raise fail(f"{e.strerror or e.__class__.__name__}: {e.filename or ''}".rstrip(": ")) from None
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
