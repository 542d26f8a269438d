"""The KushRouter API client: lookups, the failure vocabulary, retries, the rate-limit gate, the
record cache and batch lookups. No MCP here: the face layer turns its answers into tool results."""
