"""The ``slipguard`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click

from settings import SettingsError, get_settings, redact_url

T = TypeVar("T")
ROLE_CHOICE = click.Choice(["staff", "manager", "admin"])


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error (no traceback) and exit."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_or_exit() -> Any:
    """Load settings; a bad value is a one-line error naming the variable, exit code 2."""
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), 2)


def run_db(work: Callable[[], Awaitable[T]]) -> T:
    """Run an async database task with the pool open, turning known errors into messages."""
    import coaching.outbox  # noqa: F401 - installs the step companion (messages with steps)
    from core import db
    from core.errors import DomainError

    settings = settings_or_exit()

    async def wrapped() -> T:
        await db.start_pool(settings.database)
        try:
            return await work()
        finally:
            await db.close_pool()

    try:
        return asyncio.run(wrapped())
    except DomainError as exc:
        fields = "".join(f"; {e.field}: {e.message}" for e in exc.errors)
        fail(exc.detail + fields)
    except (OSError, ConnectionError) as exc:
        fail(
            f"cannot reach the database {redact_url(settings.database.url)} "
            f"(SLIPGUARD_DATABASE_URL): {exc}",
            2,
        )


async def _migrate() -> int:
    """Apply all migrations; Piccolo's progress output goes to stderr, not stdout."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from core.db import pre_release_schema, prepare_sqlite

    settings = get_settings()
    prepare_sqlite(settings.database)
    if await pre_release_schema():
        raise click.ClickException(
            f"the database {redact_url(settings.database.url)} was made by a pre-release "
            "schema (before each context's migrations were squashed into one); it can hold "
            "only trial data: move it aside or drop it, then run `slipguard migrate` again"
        )
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = await run_forwards("all")
    if not result.success:
        click.echo(buffer.getvalue(), err=True)
        raise click.ClickException(f"migration failed: {result.message}")
    return buffer.getvalue().count("ok!")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Slipguard: prevent customer errors. Settings come from SLIPGUARD_* variables."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = settings_or_exit()
    applied = run_db(_migrate)
    click.echo(
        f"database {redact_url(settings.database.url)}: {applied} migration(s) applied", err=True
    )


@main.command()
@click.option("--org", "slug", required=True, help="Organisation slug, e.g. acme-clinic.")
@click.option("--org-name", required=True, help="Display name of the organisation.")
@click.option("--admin-email", required=True, help="Email of the first admin user.")
@click.option("--admin-password", default=None, help="Password (generated and printed if omitted).")
@click.option("--sms-from", default="", help="The organisation's SMS number (E.164).")
@click.option("--messaging-service-sid", default="", help="Or its Twilio messaging service.")
@click.option("--contact-phone", default="", help="Phone number given in HELP replies.")
@click.option("--contact-email", default="", help="Email address given in HELP replies.")
@click.option("--postal-address", default="", help="Postal address for email footers.")
@click.option(
    "--task-due-hours", type=int, default=None, help="Staff tasks are due this many hours after."
)
@click.option(
    "--task-target-percent", type=int, default=None, help="Share of tasks to handle in time."
)
def init(
    slug: str,
    org_name: str,
    admin_email: str,
    admin_password: str | None,
    **contact: str | int | None,
) -> None:
    """Migrate, create an organisation and its admin, and print an admin API key."""
    from core import identity as services
    from core.errors import InvalidIdentityInput, OrganizationExists

    async def work() -> services.Bootstrap:
        await _migrate()
        given = {k: v for k, v in contact.items() if v not in ("", None)}
        if given:
            # Checked before anything is written, so a typo creates nothing.
            try:
                await services.check_organization_fields(given)
            except InvalidIdentityInput as exc:
                fail("; ".join(f"--{e.field.replace('_', '-')}: {e.message}" for e in exc.errors))
        try:
            made = await services.bootstrap(slug, org_name, admin_email, admin_password)
        except OrganizationExists:
            fail(
                f"organisation {slug!r} already exists; nothing was changed. "
                "Create another key with: "
                f"slipguard keys create --org {slug} --role admin --name NAME"
            )
        if given:
            await services.update_organization(made.organization.id, given)
        return made

    result = run_db(work)
    click.echo(f"created organisation {slug!r} and admin {result.admin.email}", err=True)
    if result.password:
        click.echo(f"generated admin password: {result.password}", err=True)
    click.echo("admin API key (shown once, store it now):", err=True)
    click.echo(result.api_key)


