"""Usage reports (pure): periods and groups from what people type, rows and totals, the table."""
