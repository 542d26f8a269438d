"""kushrouter-mcp: an MCP server for auditing the token usage of KushRouter LLM requests."""

__version__ = "0.1.0"