class _Bar:
    """The demo's progress on the terminal: one click progress bar per phase (on stderr,
    which stays free of anything scripts read)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
        self._bar.__enter__()

    def advance(self, units: int) -> None:
        self._bar.update(units)

    def finish(self) -> None:
        self._bar.__exit__(None, None, None)


@main.command()
@click.option(
    "--customers",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Simulated customers (default 2,000; see docs/demo.md).",
)
def demo(customers: int | None) -> None:
    """Create the demo organisation once and print how to log in (kept in the data dir)."""
    import time

    from api import demo as demo_data
    from core import identity as services
    from core.db import private_directory
    from core.errors import OrganizationExists

    settings = settings_or_exit()
    saved = settings.data_dir / "demo-login.txt"

    async def work() -> services.Bootstrap | None:
        from api.demo import create, model

        await _migrate()
        started = time.monotonic()
        try:
            made, counts = await create(customers or model.DEFAULT_CUSTOMERS, _Bar())
        except OrganizationExists:
            return None
        click.echo("demo data: " + ", ".join(f"{v} {k}" for k, v in counts.items()), err=True)
        click.echo(f"demo created in {time.monotonic() - started:.1f} s", err=True)
        return made

    created = run_db(work)
    if created is not None:
        private_directory(saved.parent)
        saved.touch(mode=0o600)
        saved.write_text(
            f"manager: {demo_data.MANAGER} (dashboards: /dashboards)\n"
            f"staff: {demo_data.STAFF} (phone page: /staff)\n"
            f"admin: {demo_data.ADMIN}\n"
            f"password (all three): {created.password}\napi key: {created.api_key}\n"
        )
    url = settings.server.public_url
    if saved.exists():
        click.echo(f"Demo login for {url}/login (from {saved}):\n{saved.read_text()}", err=True)
    else:
        click.echo(f"The demo organisation exists; log in at {url}/login.", err=True)


@main.command("fold-rollups")
def fold_rollups() -> None:
    """Fold every organisation's changed days into the ranking's day rollups now (the
    scheduler does this every minute; after a bulk load this is the first, long fold)."""
    from dashboards import rollups

    days = run_db(rollups.fold_changes)
    click.echo(f"{days} day(s) recounted")
    if rollups.BAD_ORGANIZATIONS.active():  # logged with their errors
        fail(
            "some organisations could not be folded: "
            + ", ".join(str(o) for o in rollups.BAD_ORGANIZATIONS.active())
        )


@main.command()
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write."
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (default: 30 days ago).",
)
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (default: today)."
)
def report(slug: str, out: str, since: Any, until: Any) -> None:
    """Write the main charts as PNG and an index.html summary, for a review meeting.

    PNG export needs a Chrome-family browser: Debian's chromium is found by itself."""
    from pathlib import Path

    from core import identity as services
    from core.tenancy import Tenant
    from dashboards import report as reports

    async def work() -> reports.ReportData:
        org = await services.get_organization(slug)
        return await reports.collect(
            Tenant(org.id), since.date() if since else None, until.date() if until else None
        )

    data = run_db(work)
    try:
        written = reports.write(data, Path(out))
    except (RuntimeError, OSError) as exc:  # no browser for the PNG export, or no folder
        fail(f"cannot write the report: {exc}")
    for path in written:
        click.echo(str(path))


@main.group()
def keys() -> None:
    """Manage API keys."""


