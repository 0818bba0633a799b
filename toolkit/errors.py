"""One root for every error the CLI reports as a one-line cause plus a fix."""
from __future__ import annotations


class NpinError(Exception):
    """A user-facing failure: ``str(e)`` names the problem, ``hint`` the fix."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class ConfigError(NpinError):
    pass


class BuildError(NpinError):
    pass


class MismatchError(NpinError):
    pass
