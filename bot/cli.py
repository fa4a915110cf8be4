"""The ``studybot`` command: one function per subcommand, the work lives in the services."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.config import Config, ConfigError, load_config

T = TypeVar("T")
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"studybot: {message}", err=True)
    sys.exit(code)


def get_config(ctx: click.Context, *, require_token: bool = False) -> Config:
    try:
        return load_config(ctx.obj.get("config_path"), require_token=require_token)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable


def run_db(config: Config, work: Callable[[Any], Awaitable[T]], *, migrate: bool = True) -> T:
    """Run ``work(session_factory)`` against a migrated database; database errors → exit 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.engine import create_engine, create_session_factory
    from bot.db.migrate import upgrade

    async def main() -> T:
        engine = create_engine(config.database.url)
        try:
            if migrate:
                await upgrade(engine)
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"database {config.database.url.split('@')[-1]}: {reason}")
        raise  # unreachable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default $STUDYBOT_CONFIG or ./studybot.yaml).",
)
@click.version_option(package_name="studybot")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """studybot — quizzes, study materials, points and reports for a study group on Telegram."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Apply pending migrations and serve the bot (long polling, or webhook by config)."""
    config = get_config(ctx, require_token=True)
    from bot.logging_setup import setup_logging

    setup_logging(config.log_level, config.telegram.token)
    from sqlalchemy.exc import SQLAlchemyError
    from telegram.error import InvalidToken, NetworkError

    from bot.telegram.app import serve

    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        fail(str(exc))
    except InvalidToken:
        fail("telegram.token: rejected by the Bot API server (invalid token)")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"database: {reason}")
    except NetworkError as exc:
        from bot.logging_setup import redact

        message = f"cannot reach the Bot API at {config.telegram.base_url}: {exc}"
        fail(redact(message, config.telegram.token), code=1)
    except KeyboardInterrupt:
        pass


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending database migrations."""
    config = get_config(ctx)
    from bot.db.migrate import upgrade

    async def work(db: Any) -> tuple[str | None, str | None]:
        return await upgrade(db.kw["bind"])

    before, after = run_db(config, work, migrate=False)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"migrated from {before or 'empty'} to {after}")


@main.group()
def roster() -> None:
    """Import and list the staff roster."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keep-missing", is_flag=True, help="Do not deactivate members missing from the file."
)
@click.pass_context
def roster_import(ctx: click.Context, file: Path, keep_missing: bool) -> None:
    """Import a roster (YAML/CSV/XLSX: name, department, employee no., username, telegram id)."""
    config = get_config(ctx)
    from bot.members.roster import RosterError, import_roster
    from bot.members.service import sync_departments

    async def work(db: Any) -> Any:
        async with db.begin() as session:
            await sync_departments(session, config)
            return await import_roster(session, config, file, deactivate_missing=not keep_missing)

    try:
        summary = run_db(config, work)
    except RosterError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        fail(f"{file.name}: not imported ({len(exc.problems)} problem(s)); nothing changed", code=1)
        return
    click.echo(
        f"{file.name}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deactivated} deactivated"
        + (
            f"; new departments: {', '.join(summary.departments_added)}"
            if summary.departments_added
            else ""
        )
    )


@roster.command("list")
@click.option("--bot-username", default=None, help="Print invitation deep links for this bot.")
@click.pass_context
def roster_list(ctx: click.Context, bot_username: str | None) -> None:
    """List members with their binding state and invitation codes."""
    config = get_config(ctx)
    from sqlalchemy import select

    from bot.db.models import Department, Member

    async def work(db: Any) -> list[Any]:
        async with db() as session:
            rows = await session.execute(
                select(Member, Department.name)
                .outerjoin(Department, Department.id == Member.department_id)
                .order_by(Department.sort_order, Member.id)
            )
            return list(rows)

    for member, dept in run_db(config, work):
        state = "bound" if member.telegram_id else "unbound"
        if not member.active:
            state = "inactive"
        code = member.invite_code or ""
        link = f"https://t.me/{bot_username}?start={code}" if bot_username and code else code
        click.echo(
            f"{member.id}\t{member.name}\t{dept or '-'}\t{member.employee_no or '-'}\t{state}\t{link}"
        )


