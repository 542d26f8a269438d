"""A throwaway PostgreSQL cluster for tests and benches: `initdb` in a temporary directory, `pg_ctl`
on a free loopback port, a password user (scram-sha-256), removed afterwards.

The server programs are Debian's (`postgresql-15`, not on PATH): found with `dpkg -L` or under
/usr/lib/postgresql/*/bin. As root they run as the `postgres` user (PostgreSQL refuses to run as
root) through `runuser`, with the directory handed to that user. The password is random per cluster
and recognisable (`pgpw_…`), so a test can look for it in logs and files.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kushrouter_mcp.sandbox.processes import free_port

INSTALL_ADVICE = "PostgreSQL is not installed: apt-get install -y postgresql"
SERVER_USER = "postgres"  # the OS user the cluster runs as when we are root
SUPERUSER = "kushrouter_test"  # the database superuser the tests connect as
# Throwaway data: nothing needs to survive a crash, so no fsync (a run is several times faster).
FAST_SETTINGS = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")


class PostgresMissing(RuntimeError):
    """The PostgreSQL server programs are not on this machine."""


def postgres_bin_dir() -> Path:
    """The directory of `initdb` and `pg_ctl`, newest version first; PostgresMissing if none."""
    candidates = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listing = subprocess.run(
            ["/usr/bin/dpkg", "-L", "postgresql-15"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
        candidates += [line for line in listing.splitlines() if line.endswith("/bin/initdb")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for initdb in candidates:
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    raise PostgresMissing(INSTALL_ADVICE)


class PostgresCluster:
    """One cluster: `start()`/`stop()` (same port, for outage tests), `create_database()`, `remove()`."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.port = free_port()
        self.password = "pgpw_" + secrets.token_hex(12)
        self.user = SUPERUSER
        self.root = Path(tempfile.mkdtemp(prefix="kushrouter-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        self._databases = 0

    def _command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / program), *args]
        return ["runuser", "-u", SERVER_USER, "--", *argv] if self._as_root else argv

    def _run(self, program: str, *args: str) -> None:
        process = subprocess.run(  # noqa: S603 - our argv, no shell
            self._command(program, *args), capture_output=True, text=True, check=False, timeout=120
        )
        if process.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({process.returncode}): {process.stderr.strip()}\n{log}")

    def initdb(self) -> None:
        """Create the cluster's files (once, before the first start)."""
        password_file = self.root / "pwfile"
        password_file.write_text(self.password + "\n")
        if self._as_root:
            server_user = pwd.getpwnam(SERVER_USER)
            for path in (self.root, password_file):
                os.chown(path, server_user.pw_uid, server_user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={password_file}", "--no-sync",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        password_file.unlink()

    def start(self) -> None:
        """Start (again) on the same port; returns once it accepts connections."""
        options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1"]
        if not self.durable:
            options += FAST_SETTINGS
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )

    def stop(self) -> None:
        """Stop at once (fast mode: open connections are cut, as in an outage)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        """A libpq URL with the password, for the test's servers."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its name."""
        import psycopg  # the test extra brings it; only tests and benches get here

        self._databases += 1
        name = f"{prefix}_{self._databases}_{secrets.token_hex(3)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # a name made here, never input
        return name

    def remove(self) -> None:
        """Stop if running and delete every file of the cluster."""
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[PostgresCluster]:
    """A started cluster, removed afterwards; PostgresMissing when PostgreSQL isn't installed."""
    cluster = PostgresCluster(postgres_bin_dir(), durable=durable)
    try:
        cluster.initdb()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
