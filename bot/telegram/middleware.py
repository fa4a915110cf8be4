"""Runs before every handler (group -1): leaves foreign groups, resolves the acting person
and their language, and records the daily check-in on the first interaction of the day."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.db.inline import run_inline
from bot.db.models import Chat
from bot.db.types import utcnow
from bot.members.service import (
    Actor,
    ActorRow,
    actor_of,
    actor_rows,
    daily_checkin,
    language_changed,
    load_actor,
)
from bot.telegram.context import StudyContext
from bot.telegram.processor import note_member, sender_of

log = logging.getLogger("studybot.middleware")

_checked_in: set[tuple[int, str]] = set()


async def _remember_chat(
    context: StudyContext, chat_id: int, type_: str, title: str | None, allowed: bool, left: bool
) -> None:
    async with context.db.begin() as session:
        chat = await session.get(Chat, chat_id)
        if chat is None:
            chat = Chat(id=chat_id, type=type_)
            session.add(chat)
        chat.title = title
        chat.allowed = allowed
        chat.updated_at = utcnow()
        if left:
            chat.left_at = utcnow()


_migrated_allowed: set[int] = set()


async def _migrated_from_allowed(update: Update, context: StudyContext, chat_id: int) -> bool:
    """A configured group that became a supergroup keeps being served under its new id."""
    if chat_id in _migrated_allowed:
        return True
    message = update.effective_message
    old_id = message.migrate_from_chat_id if message is not None else None
    async with context.db.begin() as session:
        if old_id is not None and old_id in context.config.groups:
            known = await session.get(Chat, old_id)
            if known is None:
                session.add(Chat(id=old_id, type="group", migrated_to=chat_id, allowed=True))
            else:
                known.migrated_to = chat_id
        else:
            old_ids = await session.scalars(select(Chat.id).where(Chat.migrated_to == chat_id))
            if not any(old in context.config.groups for old in old_ids):
                return False
    log.info("serving group %s: it was migrated from a configured group", chat_id)
    _migrated_allowed.add(chat_id)
    return True


async def guard_groups(update: Update, context: StudyContext) -> None:
    chat = update.effective_chat
    if chat is None or chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    if chat.id in context.config.groups or await _migrated_from_allowed(update, context, chat.id):
        return
    member_update = update.my_chat_member
    if member_update and member_update.new_chat_member.status in (
        ChatMemberStatus.LEFT,
        ChatMemberStatus.BANNED,
    ):
        raise ApplicationHandlerStop
    log.warning("leaving group %s (%s): not in the configured groups", chat.id, chat.title)
    try:
        await context.bot.leave_chat(chat.id)
    except TelegramError as exc:
        log.warning("could not leave group %s: %s", chat.id, exc)
    try:
        await _remember_chat(context, chat.id, chat.type, chat.title, False, True)
    except SQLAlchemyError:
        log.exception("could not record the group %s", chat.id)
    raise ApplicationHandlerStop


# Member rows read while a polled batch was stored (``OrderedUpdateProcessor.batch_hooks``),
# by update id: the update's handling then needs no transaction of its own to know its actor.
_prefetched: dict[int, tuple[int, ActorRow | None]] = {}


async def prefetch_actors(session: AsyncSession, items: list[dict[str, Any]]) -> None:
    senders = {item["update_id"]: sender_of(item) for item in items}
    rows = await actor_rows(session, [s for s in senders.values() if s is not None])
    if len(_prefetched) > 10_000:  # updates that were skipped never collect theirs
        _prefetched.clear()
    for update_id, sender in senders.items():
        if sender is not None:
            _prefetched[update_id] = (sender, rows.get(sender))


def _check_in_due(actor: Actor, update: Update, day: str) -> bool:
    """Whether this update is the member's first interaction of ``day`` in this process."""
    return (
        actor.member_id is not None
        and update.poll is None
        and (actor.member_id, day) not in _checked_in
    )


def _known_actor(update: Update, context: StudyContext, user: User, day: str) -> Actor | None:
    """The actor read with the update's batch, when nothing needs writing."""
    prefetched = _prefetched.pop(update.update_id, None)
    if prefetched is None or prefetched[0] != user.id:
        return None
    row = prefetched[1]
    if language_changed(row, user.language_code):
        return None
    actor = actor_of(context.config, user.id, user.language_code, row)
    return None if _check_in_due(actor, update, day) else actor


async def before_handlers(update: Update, context: StudyContext) -> None:
    await guard_groups(update, context)
    user = update.effective_user
    if user is None or user.is_bot:
        return
    config = context.config
    day = utcnow().astimezone(config.tz).date().isoformat()

    async def resolve(session: AsyncSession) -> tuple[Actor, bool]:
        """The actor, and whether today's check-in was recorded now."""
        actor = await load_actor(session, config, user.id, user.language_code)
        if actor.member_id is None or not _check_in_due(actor, update, day):
            return actor, False
        await daily_checkin(session, config, actor.member_id)
        return actor, True

    actor = _known_actor(update, context, user, day)
    if actor is None:
        async with context.db.begin() as session:
            resolved, checked_in = await run_inline(session, resolve)
        actor = resolved
        if checked_in and actor.member_id is not None:
            _checked_in.add((actor.member_id, day))
            if len(_checked_in) > 100_000:
                _checked_in.clear()
    context.actor = actor
    note_member(actor.member_id)
