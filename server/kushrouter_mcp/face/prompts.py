"""The audit_usage prompt: how an agent audits the token usage of its own requests."""

from __future__ import annotations

AUDIT_USAGE_DESCRIPTION = (
    "Audit the token usage of LLM requests made through KushRouter: find their generation ids, look "
    "them all up in one batch, and report token and cost totals and anomalies."
)

_STEPS = """\
Audit the token usage of {scope} made through KushRouter.

1. Collect the generation ids. For every response body, captured stream or log you hold, call \
extract_generation_id with the payload unedited; note each id with the model, endpoint and usage the \
payload itself reported. Ids you already have as text (chatcmpl-…, resp_…, msg_…) need no extraction.
2. Look them all up in one call: get_generations with "ids" (up to 500 per call). If the last requests \
finished only moments ago, pass "wait_seconds": 10 so records that are not written yet are waited for.
3. Report:
   - the totals: overall, by model and by endpoint (prompt, completion, total, cache read and cache \
write tokens, and the estimated cost with its source — say how many records were not priced, and why, \
so a partial sum never reads as the whole), and how many ids were found, not found and failed;
   - usage in the payload vs. usage billed: for every id where both are known, compare each token \
field and list the ids where they differ, with both numbers and both estimated costs;
   - unexpected models: records whose model is not the one that was requested or that the payload \
named, and any model you did not expect in this session;
   - missing records: ids not found (possibly a different API key, a record not written yet, or older \
than the 7-day retention) and ids that failed, with their error kind;
   - anything else that stands out: a record with status other than completed, a finish_reason of \
length, unusually large prompts or cache writes.
4. If asked about usage beyond this session (this week's or month's totals, spend by model, records \
KushRouter no longer keeps): usage_report sums every record this server has looked up with this key, from \
its local ledger; pass "since" (a date, or "7d", "30d") and "group_by" (day, model, endpoint).
Keep the report short: a table of the totals, then one line per anomaly."""


def audit_usage(scope: str = "") -> str:
    return _STEPS.format(scope=scope.strip() or "the requests of this session")