@main.group()
def points() -> None:
    """Points ledger operations."""


@points.command("adjust")
@click.argument("member")
@click.argument("delta", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger and the audit log).")
@click.pass_context
def points_adjust(ctx: click.Context, member: str, delta: int, reason: str) -> None:
    """Add DELTA points (negative to deduct) to MEMBER (@username, Telegram id, employee no. or name)."""
    config = get_config(ctx)
    from bot.members.service import AmbiguousMember, MemberNotFound, find_member
    from bot.points.ledger import adjust, total_points

    async def work(db: Any) -> tuple[str, int]:
        async with db.begin() as session:
            target = await find_member(session, member)
            await adjust(
                session,
                member_id=target.id,
                delta=delta,
                reason=reason,
                actor_telegram_id=None,
                tz=config.tz,
            )
            return target.name, await total_points(session, target.id)

    try:
        name, total = run_db(config, work)
    except MemberNotFound:
        fail(f"no member matches {member!r}", code=1)
        return
    except AmbiguousMember:
        fail(f"several members match {member!r}; use @username or the employee number", code=1)
        return
    except ValueError as exc:
        fail(str(exc), code=1)
        return
    click.echo(f"{name}: {delta:+d} ({reason}); total now {total}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, file: Path) -> None:
    """Write a consistent copy of the database to FILE (SQLite online backup)."""
    config = get_config(ctx)
    url = config.database.url
    if not url.startswith("sqlite"):
        fail(
            "backup of PostgreSQL: use pg_dump, e.g. "
            f"pg_dump --format=custom --file {file} '{url.replace('+psycopg', '').replace('+asyncpg', '')}'",
            code=1,
        )
    from bot.db.backup import sqlite_backup

    source = url.split("///", 1)[1] if "///" in url else ""
    if not source or not Path(source).exists():
        fail(f"database file {source or '(memory)'} does not exist")
    pages = sqlite_backup(Path(source), file)
    click.echo(f"backed up {source} to {file} ({pages} pages)")


def period_options(default: str) -> Callable[[Any], Any]:
    """--period, or --from/--to: the report periods of every command that takes one."""

    def decorate(func: Any) -> Any:
        func = click.option(
            "--to",
            "end",
            type=click.DateTime(["%Y-%m-%d"]),
            default=None,
            help="Last day (with --from).",
        )(func)
        func = click.option(
            "--from",
            "start",
            type=click.DateTime(["%Y-%m-%d"]),
            default=None,
            help="First day (with --to).",
        )(func)
        return click.option(
            "--period",
            default=None,
            help="today, week, month, quarter, year, season, 2026, 2026-Q3, 2026-11 "
            f"(default {default}).",
        )(func)

    return decorate


def _cli_period(config: Config, period: str | None, start: Any, end: Any, default: str) -> Any:
    from bot.core.periods import PeriodError, custom_period, local_day, parse_period

    try:
        if start is not None or end is not None:
            if period is not None:
                fail("give either --period or --from/--to, not both")
            if start is None or end is None:
                fail("--from and --to go together")
            return custom_period(start.date(), end.date())
        seasons = [(s.name, s.from_, s.to) for s in config.points.seasons]
        return parse_period(period, local_day(config.tz), seasons=seasons, default=default)
    except PeriodError as exc:
        fail(str(exc))
        raise  # unreachable


@main.group()
def notes() -> None:
    """Study reflections (学习心得)."""


@notes.command("export")
@period_options("season")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xlsx", "docx"]),
    default=None,
    help="Default: from the --out suffix.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write.",
)
@click.pass_context
def notes_export(
    ctx: click.Context,
    period: str | None,
    start: Any,
    end: Any,
    fmt: str | None,
    out: Path,
) -> None:
    """Write all reflections of a period to an XLSX or DOCX file."""
    config = get_config(ctx)
    from bot.discussions.export import export_reflections

    fmt = fmt or out.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "docx"):
        fail("--format: give xlsx or docx (or an --out file ending in .xlsx or .docx)")
    chosen = _cli_period(config, period, start, end, "season")

    async def work(db: Any) -> Any:
        async with db() as session:
            return await export_reflections(session, config, chosen, fmt)

    exported = run_db(config, work)
    try:
        out.write_bytes(exported.content)
    except OSError as exc:
        fail(f"{out}: cannot write ({exc.strerror or exc})", code=1)
    click.echo(
        f"{out}: {exported.count} reflection(s), {chosen.label} ({chosen.start} to {chosen.end})"
    )


