"""User-facing errors. The CLI prints their message as one line, no traceback."""


class JaxlmError(Exception):
    """A problem the user can fix (bad input, missing file, impossible setting); the message
    names what is wrong and, where possible, the fix."""
