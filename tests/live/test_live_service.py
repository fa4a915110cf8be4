"""Live-quiz rounds through the service layer: a recording Sender and a hand-moved clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import Answer, Claim, LedgerEntry, LiveQuestion, LiveRound, Member
from bot.quiz import live
from bot.quiz.live import LiveArgs, LiveQuizRunner
from bot.sending import ChatMigrated, RecipientUnreachable, SendError
from bot.telegram.live import poll_limits
from tests import factories
from tests.factories import q
from tests.live.fakes import Clock, RecordingSender

CHAT = -1001234567
LIMITS = poll_limits()
TRIO = [
    q(
        "s1",
        "single",
        "国家秘密的密级分为几级？",
        ["B"],
        ["两级", "三级", "四级", "五级"],
        "三级。",
    ),
    q("j1", "judge", "国家宪法日是12月4日。", [True], (), "2014年设立。"),
    q(
        "m1",
        "multiple",
        "下列属于国家秘密密级的有？",
        ["A", "B", "D"],
        ["绝密", "机密", "内部", "秘密"],
        "内部不是密级。",
    ),
    q("b1", "blank", "我国现行宪法于____年通过。", ["1982"]),
]


@pytest.fixture
async def world(db: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with db.begin() as session:
        a = await factories.member(session, "张三", dept="办公室", telegram_id=1001)
        b = await factories.member(session, "李四", dept="宣传科", telegram_id=1002)
        c = await factories.member(session, "王五", dept="业务一科", telegram_id=1003)
        await factories.bank(session, "trio", "三题库", TRIO)
        await factories.bank(session, "sample", "样例题库")
        await factories.bank(session, "blanks", "填空题库", [TRIO[3]])
        return {"a": a.id, "b": b.id, "c": c.id}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def runner(
    db: async_sessionmaker[AsyncSession], sender: RecordingSender, config: Config, clock: Clock
) -> LiveQuizRunner:
    return LiveQuizRunner(db, sender, config, LIMITS, clock=clock)


async def start(
    db: async_sessionmaker[AsyncSession],
    clock: Clock,
    slug: str = "trio",
    count: int = 3,
    seconds: int = 20,
    chat: int = CHAT,
    seed: int = 7,
) -> live.StartResult:
    async with db.begin() as session:
        return await live.start_round(
            session,
            chat_id=chat,
            args=LiveArgs(slug, count, seconds),
            started_by=42,
            limits=LIMITS,
            locale="zh_CN",
            now=clock(),
            rng=random.Random(seed),
        )


async def vote(
    db: async_sessionmaker[AsyncSession],
    clock: Clock,
    poll_id: str,
    member_id: int | None,
    option_ids: list[int],
) -> live.AnswerResult:
    async with db.begin() as session:
        return await live.record_answer(
            session, poll_id=poll_id, member_id=member_id, option_ids=option_ids, now=clock()
        )


async def question_of(db: async_sessionmaker[AsyncSession], poll_id: str) -> LiveQuestion:
    async with db() as session:
        found = await session.scalar(select(LiveQuestion).where(LiveQuestion.poll_id == poll_id))
        assert found is not None
        return found


async def ledger(db: async_sessionmaker[AsyncSession]) -> dict[int, list[tuple[int, str]]]:
    async with db() as session:
        rows = (
            await session.execute(
                select(LedgerEntry.member_id, LedgerEntry.delta, LedgerEntry.reference).where(
                    LedgerEntry.kind == "live_quiz"
                )
            )
        ).all()
    out: dict[int, list[tuple[int, str]]] = {}
    for member_id, delta, reference in rows:
        out.setdefault(member_id, []).append((delta, reference))
    return out


def kind_of(question: LiveQuestion) -> str:
    if question.poll_type == "regular":
        return "multiple"
    return "judge" if question.option_map == [True, False] else "single"


def wrong_ids(question: LiveQuestion) -> list[int]:
    if kind_of(question) == "multiple":
        return list(question.correct_option_ids)[:-1]  # a correct subset is still wrong
    return [
        next(i for i in range(len(question.option_map)) if i not in question.correct_option_ids)
    ]


# who answers when (seconds after the poll) and whether right, per question type
PLAN = {
    "single": [("a", 1, True), ("b", 2, True), ("c", 3, False)],
    "judge": [("c", 1, True), ("a", 2, False), ("b", 3, True)],
    "multiple": [("b", 1, True), ("c", 2, True), ("a", 3, True)],
}


# ----------------------------------------------------------------------------- arguments


def test_parse_args_defaults_and_limits() -> None:
    assert live.parse_args(["Trio"], LIMITS) == LiveArgs("trio", 5, 20)
    assert live.parse_args(["trio", "3", "5"], LIMITS) == LiveArgs("trio", 3, 5)
    assert live.parse_args(["trio", "50", "600"], LIMITS) == LiveArgs("trio", 50, 600)
    for args, code in [
        ([], "usage"),
        (["a", "1", "20", "x"], "usage"),
        (["trio", "0"], "count"),
        (["trio", "51"], "count"),
        (["trio", "three"], "count"),
        (["trio", "3", "4"], "seconds"),
        (["trio", "3", "601"], "seconds"),
        (["trio", "3", "1.5"], "seconds"),
    ]:
        with pytest.raises(live.LiveArgsError) as caught:
            live.parse_args(args, LIMITS)
        assert caught.value.code == code, args
    assert live.seconds_range(LIMITS)[0] == LIMITS.min_open_period


# ----------------------------------------------------------------------------- starting


async def test_start_draws_poll_questions_and_refuses_a_second_round(
    db: async_sessionmaker[AsyncSession], world: dict[str, Any], clock: Clock
) -> None:
    started = await start(db, clock, count=10)
    assert started.status == "started" and started.count == 3  # the blank is skipped
    assert started.title == "三题库"
    async with db() as session:
        rows = (
            await session.scalars(
                select(LiveQuestion)
                .where(LiveQuestion.round_id == started.round_id)
                .order_by(LiveQuestion.position)
            )
        ).all()
    assert [r.position for r in rows] == [0, 1, 2]
    assert sorted(kind_of(r) for r in rows) == ["judge", "multiple", "single"]
    assert all(r.sent_at is None and r.poll_id is None for r in rows)

    again = await start(db, clock, slug="sample")
    assert again.status == "running"
    other_group = await start(db, clock, slug="sample", chat=CHAT - 1, count=2)
    assert other_group.status == "started" and other_group.count == 2


async def test_start_refusals_change_nothing(
    db: async_sessionmaker[AsyncSession], world: dict[str, Any], clock: Clock
) -> None:
    assert (await start(db, clock, slug="nope")).status == "no_bank"
    assert (await start(db, clock, slug="blanks")).status == "no_questions"
    async with db() as session:
        assert await session.scalar(select(func.count(LiveRound.id))) == 0


async def test_the_database_refuses_a_concurrent_second_round(
    db: async_sessionmaker[AsyncSession], world: dict[str, Any], clock: Clock
) -> None:
    results = await asyncio.gather(*(start(db, clock, seed=s) for s in range(4)))
    assert sorted(r.status for r in results) == ["running", "running", "running", "started"]


# ----------------------------------------------------------------------------- a whole round


async def test_round_scores_speed_and_correctness_and_awards_once(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
    config: Config,
) -> None:
    started = await start(db, clock)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    seen_kinds = []
    for number in range(1, 4):
        assert len(sender.polls) == number
        poll = sender.polls[-1]
        assert poll.args["open_period"] == 20
        assert poll.args["question"].startswith(f"【第{number}/3题·")
        poll_id = poll.result.poll_id
        question = await question_of(db, poll_id)
        kind = kind_of(question)
        seen_kinds.append(kind)
        if kind == "multiple":
            assert poll.args["quiz_correct"] is None and poll.args["multiple"]
            assert poll.args["allows_revoting"] is False
        else:
            assert poll.args["quiz_correct"] == question.correct_option_ids
            assert poll.args["explanation"]
        sent_at = clock()
        for who, after, right in PLAN[kind]:
            clock.now = sent_at + dt.timedelta(seconds=after)
            ids = list(question.correct_option_ids) if right else wrong_ids(question)
            result = await vote(db, clock, poll_id, world[who], ids)
            assert result.status == "recorded" and result.correct is right
        # nothing happens before the poll period (plus the grace) is over
        clock.now = sent_at + dt.timedelta(seconds=20)
        await runner.advance(started.round_id)
        assert not sender.of("stop_poll")[number - 1 :]
        clock.now = sent_at + dt.timedelta(seconds=21)
        await runner.advance(started.round_id)
        assert sender.of("stop_poll")[-1].args["message_id"] == poll.result.message_id
        assert len(sender.polls) == number  # the pause before the next question
        if number < 3:
            clock.advance(live.PAUSE.total_seconds())
            await runner.advance(started.round_id)
    assert sorted(seen_kinds) == ["judge", "multiple", "single"]

    # the multiple-choice answer is revealed after its poll closes (regular polls cannot)
    reveals = [c for c in sender.of("send_text") if "正确答案" in c.args["text"]]
    assert len(reveals) == 1 and "绝密; 机密; 秘密" in reveals[0].args["text"]

    results = sender.of("send_text")[-1].args["text"]
    lines = results.splitlines()
    assert lines[0] == "🏁 现场答题结束：三题库（共 3 题）"
    assert lines[2] == "🥇1. 李四（宣传科） — 答对 3 题，13 分"
    assert lines[3] == "🥈2. 王五（业务一科） — 答对 2 题，9 分"
    assert lines[4] == "🥉3. 张三（办公室） — 答对 2 题，8 分"
    reference = f"round:{started.round_id}"
    assert await ledger(db) == {
        world["b"]: [(13, reference)],
        world["c"]: [(9, reference)],
        world["a"]: [(8, reference)],
    }
    async with db() as session:
        done = await session.get(LiveRound, started.round_id)
        assert done is not None and done.status == "finished"
        assert done.result_message_id == sender.of("send_text")[-1].result.message_id
        elapsed = sorted(
            (await session.scalars(select(Answer.elapsed_ms).where(Answer.mode == "live"))).all()
        )
    assert elapsed == [1000, 1000, 1000, 2000, 2000, 2000, 3000, 3000, 3000]

    # more ticks, a second runner, posting again: nothing more is sent or awarded
    calls = len(sender.calls)
    clock.advance(60)
    await runner.tick()
    await LiveQuizRunner(db, sender, config, LIMITS, clock=clock).tick()
    await runner.post_results(started.round_id)
    assert len(sender.calls) == calls
    assert len(await ledger(db)) == 3


async def test_answers_are_idempotent_and_late_or_unknown_ones_ignored(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock, slug="trio", count=3)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll_id = sender.polls[-1].result.poll_id
    question = await question_of(db, poll_id)
    right = list(question.correct_option_ids)
    assert (await vote(db, clock, "nope", world["a"], right)).status == "unknown_poll"
    assert (await vote(db, clock, poll_id, None, right)).status == "unregistered"
    assert (await vote(db, clock, poll_id, world["a"], right)).status == "recorded"
    assert (await vote(db, clock, poll_id, world["a"], right)).status == "duplicate"
    if question.poll_type == "quiz":
        assert (await vote(db, clock, poll_id, world["a"], wrong_ids(question))).status == (
            "duplicate"
        )
        assert (await vote(db, clock, poll_id, world["b"], [])).status == "ignored"
    clock.advance(25)
    await runner.advance(started.round_id)
    assert (await vote(db, clock, poll_id, world["c"], right)).status == "closed"
    async with db() as session:
        count = await session.scalar(
            select(func.count(Answer.id)).where(Answer.live_question_id == question.id)
        )
    assert count == 1


async def test_multiple_choice_vote_can_change_or_be_retracted_until_close(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    async with db.begin() as session:
        await factories.bank(session, "multi", "多选题库", [TRIO[2]])
    started = await start(db, clock, slug="multi", count=1)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll_id = sender.polls[-1].result.poll_id
    clock.advance(1)
    assert (await vote(db, clock, poll_id, world["a"], [0, 1])).status == "recorded"
    clock.advance(1)
    changed = await vote(db, clock, poll_id, world["a"], [0, 1, 3])
    assert changed.status == "changed" and changed.correct is True
    assert (await vote(db, clock, poll_id, world["b"], [0, 1, 3])).status == "recorded"
    assert (await vote(db, clock, poll_id, world["b"], [])).status == "retracted"
    assert (await vote(db, clock, poll_id, world["c"], [])).status == "ignored"
    async with db() as session:
        rows = (
            await session.execute(select(Answer.member_id, Answer.given, Answer.elapsed_ms))
        ).all()
    assert rows == [(world["a"], ["A", "B", "D"], 2000)]
    clock.advance(30)
    await runner.advance(started.round_id)
    assert await ledger(db) == {world["a"]: [(2 + 3, f"round:{started.round_id}")]}


# ----------------------------------------------------------------------------- restarts, replicas


async def test_a_new_runner_continues_the_round_without_repeating(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
    config: Config,
) -> None:
    started = await start(db, clock)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    first = sender.polls[-1].result
    await vote(
        db,
        clock,
        first.poll_id,
        world["a"],
        list((await question_of(db, first.poll_id)).correct_option_ids),
    )
    # "restart": the bot was away for a minute; a fresh runner picks the round up
    clock.advance(60)
    fresh = LiveQuizRunner(db, sender, config, LIMITS, clock=clock)
    await fresh.tick()
    assert sender.of("stop_poll")[-1].args["message_id"] == first.message_id
    assert len(sender.polls) == 1
    clock.advance(live.PAUSE.total_seconds())
    await fresh.tick()
    assert len(sender.polls) == 2
    await fresh.tick()
    assert len(sender.polls) == 2
    texts = [c.args["question"] for c in sender.polls]
    assert len(set(texts)) == 2


async def test_concurrent_runners_send_each_question_once(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    config: Config,
) -> None:
    started = await start(db, clock)
    assert started.round_id is not None
    runners = [LiveQuizRunner(db, sender, config, LIMITS, clock=clock) for _ in range(4)]
    for _step in range(3):
        await asyncio.gather(*(r.tick() for r in runners))
        clock.advance(21)
        await asyncio.gather(*(r.tick() for r in runners))
        clock.advance(live.PAUSE.total_seconds())
    await asyncio.gather(*(r.tick() for r in runners))
    assert len(sender.polls) == 3
    assert len({c.args["question"] for c in sender.polls}) == 3
    assert len(sender.of("stop_poll")) == 3
    results = [c for c in sender.of("send_text") if c.args["text"].startswith("🏁")]
    assert len(results) == 1
    async with db() as session:
        assert await session.scalar(select(func.count(Claim.key))) == 1


async def test_a_crash_between_claim_and_send_loses_the_question_but_never_repeats_it(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock, count=2)
    assert started.round_id is not None
    claimed = await runner._claim_next(started.round_id)  # then the process dies
    assert claimed is not None
    async with db() as session:  # a vote arriving now may be for the poll being sent
        assert await live.sending_in_progress(session)
    await runner.tick()
    clock.advance(20)
    await runner.tick()
    assert sender.polls == []
    clock.advance(live.LOST_SEND_AFTER.total_seconds() + 1)
    await runner.tick()  # closed without a poll
    async with db() as session:
        assert not await live.sending_in_progress(session)
    clock.advance(live.PAUSE.total_seconds())
    await runner.tick()
    assert len(sender.polls) == 1
    assert sender.polls[0].args["question"].startswith("【第2/2题")
    clock.advance(21)
    await runner.tick()
    assert sender.of("send_text")[-1].args["text"].startswith("🏁 现场答题结束：三题库（共 1 题）")


async def test_a_round_left_too_long_is_ended_not_resumed(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll = sender.polls[-1].result
    question = await question_of(db, poll.poll_id)
    await vote(db, clock, poll.poll_id, world["b"], list(question.correct_option_ids))
    clock.advance(live.ABANDON_AFTER.total_seconds() + 60)
    await runner.tick()
    assert len(sender.polls) == 1
    text = sender.of("send_text")[-1].args["text"]
    assert text.startswith("🏁 现场答题已结束：三题库（共 3 题，已答 1 题）")
    assert await ledger(db) == {world["b"]: [(5, f"round:{started.round_id}")]}


async def test_telegram_closing_the_poll_makes_the_question_due(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll = sender.polls[-1].result
    clock.advance(3)
    async with db.begin() as session:
        assert (
            await live.poll_closed(session, poll_id=poll.poll_id, now=clock()) == started.round_id
        )
        assert await live.poll_closed(session, poll_id="not-ours", now=clock()) is None
    await runner.advance(started.round_id)
    assert not sender.of("stop_poll")
    clock.advance(live.CLOSE_GRACE.total_seconds())
    await runner.advance(started.round_id)
    assert sender.of("stop_poll")[-1].args["message_id"] == poll.message_id


# ----------------------------------------------------------------------------- stopping, failures


async def test_stop_scores_the_open_question_and_posts_the_ranking(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    assert (await runner.stop(CHAT)).status == "none"
    started = await start(db, clock)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll = sender.polls[-1].result
    question = await question_of(db, poll.poll_id)
    clock.advance(2)
    await vote(db, clock, poll.poll_id, world["c"], list(question.correct_option_ids))
    assert (await runner.stop(CHAT)).status == "stopped"
    assert sender.of("stop_poll")[-1].args["message_id"] == poll.message_id
    text = sender.of("send_text")[-1].args["text"]
    assert text.startswith("🏁 现场答题已结束：三题库（共 3 题，已答 1 题）")
    assert "🥇1. 王五（业务一科） — 答对 1 题，5 分" in text
    assert (await runner.stop(CHAT)).status == "none"
    clock.advance(60)
    await runner.tick()
    assert len(sender.polls) == 1
    assert await ledger(db) == {world["c"]: [(5, f"round:{started.round_id}")]}
    assert (await start(db, clock)).status == "started"  # the group is free again


async def test_a_failed_send_skips_the_question_and_an_unreachable_group_ends_the_round(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock, count=3)
    assert started.round_id is not None
    sender.fail_next("send_poll", SendError("Bad Request: something"))
    await runner.advance(started.round_id)  # question 1 skipped, question 2 sent at once
    assert [c.args["question"].startswith("【第2/3题·") for c in sender.polls] == [True]
    clock.advance(21)
    await runner.advance(started.round_id)
    clock.advance(live.PAUSE.total_seconds())
    sender.fail_next("send_poll", RecipientUnreachable("Forbidden: bot was kicked"))
    await runner.advance(started.round_id)
    async with db() as session:
        done = await session.get(LiveRound, started.round_id)
        assert done is not None and done.status == "stopped" and done.result_message_id == 0
    assert not [c for c in sender.of("send_text") if c.args["text"].startswith("🏁")]


async def test_a_migrated_group_gets_the_next_question(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock, count=2)
    assert started.round_id is not None
    sender.fail_next("send_poll", ChatMigrated(-100999))
    await runner.advance(started.round_id)
    assert [c.chat_id for c in sender.polls] == [-100999]


async def test_long_texts_go_as_a_message_and_a_short_poll(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    stem = "长" * (LIMITS.question_length + 1)
    explanation = "解" * (LIMITS.explanation_length + 20)
    async with db.begin() as session:
        await factories.bank(
            session,
            "long",
            "长题库",
            [q("L1", "single", stem, ["C"], ["甲", "乙", "丙"], explanation)],
        )
    started = await start(db, clock, slug="long", count=1)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    intro = sender.of("send_text")[0]
    assert stem in intro.args["text"] and "C. 丙" in intro.args["text"]
    poll = sender.polls[0]
    assert poll.args["question"] == "【第1/1题·单选】题目见上条消息"
    assert poll.args["options"] == ["A", "B", "C"]
    assert poll.args["quiz_correct"] == [2]
    assert poll.args["reply_to"] == intro.result.message_id
    assert len(poll.args["explanation"]) == LIMITS.explanation_length
    assert poll.args["explanation"].endswith("…")
    clock.advance(21)
    await runner.advance(started.round_id)
    reveal = [c for c in sender.of("send_text") if "解析" in c.args["text"]]
    assert reveal and explanation in reveal[0].args["text"]
    assert reveal[0].args["reply_to"] == poll.result.message_id


async def test_an_unregistered_voter_is_not_counted(
    db: async_sessionmaker[AsyncSession],
    world: dict[str, Any],
    clock: Clock,
    sender: RecordingSender,
    runner: LiveQuizRunner,
) -> None:
    started = await start(db, clock, count=1)
    assert started.round_id is not None
    await runner.advance(started.round_id)
    poll = sender.polls[0].result
    question = await question_of(db, poll.poll_id)
    assert (await vote(db, clock, poll.poll_id, None, question.correct_option_ids)).status == (
        "unregistered"
    )
    clock.advance(21)
    await runner.advance(started.round_id)
    assert "本轮无人作答。" in sender.of("send_text")[-1].args["text"]
    assert await ledger(db) == {}
    async with db() as session:
        assert await session.scalar(select(func.count(Member.id))) == 3
