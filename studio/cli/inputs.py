"""Checks on what a user typed, shared by the commands: numbers in their documented ranges and text
that is valid Unicode. Both run before any model is touched, so a typo costs nothing."""

from __future__ import annotations

import argparse
import sys

from studio.cli.exits import CliError


def check_numbers(args: argparse.Namespace, table: dict[str, str]) -> None:
    """Each option (argparse dest → its entry in studio.core.limits) inside its range, or CliError
    naming the option and the range. An unset option is skipped."""
    from studio.core.limits import OutOfRange, check
    for dest, name in table.items():
        value = getattr(args, dest)
        if value is None:
            continue
        try:
            check(name, value, "--" + dest.replace("_", "-"))
        except OutOfRange as exc:
            raise CliError.from_error(exc) from None


def stdin_bytes() -> bytes:
    """Raw bytes, so text that is not UTF-8 is reported instead of raising mid-read."""
    stream = getattr(sys.stdin, "buffer", None)
    return stream.read() if stream is not None else sys.stdin.read().encode("utf-8", "surrogateescape")


def checked_text(value: str | bytes, what: str, hint: str = "") -> str:
    """Text from argv or stdin that is valid Unicode, or CliError saying which byte is not.
    Refused rather than repaired: a reply to a guessed-at prompt would hide the problem."""
    from studio.core.limits import BadText, check_text
    try:
        return check_text(value, what)
    except BadText as exc:
        raise CliError(exc.kind, f"{exc} ({hint})" if hint else str(exc)) from None