@main.group()
def bank() -> None:
    """Import, inspect and export question banks (YAML, XLSX, CSV)."""


# Files at least this big get a progress bar when stdout is a terminal.
PROGRESS_BAR_BYTES = 200_000


@bank.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--check", is_flag=True, help="Only validate the files; write nothing.")
@click.pass_context
def bank_import(ctx: click.Context, files: tuple[Path, ...], check: bool) -> None:
    """Import bank FILES, each all-or-nothing; exit 1 if any file was refused."""
    config = get_config(ctx)
    from contextlib import AbstractContextManager

    from rich.progress import Progress

    from bot.banks.formats import parse_bank
    from bot.banks.importer import BankError, check_size, import_bank

    def progress_bar(file: Path) -> tuple[AbstractContextManager[Any], Any]:
        show = sys.stdout.isatty() and file.stat().st_size >= PROGRESS_BAR_BYTES
        bar = Progress(transient=True, disable=not show)
        tasks: dict[str, Any] = {}
        labels = {"read": "reading rows", "check": "checking", "write": "writing"}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{file.name}: {labels.get(stage, stage)}")
            bar.update(tasks[stage], completed=done, total=total or None)

        return bar, update

    def refused(file: Path, exc: BankError) -> None:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(
            f"{file.name}: not imported ({len(exc.problems)} problem(s)); nothing changed",
            err=True,
        )

    async def work(db: Any) -> int:
        failed = 0
        for file in files:
            bar, update = progress_bar(file)
            try:
                check_size(file.name, file.stat().st_size, config)
                with bar:
                    content = file.read_bytes()
                    async with db.begin() as session:
                        summary = await import_bank(
                            session, config, file.name, content, progress=update
                        )
            except BankError as exc:
                failed += 1
                refused(file, exc)
                continue
            click.echo(summary.render())
        return failed

    if check:
        failed = 0
        for file in files:
            bar, update = progress_bar(file)
            try:
                check_size(file.name, file.stat().st_size, config)
                with bar:
                    parsed = parse_bank(file.name, file.read_bytes(), update)
            except BankError as exc:
                failed += 1
                refused(file, exc)
                continue
            click.echo(
                f"{file.name}: bank {parsed.slug} ({parsed.title}) is valid, "
                f"{len(parsed.questions)} questions; nothing written (--check)"
            )
    else:
        failed = run_db(config, work)
    if failed:
        sys.exit(1)


@bank.command("list")
@click.pass_context
def bank_list(ctx: click.Context) -> None:
    """List banks with their question counts by type."""
    config = get_config(ctx)
    from bot.banks.catalog import list_banks

    async def work(db: Any) -> list[Any]:
        async with db() as session:
            return await list_banks(session)

    banks = run_db(config, work)
    if not banks:
        click.echo("no banks yet; import one with: studybot bank import FILE")
        return
    click.echo("bank\ttitle\tquestions\tsingle\tmultiple\tjudge\tblank\tretired\tcampaign")
    for info in banks:
        campaign = (
            f"{info.campaign.title} {info.campaign.start}..{info.campaign.end}"
            if info.campaign
            else "-"
        )
        counts = "\t".join(str(info.counts[t]) for t in ("single", "multiple", "judge", "blank"))
        state = "" if info.active else " (inactive)"
        click.echo(
            f"{info.slug}\t{info.title}{state}\t{info.total}\t{counts}\t{info.retired}\t{campaign}"
        )


