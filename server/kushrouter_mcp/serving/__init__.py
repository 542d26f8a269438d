"""HTTP serving for teams: the Starlette app, authentication by key mode, and uvicorn. Only the CLI
imports it, so a stdio launch (every IDE start) never pays for it."""
