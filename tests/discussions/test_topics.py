"""Topic discussions: arguments, opening, counting replies, edits, caps, closing once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import Discussion, DiscussionParticipant, DiscussionReply, LedgerEntry
from bot.discussions import topics
from bot.points.ledger import total_points
from tests.conftest import make_config
from tests.discussions.conftest import People, RecordingSender

GROUP = -100123
T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
LONG = "我认为保密工作要从日常小事做起"
SHORT = "同意！👍"


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "title", "window"),
    [
        (["学习宪法"], "学习宪法", dt.timedelta(hours=24)),
        (["学习宪法", "2"], "学习宪法", dt.timedelta(hours=2)),
        (["学习宪法", "1.5"], "学习宪法", dt.timedelta(hours=1.5)),
        (["学习宪法", "90m"], "学习宪法", dt.timedelta(minutes=90)),
        (["学习宪法", "3d"], "学习宪法", dt.timedelta(days=3)),
        (["学习宪法", "2小时"], "学习宪法", dt.timedelta(hours=2)),
        (["学习", "二十大", "报告", "48h"], "学习 二十大 报告", dt.timedelta(hours=48)),
        (["第3期"], "第3期", dt.timedelta(hours=24)),
        (["谈谈", "第3期"], "谈谈 第3期", dt.timedelta(hours=24)),
        (["2026"], "2026", dt.timedelta(hours=24)),  # a lone word is the title
    ],
)
def test_discuss_arguments(args: list[str], title: str, window: dt.timedelta) -> None:
    assert topics.parse_discuss_args(args) == (title, window)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], "no_title"),
        (["  "], "no_title"),
        (["标" * 201], "title_too_long"),
        (["题目", "0"], "bad_window"),
        (["题目", "31d"], "bad_window"),
        (["题目", "0.5m"], "bad_window"),
    ],
)
def test_bad_discuss_arguments(args: list[str], code: str) -> None:
    with pytest.raises(topics.TopicInputError) as info:
        topics.parse_discuss_args(args)
    assert info.value.code == code


# --- opening -----------------------------------------------------------------------------------


async def _open(
    db: async_sessionmaker[AsyncSession],
    sender: RecordingSender,
    config: Config,
    *,
    title: str = "谈谈保密工作",
    hours: float = 2,
    key: str | None = None,
    now: dt.datetime = T0,
) -> topics.Topic:
    topic = await topics.open_topic(
        db,
        sender,
        config,
        chat_id=GROUP,
        title=title,
        window=dt.timedelta(hours=hours),
        opened_by=111,
        request_key=key,
        now=now,
    )
    assert topic is not None
    return topic


async def test_open_posts_the_topic_message_and_records_it(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender
) -> None:
    topic = await _open(db, sender, config)
    [message] = sender.messages
    assert message.chat_id == GROUP
    assert "谈谈保密工作" in message.text
    assert "2026-11-26 12:00" in message.text  # the window end in local time
    assert "回复本条消息" in message.text and "10" in message.text
    assert topic.message_id == message.message_id
    assert topic.closes_at == T0 + dt.timedelta(hours=2)
    async with db() as session:
        assert [t.id for t in await topics.open_topics(session, GROUP)] == [topic.id]


async def test_a_repeated_command_opens_one_topic(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender
) -> None:
    await _open(db, sender, config, key=f"{GROUP}:77")
    again = await topics.open_topic(
        db,
        sender,
        config,
        chat_id=GROUP,
        title="谈谈保密工作",
        window=dt.timedelta(hours=2),
        opened_by=111,
        request_key=f"{GROUP}:77",
        now=T0,
    )
    assert again is None
    assert len(sender.messages) == 1
    async with db() as session:
        assert await session.scalar(select(func.count(Discussion.id))) == 1


async def test_a_failed_post_leaves_no_topic(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender
) -> None:
    from bot.sending import SendError

    sender.fail_next.append("Forbidden: bot was kicked")
    with pytest.raises(SendError):
        await _open(db, sender, config)
    async with db() as session:
        assert await session.scalar(select(func.count(Discussion.id))) == 0


# --- replies -----------------------------------------------------------------------------------


async def _reply(
    db: async_sessionmaker[AsyncSession],
    config: Config,
    topic: topics.Topic,
    telegram_id: int,
    message_id: int,
    text: str,
    at: dt.datetime,
    *,
    edited: bool = False,
    topic_message_id: int | None = None,
) -> topics.ReplyOutcome:
    async with db.begin() as session:
        return await topics.record_reply(
            session,
            config,
            chat_id=GROUP,
            topic_message_id=topic_message_id or topic.message_id or 0,
            telegram_id=telegram_id,
            message_id=message_id,
            text=text,
            sent_at=at,
            edited=edited,
        )


async def _points(db: async_sessionmaker[AsyncSession], member_id: int) -> int:
    async with db() as session:
        return await total_points(session, member_id)


async def _participants(db: async_sessionmaker[AsyncSession], topic_id: int) -> list[int]:
    async with db() as session:
        rows = await session.scalars(
            select(DiscussionParticipant.member_id)
            .where(DiscussionParticipant.discussion_id == topic_id)
            .order_by(DiscussionParticipant.member_id)
        )
        return list(rows)


async def test_first_long_reply_counts_once(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    at = T0 + dt.timedelta(minutes=5)
    first = await _reply(db, config, topic, 501, 10, LONG, at)
    assert (first.status, first.points) == ("counted", 1)
    second = await _reply(db, config, topic, 501, 11, LONG + "，还要加强检查", at)
    assert second.status == "already_counted"
    redelivered = await _reply(db, config, topic, 501, 10, LONG, at)
    assert redelivered.status == "duplicate"
    assert await _participants(db, topic.id) == [people.li]
    assert await _points(db, people.li) == 1
    async with db() as session:
        replies = await session.scalar(
            select(func.count(DiscussionReply.id)).where(DiscussionReply.discussion_id == topic.id)
        )
        counted_at = await session.scalar(
            select(DiscussionParticipant.counted_at).where(
                DiscussionParticipant.member_id == people.li
            )
        )
    assert replies == 2
    assert counted_at == at  # Telegram's time of the reply, for the reports


@pytest.mark.parametrize(
    "text", [SHORT, "+1", "同意同意同意同意同意同意", "👍👍👍👍👍👍👍👍👍👍👍", "好的"]
)
async def test_short_and_agreement_replies_do_not_count(
    db: async_sessionmaker[AsyncSession],
    config: Config,
    sender: RecordingSender,
    people: People,
    text: str,
) -> None:
    topic = await _open(db, sender, config)
    outcome = await _reply(db, config, topic, 502, 20, text, T0 + dt.timedelta(minutes=1))
    assert outcome.status == "too_short"
    assert outcome.min_chars == 10 and outcome.length < 10
    assert await _participants(db, topic.id) == []
    assert await _points(db, people.wang) == 0
    async with db() as session:
        stored = await session.scalar(select(DiscussionReply))
    assert stored is not None and stored.counts is False and stored.text == text


async def test_an_edit_can_make_a_short_reply_count_but_never_uncount(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    at = T0 + dt.timedelta(minutes=3)
    assert (await _reply(db, config, topic, 502, 30, SHORT, at)).status == "too_short"
    edited_at = at + dt.timedelta(minutes=2)
    outcome = await _reply(db, config, topic, 502, 30, LONG, edited_at, edited=True)
    assert (outcome.status, outcome.points) == ("counted", 1)
    # the same edit delivered again, and an edit back to a short text, change nothing
    assert (await _reply(db, config, topic, 502, 30, LONG, edited_at, edited=True)).status == (
        "already_counted"
    )
    assert (
        await _reply(
            db, config, topic, 502, 30, "。", edited_at + dt.timedelta(minutes=1), edited=True
        )
    ).status == "already_counted"
    assert await _participants(db, topic.id) == [people.wang]
    assert await _points(db, people.wang) == 1
    async with db() as session:
        stored = await session.scalar(select(DiscussionReply))
    assert stored is not None and stored.counts is True and stored.text == "。"
    assert stored.edited_at is not None


async def test_an_edit_of_an_unseen_reply_is_recorded_as_a_reply(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    outcome = await _reply(
        db, config, topic, 503, 40, LONG, T0 + dt.timedelta(minutes=9), edited=True
    )
    assert outcome.status == "counted"


async def test_replies_after_the_window_or_close_do_not_count(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config, hours=1)
    late = await _reply(db, config, topic, 501, 50, LONG, T0 + dt.timedelta(hours=1, seconds=1))
    assert late.status == "closed"
    # an edit after the end of a reply written in time does not count either
    assert (
        await _reply(db, config, topic, 502, 51, SHORT, T0 + dt.timedelta(minutes=59))
    ).status == "too_short"
    edit = await _reply(
        db, config, topic, 502, 51, LONG, T0 + dt.timedelta(hours=1, minutes=5), edited=True
    )
    assert edit.status == "closed"
    other = await _open(db, sender, config, title="第二个话题")
    await topics.close_topic(db, sender, config, other.id, now=T0 + dt.timedelta(minutes=10))
    after_close = await _reply(db, config, other, 503, 52, LONG, T0 + dt.timedelta(minutes=11))
    assert after_close.status == "closed"
    assert (
        await _points(db, people.li)
        + await _points(db, people.wang)
        + await _points(db, people.zhao)
        == 0
    )


async def test_unregistered_and_unrelated_replies(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    at = T0 + dt.timedelta(minutes=1)
    assert (await _reply(db, config, topic, 999, 60, LONG, at)).status == "unregistered"
    assert (
        await _reply(db, config, topic, 501, 61, LONG, at, topic_message_id=424242)
    ).status == "not_topic"
    async with db() as session:
        assert await session.scalar(select(func.count(DiscussionReply.id))) == 0


async def test_daily_cap_counts_topics_and_resets_the_next_day(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    opened = [await _open(db, sender, config, title=f"话题{i}", hours=48) for i in range(4)]
    at = T0 + dt.timedelta(minutes=1)
    results = [await _reply(db, config, t, 501, 70 + i, LONG, at) for i, t in enumerate(opened[:3])]
    assert [(r.status, r.points, r.capped) for r in results] == [
        ("counted", 1, False),
        ("counted", 1, False),
        ("counted", 0, True),  # daily_cap 2: counted as participation, no third point
    ]
    tomorrow = await _reply(db, config, opened[3], 501, 80, LONG, at + dt.timedelta(days=1))
    assert (tomorrow.status, tomorrow.points) == ("counted", 1)
    assert await _points(db, people.li) == 3
    assert len(await _participants(db, opened[2].id)) == 1


async def test_discussion_points_follow_the_config(
    db: async_sessionmaker[AsyncSession], database_url: str, sender: RecordingSender, people: People
) -> None:
    config = make_config(
        database_url, points={"discussion": {"points": 3, "min_chars": 4, "daily_cap": 1}}
    )
    topic = await _open(db, sender, config)
    assert "4" in sender.messages[0].text and "3" in sender.messages[0].text
    outcome = await _reply(db, config, topic, 501, 90, "保密重要", T0 + dt.timedelta(minutes=1))
    assert (outcome.status, outcome.points) == ("counted", 3)
    async with db() as session:
        entry = await session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "discussion"))
    assert entry is not None and entry.reference == str(topic.id)
    assert entry.local_day == dt.date(2026, 11, 26)


# --- closing -----------------------------------------------------------------------------------


async def test_close_posts_the_result_once(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    at = T0 + dt.timedelta(minutes=1)
    await _reply(db, config, topic, 502, 100, LONG, at)
    await _reply(db, config, topic, 501, 101, LONG, at + dt.timedelta(seconds=5))
    await _reply(db, config, topic, 503, 102, SHORT, at)
    result = await topics.close_topic(
        db, sender, config, topic.id, now=at + dt.timedelta(minutes=1)
    )
    assert result is not None
    assert result.count == 2 and result.replies == 3
    assert result.participants == [("王芳", "宣传科"), ("李明", "办公室")]
    assert result.by_department == [("办公室", 1), ("宣传科", 1)]
    posted = sender.messages[-1]
    assert posted.reply_to == topic.message_id
    assert "谈谈保密工作" in posted.text and "共 2 人参与" in posted.text
    assert "王芳" in posted.text and "李明" in posted.text and "赵强" not in posted.text
    assert "办公室 1 人" in posted.text and "宣传科 1 人" in posted.text
    assert await topics.close_topic(db, sender, config, topic.id) is None
    assert len(sender.messages) == 2
    async with db() as session:
        row = await session.get(Discussion, topic.id)
    assert row is not None and row.result_message_id == posted.message_id
    assert row.closed_at == at + dt.timedelta(minutes=1)


async def test_concurrent_closes_post_one_result(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    results = await asyncio.gather(
        *(topics.close_topic(db, sender, config, topic.id) for _ in range(5))
    )
    assert sum(r is not None for r in results) == 1
    assert len(sender.messages) == 2
    assert "没有有效回复" in sender.messages[-1].text


async def test_result_falls_back_to_a_plain_message(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    topic = await _open(db, sender, config)
    sender.fail_next.append("Bad Request: message to be replied not found")
    assert await topics.close_topic(db, sender, config, topic.id) is not None
    assert sender.messages[-1].reply_to is None


async def test_close_due_topics_closes_only_ended_ones(
    db: async_sessionmaker[AsyncSession], config: Config, sender: RecordingSender, people: People
) -> None:
    short = await _open(db, sender, config, title="短", hours=1)
    long = await _open(db, sender, config, title="长", hours=5)
    closed = await topics.close_due_topics(db, sender, config, now=T0 + dt.timedelta(hours=2))
    assert closed == [short.id]
    assert await topics.close_due_topics(db, sender, config, now=T0 + dt.timedelta(hours=2)) == []
    async with db() as session:
        assert [t.id for t in await topics.open_topics(session)] == [long.id]
        assert (await topics.topic_to_close(session, GROUP, None)) == long
        assert (await topics.topic_to_close(session, GROUP, short.message_id)) == (
            await topics.get_topic(session, short.id)
        )


def test_result_text_without_chinese_and_with_many_names(config: Config) -> None:
    topic = topics.Topic(1, GROUP, 5, "Constitution", T0, T0, T0)
    many = [(f"成员{i:04d}" * 10, "办公室") for i in range(200)]
    result = topics.TopicResult(topic, many, [("办公室", 200)], 200)
    text = topics.render_result(result, config)
    assert len(text) < 4096 and "另有" in text
    en = make_config(config.database.url, locale="en")
    text = topics.render_result(topics.TopicResult(topic, [("Li", None)], [(None, 1)], 1), en)
    assert "Participants: 1 ((no department) 1)." in text and "Thank you, Li!" in text