def _load_bank_or_fail(config: Config, slug: str) -> Any:
    """The bank and its live questions, or exit 1 naming what to run instead."""
    from bot.banks.catalog import load_bank

    async def work(db: Any) -> Any:
        async with db() as session:
            return await load_bank(session, slug)

    found = run_db(config, work)
    if found is None:
        fail(f"no bank {slug!r}; see: studybot bank list", code=1)
    return found


@bank.command("show")
@click.argument("slug")
@click.pass_context
def bank_show(ctx: click.Context, slug: str) -> None:
    """Show bank SLUG and its live questions with their answers."""
    config = get_config(ctx)
    info, questions = _load_bank_or_fail(config, slug)
    click.echo(f"{info.slug}: {info.title}")
    counts = ", ".join(f"{t} {n}" for t, n in info.counts.items())
    click.echo(f"questions: {info.total} ({counts}); retired: {info.retired}")
    if info.tags:
        click.echo(f"tags: {', '.join(info.tags)}")
    if info.campaign:
        c = info.campaign
        click.echo(f"campaign: {c.title}, {c.start} to {c.end}, {c.questions} per attempt")
    click.echo(f"imported from: {info.source_name or '-'} at {info.updated_at:%Y-%m-%d %H:%M} UTC")
    for q in questions:
        click.echo("")
        click.echo(f"{q.qid} [{q.type}] (v{q.version}) {q.text}")
        for letter, option in zip("ABCDEFGHIJ", q.options, strict=False):
            click.echo(f"    {letter}. {option}")
        if q.type == "judge":
            answer = "true" if q.answer[0] else "false"
        elif q.type == "blank":
            answer = " | ".join(str(a) for a in q.answer)
        else:
            answer = "".join(str(a) for a in q.answer)
        click.echo(f"    answer: {answer}")


@bank.command("export")
@click.argument("slug")
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "xlsx"]), default="yaml", show_default=True
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default SLUG.yaml / SLUG.xlsx; '-' writes YAML to stdout).",
)
@click.pass_context
def bank_export(ctx: click.Context, slug: str, fmt: str, out: Path | None) -> None:
    """Write bank SLUG as a file that imports back unchanged."""
    config = get_config(ctx)
    from bot.banks.export import ExportError, export_bank

    info, questions = _load_bank_or_fail(config, slug)
    try:
        name, content = export_bank(info, questions, fmt)
    except ExportError as exc:
        fail(f"{slug}: cannot export as {fmt}: {exc}", code=1)
        return
    if out is not None and str(out) == "-":
        if fmt != "yaml":
            fail("--out - writes YAML only; give a file name for xlsx")
        click.echo(content.decode("utf-8"), nl=False)
        return
    target = out or Path(name)
    target.write_bytes(content)
    click.echo(f"wrote {target} ({len(questions)} questions)")


@main.group()
def plan() -> None:
    """Check, load and inspect the study plan."""


def _plan_time(config: Config, moment: Any) -> str:
    return moment.astimezone(config.tz).strftime("%Y-%m-%d %H:%M %a")


