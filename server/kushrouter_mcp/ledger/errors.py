"""The ledger's one error (it can't be used as asked; the message says why and what to do), and
how an error reads as a phrase."""


class LedgerError(Exception):
    """The ledger can't be read or written; the message says why and what to do."""


def plain(error: Exception) -> str:
    """An error as a short phrase: the OS's words for OS errors, the driver's for its own."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return str(error) or type(error).__name__