@main.command("notify-breach")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option(
    "--customers",
    "customers_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File with one customer id or external_ref per line.",
)
@click.option("--all", "everyone", is_flag=True, help="Every customer of the organisation.")
@click.option(
    "--template",
    required=True,
    help="The notice's text, or a file holding it ({{ first_name }}, {{ last_name }}, "
    "{{ org_name }} may be used).",
)
@click.option(
    "--channel",
    type=click.Choice(["sms", "email", "both"]),
    default="both",
    show_default=True,
    help="Channels to use; a customer who cannot receive those gets the other one.",
)
@click.option("--dry-run", is_flag=True, help="Check and count, but write nothing.")
def notify_breach(
    slug: str,
    customers_file: str | None,
    everyone: bool,
    template: str,
    channel: str,
    dry_run: bool,
) -> None:
    """Send a breach notice to the customers listed (or all) and record who was notified.

    Written as ordinary messages in one transaction (all or nothing); the notification's
    id finds its records: GET /api/v1/privacy/events?batch=ID. See docs/privacy.md."""
    from pathlib import Path

    from coaching import breach
    from core import identity as services
    from core.tenancy import Tenant

    if everyone == bool(customers_file):
        fail("give exactly one of --customers FILE or --all", 2)
    text = template
    # A file's name, or else the text itself (a long text is no valid file name).
    with contextlib.suppress(OSError):
        if "\n" not in template and Path(template).is_file():
            text = Path(template).read_text(encoding="utf-8")
    channels = ("sms", "email") if channel == "both" else (channel,)

    async def work() -> breach.Notification:
        org = await services.get_organization(slug)
        tenant = Tenant(org.id)
        wanted = None
        if customers_file:
            lines = Path(customers_file).read_text(encoding="utf-8").splitlines()
            wanted = await breach.resolve(tenant, lines, customers_file)
        total = len(wanted) if wanted is not None else await breach.customer_count(tenant)
        bar = _Bar()
        bar.start("preparing notices", total)
        try:
            return await breach.notify_breach(
                tenant, text, customers=wanted, channels=channels, dry_run=dry_run,
                progress=bar.advance,
            )  # fmt: skip
        finally:
            bar.finish()

    done = run_db(work)
    verb = "would notify" if dry_run else "notified"
    click.echo(
        f"breach notice {done.id}: {verb} {done.notified} customer(s) "
        f"({done.by_channel['sms']} by SMS, {done.by_channel['email']} by email)"
        + (" — dry run, nothing written" if dry_run else "")
    )
    if done.erased:
        click.echo(f"{done.erased} erased customer(s) skipped")
    if done.unreachable:
        click.echo(
            f"{len(done.unreachable)} customer(s) unreachable (no address or consent on any "
            "channel; reach them another way):"
        )
        for cid in done.unreachable:
            click.echo(f"  {cid}")


@keys.command("create")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option("--role", required=True, type=ROLE_CHOICE)
@click.option("--name", required=True, help="What the key is for, e.g. 'front desk tablet'.")
def keys_create(slug: str, role: str, name: str) -> None:
    """Create an API key and print only the key on stdout."""
    from core import identity as services
    from core.tenancy import Tenant

    async def work() -> str:
        org = await services.get_organization(slug)
        _, token = await services.create_api_key(Tenant(org.id), name, role)
        return token

    click.echo(run_db(work))


@keys.command("list")
@click.option("--org", "slug", required=True, help="Organisation slug.")
def keys_list(slug: str) -> None:
    """List API keys (prefix, role, name, last use, revocation)."""
    from core import identity as services
    from core.tenancy import Tenant

    async def work() -> list[Any]:
        org = await services.get_organization(slug)
        return await services.list_api_keys(Tenant(org.id))

    for key in run_db(work):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(
            f"{key.id}  sg_{key.prefix}_…  {key.role:<8} {state:<18} used {used:<16} {key.name}"
        )


@keys.command("revoke")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.argument("key_id", type=click.UUID)
def keys_revoke(slug: str, key_id: Any) -> None:
    """Revoke an API key by id."""
    from core import identity as services
    from core.tenancy import Tenant

    async def work() -> None:
        org = await services.get_organization(slug)
        await services.revoke_api_key(Tenant(org.id), key_id)

    run_db(work)
    click.echo(f"revoked {key_id}", err=True)


@main.group()
def users() -> None:
    """Manage staff users."""


@users.command("create")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option("--email", required=True)
@click.option("--role", required=True, type=ROLE_CHOICE)
@click.option("--name", default="", help="Display name.")
@click.option(
    "--password", default=None, help="Password (asked for, or generated when not a terminal)."
)
def users_create(slug: str, email: str, role: str, name: str, password: str | None) -> None:
    """Create a staff user who can log in to the pages."""
    import secrets

    from core import identity as services
    from core.tenancy import Tenant

    generated = None
    if password is None:
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = generated = secrets.token_urlsafe(12)

    async def work() -> Any:
        org = await services.get_organization(slug)
        return await services.create_user(Tenant(org.id), email, role, password or "", name)

    user = run_db(work)
    click.echo(f"created {user.role} {user.email}", err=True)
    if generated:
        click.echo(f"generated password: {generated}", err=True)


@users.command("deactivate")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option("--email", required=True, help="The user's email.")
def users_deactivate(slug: str, email: str) -> None:
    """Stop a user logging in and end their sessions (their organisation's API keys stay)."""
    from core import identity as services
    from core.tables import StaffUser
    from core.tenancy import Tenant

    async def work() -> Any:
        org = await services.get_organization(slug)
        tenant = Tenant(org.id)
        found = await tenant.objects(StaffUser).where(StaffUser.email == email.strip().lower())
        if not found:
            fail(f"no user {email!r} in {slug}")
        return await services.deactivate_user(tenant, found[0].id)

    user = run_db(work)
    click.echo(f"deactivated {user.email}; their sessions have ended", err=True)


