"""Directories jaxlm writes to (a run's workdir, the data cache), checked before any work starts."""

from __future__ import annotations

import pathlib
import tempfile

from jaxlm.errors import JaxlmError


def writable_directory(path: str | pathlib.Path, key: str, fix: str) -> pathlib.Path:
    """`path` created if missing and proven writable by creating a file in it; otherwise a
    one-line `JaxlmError` naming `key`, the path, the reason and `fix`."""
    directory = pathlib.Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise JaxlmError(f"{key}: cannot write to {directory} ({reason}); {fix}") from None
    return directory
