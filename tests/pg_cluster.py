"""The throwaway PostgreSQL cluster of the tests (fixtures `pg_cluster`, `pg_database` in conftest).

It lives in kushrouter_mcp.sandbox.pg_cluster so the benches can start one too; this module names
what the tests use.
"""

from __future__ import annotations

import os

import pytest

from kushrouter_mcp.sandbox.pg_cluster import (
    INSTALL_ADVICE,
    PostgresCluster,
    PostgresMissing,
    postgres_bin_dir,
    running_cluster,
)

__all__ = [
    "INSTALL_ADVICE",
    "PostgresCluster",
    "PostgresMissing",
    "postgres_bin_dir",
    "require_postgres",
    "running_cluster",
]


def require_postgres() -> None:
    """Skip when PostgreSQL isn't installed, but fail in CI (CI=true), where it must be."""
    try:
        postgres_bin_dir()
    except PostgresMissing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(INSTALL_ADVICE, pytrace=False)
        pytest.skip(INSTALL_ADVICE)
