"""The usage ledger: every record looked up, kept in a local SQLite file or a PostgreSQL database, for
reports and exports."""

from .ledger import Ledger, LedgerHealth, LedgerState, ledger_for, ledger_health

__all__ = ["Ledger", "LedgerHealth", "LedgerState", "ledger_for", "ledger_health"]
