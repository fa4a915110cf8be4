"""A CallbackContext that carries the config, the session factory and the acting person."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Config
from bot.i18n import Translator, translator
from bot.members.service import Actor


class StudyContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Per-update context; the middleware fills ``actor`` before any handler runs."""

    def __init__(
        self, application: Application, chat_id: int | None = None, user_id: int | None = None
    ):  # type: ignore[type-arg]
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.actor: Actor | None = None

    @property
    def config(self) -> Config:
        return self.bot_data["config"]  # type: ignore[no-any-return]

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.bot_data["db"]  # type: ignore[no-any-return]

    @property
    def tr(self) -> Translator:
        locale = self.actor.locale if self.actor else self.config.locale
        return translator(locale)
