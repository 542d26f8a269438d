"""Every reach into a library's private or undocumented state, in one place.

Two modules, so that each path loads only what it needs: `sdk_stdio` (the MCP SDK's stdio
plumbing, for the stdio server: every IDE launch) and `http_stack` (uvicorn, sse-starlette and the
SDK's session manager, for HTTP serving and the sandbox). tests/test_library_internals.py asserts
that what each reach touches still exists, so an upgrade that moves it fails there, loudly,
instead of silently changing behaviour.
"""
