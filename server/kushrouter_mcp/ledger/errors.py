"""The ledger's one error: it can't be used as asked; the message says why and what to do."""


class LedgerError(Exception):
    """The ledger can't be read or written; the message says why and what to do."""
