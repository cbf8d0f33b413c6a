"""Fuzz the API with schemathesis against a real ``slipguard serve``.

Each run makes a private data directory (and, with ``--db postgres``, a private database on
the server named by ``SLIPGUARD_TEST_DATABASE_URL`` or a private cluster), creates an
organisation with an admin and a staff key, loads a journey, serves the app on a free
loopback port and runs schemathesis once per key: every check, the examples, coverage,
fuzzing and stateful phases. It exits non-zero when schemathesis finds anything.

    python scripts/fuzz.py --db sqlite --examples 50
    python scripts/fuzz.py --db postgres --examples 50 --roles staff
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import services  # noqa: E402

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
JOURNEY = ROOT / "journeys" / "library" / "clinic-appointment.yaml"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "slipguard"), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"slipguard {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"slipguard serve exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"slipguard serve did not answer within 60 s:\n{log.read_text()[-2000:]}")


def schemathesis(url: str, key: str, args: argparse.Namespace, report: Path) -> int:
    command = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{url}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(args.examples),
        "--workers",
        "1",
        "--seed",
        str(args.seed),
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        "--no-color",
    ]
    if args.only:
        command += ["--include-operation-id-regex", args.only]
    if args.max_time:
        command += ["--max-time", str(args.max_time)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p),
    }
    # Run in the report's folder: schemathesis keeps its own files where it runs.
    report.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, env=env, cwd=report, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--roles", default="admin,staff", help="keys to fuzz with, in turn")
    parser.add_argument("--examples", type=int, default=50, help="examples per operation")
    parser.add_argument("--seed", type=int, default=1, help="hypothesis seed (reproducible)")
    parser.add_argument("--only", default="", help="operation ids to fuzz (a regex)")
    parser.add_argument("--max-time", type=int, default=0, help="seconds per key (0: no cap)")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="slipguard-fuzz-"))
    pg: tuple[str, str] | None = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPGUARD_")}
    port = services.free_port()
    env.update(
        SLIPGUARD_DATA_DIR=str(data / "data"),
        SLIPGUARD_ENV_FILE="",
        SLIPGUARD_LOG_LEVEL="WARNING",
        SLIPGUARD_PORT=str(port),
    )
    if args.db == "postgres":
        server_url = services.postgres_url()
        name = f"slipguard_fuzz_{os.getpid()}_{secrets.token_hex(3)}"
        env["SLIPGUARD_DATABASE_URL"] = services.create_database(server_url, name)
        pg = (server_url, name)
    server: subprocess.Popen[bytes] | None = None
    failed = 0
    try:
        admin = cli(
            env, "init", "--org", "fuzz", "--org-name", "Fuzz", "--admin-email",
            "admin@fuzz.example", "--admin-password", secrets.token_urlsafe(16),
        )  # fmt: skip
        keys = {"admin": admin}
        for role in ("manager", "staff"):
            keys[role] = cli(env, "keys", "create", "--org", "fuzz", "--role", role, "--name", role)
        cli(env, "journeys", "load", "--org", "fuzz", str(JOURNEY))
        log = data / "serve.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(BIN / "slipguard"), "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server, log)
        for role in args.roles.split(","):
            print(f"== schemathesis on {args.db} with the {role} key ==", flush=True)
            code = schemathesis(url, keys[role], args, data / f"report-{role}")
            if code != 0:
                failed += 1
                print(f"== schemathesis with the {role} key found failures ==", flush=True)
        if failed:
            print(f"server log (last lines):\n{log.read_text()[-4000:]}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if pg is not None:
            services.drop_database(*pg)
        services.stop_services()
        shutil.rmtree(data, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
