"""What tests compare records with: the API's own fields, without the estimate this server adds."""

from __future__ import annotations

from typing import Any

from kushrouter_mcp.records.models import ESTIMATE_KEY


def api_fields(record: object) -> dict[str, Any]:
    """The record as the API has it: every field but the `estimated_cost` added beside them.

    Fails when the estimate is missing: every record a tool answers with carries one.
    """
    assert isinstance(record, dict), record
    assert isinstance(record.get(ESTIMATE_KEY), dict), f"no {ESTIMATE_KEY} on {record.get('id')}"
    return {name: value for name, value in record.items() if name != ESTIMATE_KEY}
