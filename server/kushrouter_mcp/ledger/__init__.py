"""The usage ledger: every record looked up, kept in a local SQLite file or a PostgreSQL database, for
reports and exports."""

from .ledger import Ledger, LedgerState, ledger_for

__all__ = ["Ledger", "LedgerState", "ledger_for"]
