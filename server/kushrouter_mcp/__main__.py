"""`python -m kushrouter_mcp`: the same as the `kushrouter-mcp` command."""

from kushrouter_mcp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
