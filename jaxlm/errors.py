"""User-facing errors. The CLI prints their message as one line, no traceback."""


class JaxlmError(Exception):
    """A problem the user can fix (bad input, missing file, impossible setting); the message
    names what is wrong and, where possible, the fix."""


PEER_LOST_EXIT_CODE = 75  # EX_TEMPFAIL: try again (restart every process of the run)


class PeerLostError(JaxlmError):
    """Another process of a multi-process run stopped answering (it died or was killed); this one
    cannot go on. The CLI exits at once: the distributed runtime's exit would wait for the peer."""