@plan.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--from",
    "start",
    default=None,
    help="List the pushes after this local date-time (default: now), e.g. 2026-12-01T00:00.",
)
@click.option("--count", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def plan_check(ctx: click.Context, file: Path, start: str | None, count: int) -> None:
    """Validate a study plan FILE and print its next pushes (exit 1 if it has problems)."""
    import datetime as dt

    from bot.db.types import utcnow
    from bot.materials.plan import PlanError, read_plan_file, upcoming_pushes

    config = get_config(ctx)
    now = utcnow()
    if start is not None:
        try:
            moment = dt.datetime.fromisoformat(start)
        except ValueError:
            fail(f"--from: {start!r} is not a date-time such as 2026-12-01T00:00")
            return
        now = (moment if moment.tzinfo else moment.replace(tzinfo=config.tz)).astimezone(dt.UTC)
    try:
        loaded = read_plan_file(file, config)
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        fail(f"{file.name}: {len(exc.problems)} problem(s); the plan cannot be used", code=1)
        return
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{file.name}: {len(loaded.items)} items, OK")
    pushes = upcoming_pushes(loaded, now, count)
    if not pushes:
        click.echo("no pushes after " + _plan_time(config, now))
        return
    click.echo(f"next {len(pushes)} pushes ({config.timezone}):")
    for push in pushes:
        audience = ", ".join(str(a) for a in push.item.audience)
        extras = []
        if push.item.file:
            extras.append("file")
        if push.item.quiz_bank:
            extras.append(f"quiz {push.item.quiz_bank}×{push.item.quiz_questions}")
        suffix = f" [{'; '.join(extras)}]" if extras else ""
        click.echo(
            f"  {_plan_time(config, push.at)}  {push.item.id}  {push.item.title}  → {audience}{suffix}"
        )


@plan.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def plan_load(ctx: click.Context, file: Path) -> None:
    """Make FILE the active study plan now (a running bot picks it up at its next tick)."""
    config = get_config(ctx)
    from bot.materials.plan import PlanError, read_plan_file, store_plan

    try:
        loaded = read_plan_file(file, config)
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        fail(f"{file.name}: not loaded ({len(exc.problems)} problem(s)); nothing changed", code=1)
        return
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)

    async def work(db: Any) -> Any:
        async with db.begin() as session:
            return await store_plan(session, loaded, source="cli")

    summary = run_db(config, work)
    click.echo(
        f"{file.name}: {len(loaded.items)} items loaded ({summary.added} new, "
        f"{summary.updated} changed, {summary.unchanged} unchanged, "
        f"{summary.deactivated} removed)"
    )


@plan.command("status")
@click.pass_context
def plan_status(ctx: click.Context) -> None:
    """The stored plan: each active item, its next push, deliveries and reads so far."""
    config = get_config(ctx)
    from sqlalchemy import func, select

    from bot.db.models import Delivery, MaterialRead, PlanItem
    from bot.db.types import utcnow
    from bot.materials.occurrences import ScheduleError, parse_when

    async def work(db: Any) -> list[Any]:
        async with db() as session:
            items = list(
                await session.scalars(
                    select(PlanItem).where(PlanItem.active.is_(True)).order_by(PlanItem.id)
                )
            )
            counts = {
                (row[0], row[1]): row[2]
                for row in await session.execute(
                    select(Delivery.plan_item_id, Delivery.status, func.count()).group_by(
                        Delivery.plan_item_id, Delivery.status
                    )
                )
            }
            reads = dict(
                list(
                    await session.execute(
                        select(MaterialRead.plan_item_id, func.count()).group_by(
                            MaterialRead.plan_item_id
                        )
                    )
                )
            )
            return [(item, counts, reads) for item in items]

    rows = run_db(config, work)
    if not rows:
        click.echo("no study plan loaded")
        return
    now = utcnow()
    for item, counts, reads in rows:
        try:
            nxt = parse_when(item.when, config.tz).next_after(now)
        except ScheduleError:
            nxt = None
        when = _plan_time(config, nxt) if nxt else "-"
        click.echo(
            f"{item.slug}\tnext {when}\tsent {counts.get((item.id, 'sent'), 0)}"
            f"\tmissed {counts.get((item.id, 'missed'), 0)}"
            f"\tunreachable {counts.get((item.id, 'unreachable'), 0)}"
            f"\tfailed {counts.get((item.id, 'failed'), 0)}\tread {reads.get(item.id, 0)}"
            f"\t{item.title}"
        )


