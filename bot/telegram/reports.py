"""/leaderboard, /summary and /report: rankings and the participation summary in chat.

What staff see of the rankings follows ``leaderboard.staff_view`` (top10 | own_rank_only |
off); leaders and admins see everything. Summaries and reports name people and include the
raw activity, so they go to leaders and admins only, and only in a private chat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import InputFile, Update
from telegram.ext import Application, CommandHandler

from bot.core.periods import Period, PeriodError, local_day, parse_period
from bot.i18n import Translator
from bot.points.leaderboard import (
    DepartmentRow,
    LeaderRow,
    department_leaderboard,
    member_line,
    person_leaderboard,
)
from bot.reports.figures import compute_figures
from bot.reports.outputs import filename, render
from bot.reports.text import department_name, fmt, pct, summary_message
from bot.telegram.common import STARTUP_HOOKS, command_args, reply, requires
from bot.telegram.context import StudyContext

log = logging.getLogger("studybot.reports")

DEPARTMENT_WORDS = {"部门", "dept", "depts", "department", "departments", "按部门"}
STAFF_TOP = 10
LEADER_TOP = 50


@dataclass(frozen=True)
class LeaderboardRequest:
    period: Period
    by_department: bool
    department: str | None


def _period(context: StudyContext, text: str | None, default: str) -> Period:
    config = context.config
    seasons = [(s.name, s.from_, s.to) for s in config.points.seasons]
    return parse_period(text, local_day(config.tz), seasons=seasons, default=default)


def parse_leaderboard_args(context: StudyContext, args: list[str]) -> LeaderboardRequest:
    """``[period] [dept | 部门]`` in any order; an unknown word is a department name."""
    period_text: str | None = None
    department: str | None = None
    by_department = False
    for arg in args:
        if arg.lower() in DEPARTMENT_WORDS:
            by_department = True
            continue
        try:
            _period(context, arg, "season")
        except PeriodError:
            # A word that looks like a date is a mistyped period, not a department.
            if department is not None or arg[:1].isdigit():
                raise
            department = arg
            continue
        period_text = arg
    return LeaderboardRequest(_period(context, period_text, "season"), by_department, department)


def person_lines(_: Translator, rows: list[LeaderRow]) -> list[str]:
    return [
        _(
            "{rank}. {name} ({department}) {points} pts · accuracy {accuracy}",
            rank=r.rank,
            name=r.name,
            department=department_name(r.department, _),
            points=r.points,
            accuracy=pct(r.accuracy),
        )
        for r in rows
    ]


def department_lines(_: Translator, rows: list[DepartmentRow]) -> list[str]:
    return [
        _(
            "{rank}. {name}: {average} pts per member, participation {rate} ({participants}/{roster})",
            rank=d.rank,
            name=d.name,
            average=fmt(d.average_points, "average"),
            rate=pct(d.participation_rate),
            participants=d.participants,
            roster=d.roster,
        )
        for d in rows
    ]


async def _send_photo(update: Update, context: StudyContext, png: bytes) -> None:
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_photo(chat.id, InputFile(png, filename="leaderboard.png"))


async def leaderboard_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    actor = context.actor
    if actor is None or not (actor.is_member or actor.is_leader):
        await reply(update, context, _("Please register first: send /start."))
        return
    try:
        request = parse_leaderboard_args(context, command_args(context))
    except PeriodError as exc:
        await reply(update, context, _("Unknown period: {error}", error=str(exc)))
        return
    privileged = actor.is_leader
    view = "all" if privileged else context.config.leaderboard.staff_view
    if view == "off":
        await reply(
            update,
            context,
            _("Rankings are not shown in this unit. Send /me for your own points."),
        )
        return
    title = (
        _("🏢 Department ranking · {period}", period=request.period.label)
        if request.by_department
        else _("🏆 Leaderboard · {period}", period=request.period.label)
    )
    if request.department and not request.by_department:
        title += f" · {request.department}"
    lines = [title]
    png: bytes | None = None
    async with context.db() as session:
        if request.by_department:
            depts = await department_leaderboard(session, context.config, request.period)
            if view == "own_rank_only":
                depts = [d for d in depts if d.name == actor.department]
            lines += department_lines(_, depts) or [_("No departments with members yet.")]
            if depts and view != "own_rank_only":
                from bot.reports.charts import departments_chart

                png = await asyncio.to_thread(departments_chart, depts, title, _)
        else:
            limit = LEADER_TOP if privileged else STAFF_TOP
            rows: list[LeaderRow] = []
            if view != "own_rank_only":
                rows = await person_leaderboard(
                    session,
                    context.config,
                    request.period,
                    department=request.department,
                    limit=limit,
                )
                lines += person_lines(_, rows) or [_("No points in this period yet.")]
                if rows:
                    from bot.reports.charts import people_chart

                    png = await asyncio.to_thread(people_chart, rows[:STAFF_TOP], title, _)
            if actor.member_id is not None:
                own = await member_line(session, context.config, actor.member_id, request.period)
                lines.append("")
                if own is None:
                    lines.append(_("You have no points in this period yet."))
                else:
                    lines.append(
                        _(
                            "Your rank: {rank} · {points} pts · accuracy {accuracy}",
                            rank=own.rank,
                            points=own.points,
                            accuracy=pct(own.accuracy),
                        )
                    )
    await reply(update, context, "\n".join(lines))
    if png is not None:
        await _send_photo(update, context, png)


def _report_period(context: StudyContext) -> Period:
    args = command_args(context)
    return _period(context, " ".join(args) if args else None, "year")


@requires("leader", private_only=True)
async def summary_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    try:
        period = _report_period(context)
    except PeriodError as exc:
        await reply(update, context, _("Unknown period: {error}", error=str(exc)))
        return
    await reply(update, context, _("Working on the summary for {period}…", period=period.label))
    async with context.db() as session:
        figures = await compute_figures(session, context.config, period)
    await reply(update, context, summary_message(figures, _))
    data = await asyncio.to_thread(render, figures, "xlsx", _)
    await _send_document(update, context, data, filename(figures, "xlsx"))


@requires("leader", private_only=True)
async def report_command(update: Update, context: StudyContext) -> None:
    _ = context.tr
    try:
        period = _report_period(context)
    except PeriodError as exc:
        await reply(update, context, _("Unknown period: {error}", error=str(exc)))
        return
    await reply(update, context, _("Working on the report for {period}…", period=period.label))
    async with context.db() as session:
        figures = await compute_figures(session, context.config, period)
    for kind in ("docx", "xlsx"):
        data = await asyncio.to_thread(render, figures, kind, _)
        await _send_document(update, context, data, filename(figures, kind))
    png = await asyncio.to_thread(render, figures, "png", _)
    await _send_photo(update, context, png)


async def _send_document(update: Update, context: StudyContext, data: bytes, name: str) -> None:
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_document(chat.id, InputFile(data, filename=name))


async def _refresh_rollups(context: StudyContext) -> None:
    """Roll up newly closed months ahead of the first report or /me that needs them."""
    from bot.reports.rollups import refresh

    async with context.db() as session:
        await refresh(session, context.config.tz)


async def _schedule_rollups(app: Application) -> None:  # type: ignore[type-arg]
    if app.job_queue is not None:
        app.job_queue.run_repeating(_refresh_rollups, interval=3600, first=60, name="rollups")  # type: ignore[arg-type]


def register(app: Application) -> None:  # type: ignore[type-arg]
    STARTUP_HOOKS.append(_schedule_rollups)
    app.add_handler(CommandHandler("leaderboard", leaderboard_command))
    app.add_handler(CommandHandler("summary", summary_command))
    app.add_handler(CommandHandler("report", report_command))
