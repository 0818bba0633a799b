"""One root for every error the CLI reports as a one-line cause plus a fix.

Every package derives its errors from NpinError, so `npin` prints any of them the same way (the
message, then `hint:`) without translating per command. A class may carry a default hint; a raise
site may pass a more specific one.
"""
from __future__ import annotations


class NpinError(Exception):
    """A user-facing failure: ``str(e)`` names the problem, ``hint`` the fix."""

    hint: str = ""

    def __init__(self, message: str = "", hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(NpinError):
    """A file, flag or model the user gave is unusable."""


class BuildError(NpinError):
    """A toolchain step failed."""


class MismatchError(NpinError):
    """Two rungs of the parity ladder, or a run and its baseline, disagree."""