# --- leaderboards, reports, demo -------------------------------------------------------------


def _progress_steps(label: str) -> tuple[Any, Any]:
    """A spinner naming the current step, on a terminal only."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    task = bar.add_task(label)

    def step(name: str) -> None:
        bar.update(task, description=f"{label}: {name}")

    return bar, step


@main.command()
@period_options("season")
@click.option(
    "--by", type=click.Choice(["person", "department"]), default="person", show_default=True
)
@click.option("--department", default=None, help="Only people of this department.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show the first N rows.")
@click.pass_context
def leaderboard(
    ctx: click.Context,
    period: str | None,
    start: Any,
    end: Any,
    by: str,
    department: str | None,
    limit: int | None,
) -> None:
    """Print a leaderboard by person (points, accuracy) or by department."""
    config = get_config(ctx)
    chosen = _cli_period(config, period, start, end, "season")
    if by == "department" and department:
        fail("--department filters people; it does not go with --by department")
    from sqlalchemy import select

    from bot.db.models import Department
    from bot.points.leaderboard import department_leaderboard, person_leaderboard
    from bot.reports.text import fmt, pct

    async def work(db: Any) -> Any:
        async with db() as session:
            if department is not None:
                found = await session.scalar(
                    select(Department.id).where(Department.name == department)
                )
                if found is None:
                    return None
            if by == "department":
                return await department_leaderboard(session, config, chosen)
            return await person_leaderboard(
                session, config, chosen, department=department, limit=limit
            )

    rows = run_db(config, work)
    if rows is None:
        fail(f"no department {department!r}", code=1)
        return
    click.echo(
        f"{'department' if by == 'department' else 'leaderboard'} {chosen.label} ({chosen.start} – {chosen.end})"
    )
    if not rows:
        click.echo("no points in this period")
        return
    if by == "department":
        click.echo("rank\tdepartment\tmembers\tparticipants\trate\tpoints\tavg")
        for d in rows[:limit]:
            click.echo(
                f"{d.rank}\t{d.name}\t{d.roster}\t{d.participants}\t{pct(d.participation_rate)}\t{d.points}\t{fmt(d.average_points, 'average')}"
            )
    else:
        click.echo("rank\tname\tdepartment\tpoints\taccuracy")
        for r in rows:
            click.echo(f"{r.rank}\t{r.name}\t{r.department or '-'}\t{r.points}\t{pct(r.accuracy)}")


@main.command()
@period_options("year")
@click.option(
    "--format",
    "fmt_",
    type=click.Choice(["md", "xlsx", "docx", "png"]),
    default=None,
    help="Default: from the --out suffix, else md.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file ('-' or none: Markdown to stdout).",
)
@click.option(
    "--locale",
    type=click.Choice(["zh_CN", "en"]),
    default=None,
    help="Language (default: the config's locale).",
)
@click.pass_context
def report(
    ctx: click.Context,
    period: str | None,
    start: Any,
    end: Any,
    fmt_: str | None,
    out: Path | None,
    locale: str | None,
) -> None:
    """Write the participation report of a period (md, xlsx, docx or png)."""
    config = get_config(ctx)
    chosen = _cli_period(config, period, start, end, "year")
    to_stdout = out is None or str(out) == "-"
    if fmt_ is None:
        suffix = out.suffix.lstrip(".").lower() if out is not None and not to_stdout else ""
        fmt_ = suffix if suffix in ("md", "xlsx", "docx", "png") else "md"
    if to_stdout and fmt_ != "md":
        fail(f"--format {fmt_} is a binary file: give --out FILE")
    from bot.i18n import translator
    from bot.reports.figures import compute_figures
    from bot.reports.outputs import render

    bar, step = _progress_steps(f"report {chosen.label}")

    async def work(db: Any) -> Any:
        async with db() as session:
            return await compute_figures(
                session, config, chosen, activity_log=fmt_ == "xlsx", progress=step
            )

    with bar:
        figures = run_db(config, work)
        step(f"writing {fmt_}")
        data = render(figures, fmt_, translator(locale or config.locale))
    if to_stdout:
        click.echo(data.decode("utf-8"), nl=False)
        return
    assert out is not None
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", code=1)
    click.echo(f"wrote {out} ({fmt_}, {chosen.label}, {len(data)} bytes)")


@main.command()
@click.option("--members", type=click.IntRange(5, 5000), default=60, show_default=True)
@click.option("--days", type=click.IntRange(1, 730), default=90, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("studybot-demo"),
    show_default=True,
    help="Folder for the demo database and the sample report.",
)
@click.option(
    "--database", default=None, help="Database URL to fill (default: a new SQLite file in --out)."
)
@click.option(
    "--quizzes",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Sample content folder (default: the repository's quizzes/).",
)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.pass_context
def demo(
    ctx: click.Context,
    members: int,
    days: int,
    out: Path,
    database: str | None,
    quizzes: Path | None,
    seed: int,
) -> None:
    """Fill a fresh database with a sample unit and simulated study, and write a report."""
    config = get_config(ctx)
    out.mkdir(parents=True, exist_ok=True)
    url = database or f"sqlite+aiosqlite:///{(out / 'demo.db').resolve()}"
    from bot.config import normalise_database_url

    config = config.model_copy(
        update={"database": config.database.model_copy(update={"url": normalise_database_url(url)})}
    )
    if quizzes is None:
        here = Path(__file__).resolve().parent.parent / "quizzes"
        quizzes = here if here.is_dir() else Path("quizzes")
    import datetime as dt

    from bot.core.periods import custom_period, local_day
    from bot.i18n import translator
    from bot.reports.demo import DemoError, build_demo
    from bot.reports.figures import compute_figures
    from bot.reports.outputs import render
    from bot.reports.text import report_paragraph

    bar, step = _progress_steps("demo")
    today = local_day(config.tz)
    chosen = custom_period(today - dt.timedelta(days=days - 1), today)

    async def work(db: Any) -> Any:
        async with db.begin() as session:
            summary = await build_demo(
                session,
                config,
                members=members,
                days=days,
                quizzes=quizzes,
                today=today,
                seed=seed,
                progress=step,
            )
        async with db() as session:
            figures = await compute_figures(session, config, chosen, progress=step)
        return summary, figures

    try:
        with bar:
            summary, figures = run_db(config, work)
            tr = translator(config.locale)
            written = []
            for kind in ("md", "xlsx", "docx", "png"):
                step(f"writing {kind}")
                target = out / f"report.{kind}"
                target.write_bytes(render(figures, kind, tr))
                written.append(target)
    except DemoError as exc:
        fail(str(exc), code=1)
        return
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"demo database: {url}\n"
        f"{summary.members} members in {summary.departments} departments; banks: {', '.join(summary.banks)}; "
        f"{summary.plan_items} plan items\n"
        f"{days} days simulated: {summary.answers} answers, {summary.reads} reads, "
        f"{summary.sessions} sessions, {summary.discussions} discussions, "
        f"{summary.live_rounds} live rounds, {summary.reflections} reflections, "
        f"{summary.ledger_rows} ledger rows"
    )
    click.echo("report: " + ", ".join(str(p) for p in written))
    click.echo("")
    click.echo(report_paragraph(figures, translator(config.locale)))
    click.echo(
        f"\nTry: studybot --config <your config> report --from {chosen.start} --to {chosen.end} --out report.docx "
        f"(with DATABASE_URL={url})"
    )


if __name__ == "__main__":
    main()
