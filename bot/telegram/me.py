"""/me: a member's own points (today, season, total), rank, streak and accuracy."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.i18n import Translator
from bot.quiz.overview import Overview, member_overview
from bot.telegram.common import reply, requires
from bot.telegram.context import StudyContext


def overview_text(_: Translator, name: str, view: Overview) -> str:
    lines = [
        _("📊 {name}", name=name),
        _("Points today: {points}", points=view.today_points),
        _(
            "Points this season ({season}): {points}",
            season=view.season_name,
            points=view.season_points,
        ),
        _("Points in total: {points}", points=view.total_points),
    ]
    if view.show_rank:
        if view.rank is None:
            lines.append(_("Rank this season: not ranked yet"))
        else:
            lines.append(
                _("Rank this season: {rank} of {ranked}", rank=view.rank, ranked=view.ranked)
            )
    lines.append(_("Streak: {days} days in a row", days=view.streak))
    if view.accuracy is None:
        lines.append(_("Accuracy: no answers yet"))
    else:
        lines.append(
            _(
                "Accuracy: {percent:.1f}% ({correct} of {answered} answers)",
                percent=view.accuracy * 100,
                correct=view.correct,
                answered=view.answered,
            )
        )
    if view.notebook:
        lines.append(_("Questions to review: {count} (send /review)", count=view.notebook))
    return "\n".join(lines)


@requires("staff", private_only=True)
async def me_command(update: Update, context: StudyContext) -> None:
    actor = context.actor
    assert actor is not None and actor.member_id is not None
    async with context.db() as session:
        view = await member_overview(session, context.config, actor.member_id)
    await reply(update, context, overview_text(context.tr, actor.name or "", view))


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("me", me_command))
