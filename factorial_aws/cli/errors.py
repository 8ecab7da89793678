"""The CLI's one error type: a stable code, a message, and the exit status it ends with."""

from __future__ import annotations

#: Exit status of a command that failed (an API error, a failed task, a bad app reference).
EXIT_FAILURE = 1
#: Exit status of a command line that cannot be run as written (argparse's convention).
EXIT_USAGE = 2
#: Exit status after Ctrl-C (128 + SIGINT), the shell's convention.
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """Printed as ``error: <code>: <message>`` on stderr; the process exits with ``exit_code``."""

    def __init__(self, code: str, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    """The command line is wrong (exit status 2)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, exit_code=EXIT_USAGE)
