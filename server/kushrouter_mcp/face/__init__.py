"""The MCP face: server registration, tool contracts, tool functions, text summaries, the prompt."""