@main.command()
@click.option(
    "--host", default=None, help="Interface to bind (default SLIPGUARD_HOST or 127.0.0.1)."
)
@click.option("--port", default=None, type=int, help="Port (default SLIPGUARD_PORT or 8000).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Serve the API from N processes (needs SLIPGUARD_BROKER_URL; no in-process worker).",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the app. Without --workers: API + worker threads + scheduler in one process."""
    import uvicorn

    settings = settings_or_exit()
    if workers and settings.broker.kind == "memory":
        fail(
            "--workers needs SLIPGUARD_BROKER_URL (redis://… or amqp://…): the in-process broker "
            "lives in one process. Run `slipguard worker` and `slipguard scheduler` beside it.",
            2,
        )
    run_db(_migrate)
    host = host or settings.server.host
    port = port or settings.server.port
    mode = f"{workers} API processes" if workers else "embedded: API + worker + scheduler"
    click.echo(f"Slipguard on http://{host}:{port}/ ({mode}); log in at /login", err=True)
    uvicorn.run(
        "api.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


@main.command()
@click.option("--processes", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=None, type=click.IntRange(1, 256), help="Threads per process.")
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve the workers' delivery metrics (summed over processes) on this port.",
)
def worker(processes: int, threads: int | None, metrics_port: int | None) -> None:
    """Run supervised Dramatiq worker processes (a child that dies is restarted)."""
    from coaching.supervisor import Supervisor, SupervisorConfig
    from core.logs import configure_logging

    settings = settings_or_exit()
    if settings.broker.kind == "memory":
        fail("SLIPGUARD_BROKER_URL is not set: separate workers need redis://… or amqp://…", 2)
    configure_logging(settings.server)
    command = [
        sys.executable,
        "-m",
        "coaching.worker",
        str(threads or settings.broker.worker_threads),
    ]
    env: dict[str, str] | None = None
    stop_metrics = None
    if metrics_port is not None:
        from coaching.worker_metrics import serve_worker_metrics

        host = settings.server.host
        try:
            env, stop_metrics = serve_worker_metrics(host, metrics_port)
        except OSError as exc:
            fail(f"--metrics-port {metrics_port}: cannot listen on {host}: {exc.strerror}", 2)
        click.echo(f"worker metrics on http://{host}:{metrics_port}/metrics", err=True)
    try:
        code = Supervisor(SupervisorConfig(command=command, processes=processes, env=env)).run()
    finally:
        if stop_metrics is not None:
            stop_metrics()
    sys.exit(code)


@main.command()
def scheduler() -> None:
    """Run the scheduler loop (safe to run more than one)."""
    from coaching.scheduler import run_scheduler
    from core import db
    from core.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.server)

    async def loop() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await db.start_pool(settings.database)
        try:
            import coaching.actors  # noqa: F401 - the scheduler publishes to these actors
            import dashboards.rollups  # noqa: F401 - registers the day-rollup fold job

            await run_scheduler(stop, settings.scheduler.interval_seconds)
        finally:
            await db.close_pool()

    asyncio.run(loop())


@main.group()
def slips() -> None:
    """Import slips (historical tick sheets)."""


@slips.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option("--dry-run", is_flag=True, help="Validate every row and write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Store the good rows even if some are bad.")
def slips_import(path: str, slug: str, dry_run: bool, skip_invalid: bool) -> None:
    """Import a CSV of slips; re-importing the same file adds nothing (see README)."""
    from zoneinfo import ZoneInfo

    from core import identity
    from core.tenancy import Tenant
    from slips.importer import CsvProblem, ImportReport, import_csv

    with open(path, "rb") as fh:
        raw = fh.read()

    async def work() -> ImportReport:
        org = await identity.get_organization(slug)
        total = max(raw.count(b"\n") - 1, 1)
        with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
            return await import_csv(
                Tenant(org.id), raw, path, ZoneInfo(org.timezone),
                dry_run=dry_run, skip_invalid=skip_invalid, progress=bar.update,
            )  # fmt: skip

    try:
        report = run_db(work)
    except CsvProblem as exc:
        fail(str(exc))
    for row in report.bad:
        click.echo(f"{path}: {row}", err=True)
    good = report.rows - len(report.bad)
    if dry_run:
        click.echo(
            f"dry run: {report.rows} rows, {good} valid, {len(report.bad)} bad; nothing written"
        )
    elif not report.written:
        click.echo(
            f"{len(report.bad)} bad row(s); nothing was imported (fix them, or --skip-invalid)"
        )
    else:
        click.echo(
            f"{report.rows} rows: {report.created} imported, {report.duplicates} already imported, "
            f"{len(report.bad)} skipped as bad"
        )
    if report.bad and (dry_run or not report.written):
        sys.exit(1)


@main.group()
def journeys() -> None:
    """Validate, load, preview journey definitions and print their JSON Schema."""


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")


def _expand(paths: tuple[str, ...]) -> list[str]:
    """Files, and *.yaml/*.yml inside directories, in a stable order."""
    import os

    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            out += sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if name.endswith((".yaml", ".yml"))
            )
        else:
            out.append(path)
    if not out:
        fail("no journey files given")
    return out


@journeys.command("validate")
@click.argument("paths", nargs=-1, required=True)
def journeys_validate(paths: tuple[str, ...]) -> None:
    """Check files (or folders of *.yaml); lists every error; exit 1 if any file has one."""
    from journeys.definition import validate_source

    failed = 0
    for path in _expand(paths):
        result = validate_source(_read(path), path)
        for line in result.lines():
            click.echo(line, err=True)
        if result.ok:
            click.echo(f"{path}: ok ({len(result.warnings)} warning(s))", err=True)
        else:
            failed += 1
    if failed:
        fail(f"{failed} file(s) with errors; nothing was loaded")


@journeys.command("load")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.argument("paths", nargs=-1, required=True)
def journeys_load(slug: str, paths: tuple[str, ...]) -> None:
    """Load files (or folders); every file is validated first and nothing loads if any fails."""
    from core import identity
    from core.tenancy import Tenant
    from journeys import services
    from journeys.definition import validate_source

    files = _expand(paths)
    sources = {path: _read(path) for path in files}
    bad = 0
    for path, source in sources.items():
        result = validate_source(source, path)
        for line in result.lines():
            click.echo(line, err=True)
        bad += 0 if result.ok else 1
    if bad:
        fail(f"{bad} file(s) with errors; nothing was loaded")

    async def work() -> list[str]:
        org = await identity.get_organization(slug)
        out = []
        for path, source in sources.items():
            loaded = await services.load_journey(Tenant(org.id), source, path)
            state = "new version" if loaded.created else "unchanged"
            out.append(f"{loaded.journey.key}: version {loaded.version} ({state})")
        return out

    for line in run_db(work):
        click.echo(line)


@journeys.command("preview")
@click.argument("key")
@click.option("--org", "slug", required=True, help="Organisation slug.")
@click.option("--start", default=None, help="ISO 8601 start (default: now).")
@click.option("--tz", "timezone", default=None, help="IANA timezone (default: the organisation's).")
@click.option(
    "--anchor", "anchors", multiple=True, help="Other anchors: NAME=ISO8601 (repeatable)."
)
@click.option("--locale", default=None, help="Template locale (default: the journey's first).")
@click.option("--limit", default=60, show_default=True, help="Show at most this many steps.")
def journeys_preview(
    key: str,
    slug: str,
    start: str | None,
    timezone: str | None,
    anchors: tuple[str, ...],
    locale: str | None,
    limit: int,
) -> None:
    """Print the timeline a customer would get, in local and UTC time."""

    from core import clock, identity
    from core.tenancy import Tenant
    from journeys import services

    malformed = [a for a in anchors if "=" not in a]
    if malformed:
        fail(
            f"--anchor {malformed[0]!r}: write NAME=ISO8601, e.g. appointment=2026-12-01T09:30Z", 2
        )
    given = dict(a.split("=", 1) for a in anchors)
    if start:
        given["start"] = start

    async def work() -> tuple[Any, list[dict[str, Any]]]:
        org = await identity.get_organization(slug)
        _, _, definition = await services.current_definition(Tenant(org.id), key)
        tz = services.parse_timezone(timezone or org.timezone, "--tz")
        when = services.parse_anchors(definition, given, clock.now(), field="--anchor")
        return tz, services.preview(definition, when, tz, locale, {"org_name": org.name}, limit)

    tz, steps = run_db(work)
    click.echo(f"{'local time (' + tz.key + ')':<32} {'UTC':<26} what")
    for step in steps:
        click.echo(
            f"{step['due_local']:<32} {step['due_at']:<26} "
            f"STEP {step['behaviour']} #{step['occurrence']}"
        )
        for m in step["messages"]:
            cond = f" unless {m['condition']}" if m["condition"] else ""
            click.echo(f"  {m['local']:<30} {m['at']:<26} {m['channel']}{cond}: {m['text']}")


@journeys.command("schema")
def journeys_schema() -> None:
    """Print the JSON Schema of journey files (for editor validation and completion)."""
    import json

    from journeys.definition import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
