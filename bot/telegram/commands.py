"""The command menu registered with setMyCommands (English default, Chinese for zh)."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.error import TelegramError

from bot.i18n import N_, translator

log = logging.getLogger(__name__)

PRIVATE_COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Register or bind your account")),
    ("help", N_("What you can do here")),
    ("quiz", N_("Today's daily quiz")),
    ("weekly", N_("This week's quiz")),
    ("special", N_("Special campaign quiz")),
    ("challenge", N_("Challenge: until the first wrong answer")),
    ("review", N_("Review the questions you got wrong")),
    ("study", N_("Today's study materials")),
    ("me", N_("My points, rank and streak")),
    ("leaderboard", N_("Leaderboard")),
    ("note", N_("Submit a study reflection")),
    ("notes", N_("My study reflections")),
    ("remind", N_("Turn daily reminders on or off")),
    ("summary", N_("Participation summary (leaders)")),
    ("report", N_("Study report files (leaders)")),
    ("banks", N_("Question banks (admins)")),
    ("session", N_("Open or close a study session check-in (admins)")),
]

GROUP_COMMANDS: list[tuple[str, str]] = [
    ("help", N_("What you can do here")),
    ("leaderboard", N_("Leaderboard")),
    ("livequiz", N_("Start a live quiz (admins)")),
    ("stopquiz", N_("Stop the live quiz (admins)")),
    ("discuss", N_("Open or close a topic discussion (admins)")),
    ("session", N_("Open or close a study session check-in (admins)")),
]


def bot_commands(commands: list[tuple[str, str]], locale: str) -> list[BotCommand]:
    _ = translator(locale)
    return [BotCommand(name, _.gettext(desc)) for name, desc in commands]


async def register_commands(bot: Bot) -> None:
    """Publish the menus; a failure here is logged and does not stop the bot."""
    try:
        for scope, commands in (
            (BotCommandScopeAllPrivateChats(), PRIVATE_COMMANDS),
            (BotCommandScopeAllGroupChats(), GROUP_COMMANDS),
        ):
            await bot.set_my_commands(bot_commands(commands, "en"), scope=scope)
            await bot.set_my_commands(
                bot_commands(commands, "zh_CN"), scope=scope, language_code="zh"
            )
        await bot.set_my_commands(bot_commands(PRIVATE_COMMANDS, "en"))
        await bot.set_my_commands(bot_commands(PRIVATE_COMMANDS, "zh_CN"), language_code="zh")
    except TelegramError as exc:
        log.warning("could not register the command menu: %s", exc)
