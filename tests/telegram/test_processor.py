"""Processed-update memory: redeliveries skipped, old ids forgotten, impossible updates."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update

from bot.db.models import InboxUpdate, ProcessedUpdate
from bot.db.types import utcnow
from bot.telegram.processor import RETENTION, OrderedUpdateProcessor, malformed, sender_of


async def test_redelivery_window_and_pruning(db: async_sessionmaker[AsyncSession]) -> None:
    processor = OrderedUpdateProcessor(4, db)
    async with db.begin() as session:
        session.add(
            ProcessedUpdate(update_id=1, processed_at=utcnow() - RETENTION - dt.timedelta(hours=1))
        )
        session.add(ProcessedUpdate(update_id=2, processed_at=utcnow() - dt.timedelta(hours=20)))
    # Within the window a redelivery is recognised; an id older than that is a new update
    # (Telegram reuses ids only after a week without updates).
    assert await processor._already_processed(2)
    assert not await processor._already_processed(1)
    assert not await processor._already_processed(3)
    await processor._mark_processed(3)  # the first mark also forgets what is too old
    await processor._mark_processed(1)  # a reused id is remembered afresh
    async with db() as session:
        ids = set(await session.scalars(select(ProcessedUpdate.update_id)))
        assert ids == {1, 2, 3}
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 3
    assert await processor._already_processed(1) and await processor._already_processed(3)


def test_updates_telegram_could_never_send() -> None:
    bot = Bot("123456:TEST-TOKEN-processor")
    user = {"id": 5, "is_bot": False, "first_name": "A"}
    chat = {"id": 5, "type": "private", "first_name": "A"}
    ok = Update.de_json(
        {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat, "from": user}}, bot
    )
    no_chat = Update.de_json({"update_id": 2, "message": {"message_id": 1, "date": 0}}, bot)
    no_voter = Update.de_json(
        {
            "update_id": 3,
            "poll_answer": {"poll_id": "p", "option_ids": [0], "option_persistent_ids": ["0"]},
        },
        bot,
    )
    assert malformed(ok) is None
    assert malformed(no_chat) == "message without chat"
    assert malformed(no_voter) == "poll answer without voter"


async def test_batched_lookup_and_marks_finishing_together_share_one_write(
    db: async_sessionmaker[AsyncSession],
) -> None:
    processor = OrderedUpdateProcessor(4, db)
    async with db.begin() as session:
        session.add(ProcessedUpdate(update_id=10, processed_at=utcnow()))
    await processor.prefetch([10, 11, 12])
    # The answers come from the batch lookup: no query is needed for them.
    assert await processor._already_processed(10)
    assert not await processor._already_processed(11)
    # Updates finishing in the same turn of the loop are written together, and each mark
    # returns only once its update is in the table.
    batches: list[list[int]] = []
    write = processor._write

    async def counting(batch: dict[int, dt.datetime]) -> bool:
        batches.append(sorted(batch))
        return await write(batch)

    processor._write = counting  # type: ignore[method-assign]
    await asyncio.gather(*(processor._mark_processed(u) for u in (11, 12, 13)))
    assert batches == [[11, 12, 13]]
    async with db() as session:
        ids = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert ids == {10, 11, 12, 13}
    # A second delivery of a finished update is recognised, from memory or from the table.
    fresh = OrderedUpdateProcessor(4, db)
    await fresh.prefetch([11, 14])
    assert await fresh._already_processed(11) and not await fresh._already_processed(14)
    assert await fresh._already_processed(13)  # not prefetched: looked up on its own
    await processor.shutdown()


async def test_batch_hooks_see_each_senders_first_update_unless_one_is_in_hand(
    db: async_sessionmaker[AsyncSession],
) -> None:
    processor = OrderedUpdateProcessor(4, db)
    seen: list[list[int]] = []

    async def hook(session: AsyncSession, items: list[dict]) -> None:
        seen.append([item["update_id"] for item in items])

    processor.batch_hooks.append(hook)

    def message(update_id: int, sender: int) -> dict:
        chat = {"id": sender, "type": "private"}
        user = {"id": sender, "is_bot": False, "first_name": "A"}
        return {"update_id": update_id, "message": {"message_id": 1, "chat": chat, "from": user}}

    def press(update_id: int, sender: int) -> dict:
        user = {"id": sender, "is_bot": False, "first_name": "B"}
        return {"update_id": update_id, "callback_query": {"id": "q", "from": user}}

    assert sender_of(press(9, 7)) == 7 and sender_of({"update_id": 1}) is None
    assert await processor.receive([message(1, 5), message(2, 5), press(3, 7)])
    # 2 follows 1 from the same sender: what 1 changes, 2 must read for itself.
    assert seen == [[1, 3]]
    async with db() as session:
        stored = set(await session.scalars(select(InboxUpdate.update_id)))
    assert stored == {1, 2, 3}
    # Sender 5 still has updates in hand: nothing is read ahead for them.
    assert await processor.receive([message(4, 5), message(5, 8)])
    assert seen[-1] == [5]
    assert [u["update_id"] for u in await processor.pending()] == [1, 2, 3, 4, 5]
    await processor._mark_processed(1)  # done at once: the inbox keeps it until written
    assert await processor._already_processed(1)
    assert processor._writer is not None
    await asyncio.wait_for(processor._writer, timeout=5)
    assert [u["update_id"] for u in await processor.pending()] == [2, 3, 4, 5]
    # A mark waiting to be written goes along with the next batch received.
    await processor._mark_processed(2)
    assert await processor.receive([message(6, 9)])
    assert [u["update_id"] for u in await processor.pending()] == [3, 4, 5, 6]
    async with db() as session:
        done = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert done == {1, 2}
    await processor.shutdown()


async def test_a_mark_that_cannot_be_written_is_kept_and_written_later(
    db: async_sessionmaker[AsyncSession],
) -> None:
    processor = OrderedUpdateProcessor(4, db)
    write = processor._write
    failures = [1]

    async def flaky(batch: dict[int, dt.datetime]) -> bool:
        if failures:
            failures.pop()
            return False  # as when the database is away
        return await write(batch)

    processor._write = flaky  # type: ignore[method-assign]
    await processor._mark_processed(21)  # the update is done even though not yet written
    assert await processor._already_processed(21)
    assert processor._writer is not None
    await asyncio.wait_for(processor._writer, timeout=10)  # written on the retry
    async with db() as session:
        ids = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert ids == {21}
