"""Shared by the bench scripts: a sandbox in its own process and the MCP server over stdio."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from kushrouter_mcp.sandbox import ALICE_KEY


@contextmanager
def sandbox_process(latency_ms: float = 0.0) -> Iterator[str]:
    """`kushrouter-mcp sandbox` on a free loopback port, in its own process (no GIL shared with us)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kushrouter_mcp", "sandbox", "--port", "0", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("KUSHROUTER_BASE_URL="):
            raise RuntimeError(f"the sandbox did not start: {first!r}")
        yield first.partition("=")[2]
    finally:
        process.terminate()
        process.wait(timeout=10)


def publish(base_url: str, ids: list[str]) -> None:
    with httpx.Client(base_url=base_url) as http:
        for gen_id in ids:
            http.post("/_sandbox/records", json={"id": gen_id}).raise_for_status()


def stdio_server(base_url: str, *args: str, **env: str) -> Client:
    """The MCP server (or another script, with args) as a stdio subprocess, through the SDK's client."""
    params = StdioServerParameters(
        command=sys.executable,
        args=list(args) or ["-m", "kushrouter_mcp"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "KUSHROUTER_BASE_URL": base_url,
            "KUSHROUTER_API_KEY": ALICE_KEY,
            **env,
        },
    )
    return Client(stdio_client(params))
