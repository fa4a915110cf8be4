"""Private-chat quiz service on the real database: attempts, answers, points, review."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.config import Config
from bot.core import answers as check
from bot.db.models import Answer, AttemptQuestion, LedgerEntry, QuestionVersion, ReviewCard
from bot.members.service import pending_input
from bot.quiz import service
from bot.quiz.service import AnswerOutcome, QuestionView
from tests import factories
from tests.conftest import make_config

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, Friday
TG = 5001


async def seed(db: Any, *, questions: list[dict] | None = None, **bank: Any) -> int:
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=TG)
        await factories.bank(session, questions=questions or factories.SAMPLE_QUESTIONS, **bank)
        return member.id


async def version_of(db: Any, view: QuestionView) -> QuestionVersion:
    async with db() as session:
        aq = await session.get(AttemptQuestion, view.aq_id)
        assert aq is not None
        version = await session.get(QuestionVersion, aq.question_version_id)
        assert version is not None
        return version


async def answer(
    db: Any,
    config: Config,
    member_id: int,
    view: QuestionView,
    right: bool,
    *,
    now: dt.datetime = NOW,
) -> AnswerOutcome:
    """Answer ``view`` right or wrong, whatever its type, as a member would."""
    version = await version_of(db, view)
    async with db() as session:
        aq = await session.get(AttemptQuestion, view.aq_id)
        order = list(aq.option_order)
    async with db.begin() as session:
        if version.type == "single":
            target = version.answer[0]
            idx = order.index(check.letter_index(target))
            if not right:
                idx = (idx + 1) % len(order)
            return await service.answer_choice(
                session, config, member_id, view.aq_id, idx, telegram_id=TG, now=now
            )
        if version.type == "judge":
            value = bool(version.answer[0]) if right else not version.answer[0]
            return await service.answer_judge(
                session, config, member_id, view.aq_id, value, telegram_id=TG, now=now
            )
        if version.type == "blank":
            text = str(version.answer[0]) if right else "完全不对"
            return await service.answer_blank(
                session, config, member_id, view.aq_id, text, telegram_id=TG, now=now
            )
        shown = sorted(order.index(check.letter_index(a)) for a in version.answer)
        if not right:
            shown = shown[:1] if len(shown) > 1 else [(shown[0] + 1) % len(order)]
        for idx in shown:
            toggled = await service.toggle_option(session, member_id, view.aq_id, idx)
            assert toggled.status == "toggled"
        return await service.submit_multiple(
            session, config, member_id, view.aq_id, telegram_id=TG, now=now
        )


async def start(
    db: Any, config: Config, member_id: int, mode: str = "daily", **kw: Any
) -> service.StartResult:
    kw.setdefault("now", NOW)
    async with db.begin() as session:
        return await service.start_quiz(session, config, member_id, mode=mode, telegram_id=TG, **kw)


async def ledger(db: Any, member_id: int, kind: str | None = None) -> int:
    async with db() as session:
        query = select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.member_id == member_id
        )
        if kind:
            query = query.where(LedgerEntry.kind == kind)
        return int(await session.scalar(query) or 0)


async def test_daily_quiz_three_right_earns_three_points(db: Any, config: Config) -> None:
    member_id = await seed(db)
    started = await start(db, config, member_id)
    assert started.status == "question" and not started.resumed
    view = started.question
    assert view is not None and view.position == 1 and view.total == 5
    pattern = [True, False, True, False, True]
    seen_questions = set()
    outcome = None
    for right in pattern:
        assert view is not None
        seen_questions.add(view.text)
        outcome = await answer(db, config, member_id, view, right)
        assert outcome.status == "answered"
        assert outcome.correct is right
        assert outcome.points == (1 if right else 0)
        view = outcome.next_question
    assert len(seen_questions) == 5  # no repeats within a quiz
    assert outcome is not None and outcome.summary is not None
    summary = outcome.summary
    assert (summary.questions, summary.correct, summary.points) == (5, 3, 3)
    assert summary.today_points == 3
    assert summary.season_points == 3 and summary.season_name
    assert await ledger(db, member_id, "daily_quiz") == 3
    again = await start(db, config, member_id)
    assert again.status == "done" and again.summary is not None
    assert again.summary.correct == 3


async def test_second_press_and_old_messages_change_nothing(db: Any, config: Config) -> None:
    member_id = await seed(db)
    view = (await start(db, config, member_id)).question
    assert view is not None
    first = await answer(db, config, member_id, view, True)
    assert first.status == "answered" and first.points == 1
    again = await answer(db, config, member_id, view, True)
    assert again.status == "duplicate"
    wrong_again = await answer(db, config, member_id, view, False)
    assert wrong_again.status == "duplicate"
    async with db() as session:
        answers = await session.scalar(select(func.count(Answer.id)))
    assert answers == 1
    assert await ledger(db, member_id) == 1


async def test_someone_elses_quiz_is_refused(db: Any, config: Config) -> None:
    member_id = await seed(db)
    async with db.begin() as session:
        other = await factories.member(session, "李四", telegram_id=TG + 1)
    view = (await start(db, config, member_id)).question
    assert view is not None
    async with db.begin() as session:
        outcome = await service.answer_choice(session, config, other.id, view.aq_id, 0, now=NOW)
        judged = await service.answer_judge(session, config, other.id, view.aq_id, True, now=NOW)
        toggled = await service.toggle_option(session, other.id, view.aq_id, 0)
        blank = await service.answer_blank(session, config, other.id, view.aq_id, "x", now=NOW)
    assert {outcome.status, judged.status, toggled.status, blank.status} == {"not_yours"}
    async with db() as session:
        assert await session.scalar(select(func.count(Answer.id))) == 0


async def test_resume_shows_the_same_question_and_options(db: Any, config: Config) -> None:
    member_id = await seed(db)
    view = (await start(db, config, member_id)).question
    assert view is not None
    outcome = await answer(db, config, member_id, view, True)
    second = outcome.next_question
    assert second is not None
    resumed = await start(db, config, member_id, now=NOW + dt.timedelta(minutes=5))
    assert resumed.status == "question" and resumed.resumed
    assert resumed.question == second


async def test_option_order_is_shuffled_and_checked_through_the_shuffle(
    db: Any, database_url: str
) -> None:
    config = make_config(database_url, points={"daily_quiz": {"questions": 6}})
    questions = [
        factories.q(f"s{i}", "single", f"问题{i}", ["A"], ["甲", "乙", "丙", "丁", "戊"])
        for i in range(6)
    ]
    member_id = await seed(db, questions=questions)
    view = (await start(db, config, member_id)).question
    orders = []
    while view is not None:
        assert view.options[0:0] == []
        async with db() as session:
            aq = await session.get(AttemptQuestion, view.aq_id)
            orders.append(tuple(aq.option_order))
        # The shown options follow the stored order.
        assert view.options == [["甲", "乙", "丙", "丁", "戊"][i] for i in aq.option_order]
        outcome = await answer(db, config, member_id, view, True)
        assert outcome.correct and outcome.correct_lines[0].endswith("甲")
        view = outcome.next_question
    assert len(set(orders)) > 1


async def test_daily_cap_limits_points(db: Any, database_url: str) -> None:
    config = make_config(database_url, points={"daily_quiz": {"daily_cap": 2}})
    member_id = await seed(db)
    view = (await start(db, config, member_id)).question
    results = []
    while view is not None:
        outcome = await answer(db, config, member_id, view, True)
        results.append((outcome.points, outcome.capped))
        view = outcome.next_question
    assert [p for p, _ in results] == [1, 1, 0, 0, 0]
    assert [c for _, c in results] == [False, False, True, True, True]
    assert await ledger(db, member_id, "daily_quiz") == 2
    async with db() as session:
        assert await session.scalar(select(func.sum(Answer.points))) == 2


async def test_weekly_once_a_week(db: Any, config: Config) -> None:
    member_id = await seed(db)
    view = (await start(db, config, member_id, "weekly")).question
    assert view is not None and view.total == 6  # the bank has 6 of the 10 asked for
    while view is not None:
        outcome = await answer(db, config, member_id, view, True)
        view = outcome.next_question
    assert await ledger(db, member_id, "weekly_quiz") == 6
    later = await start(db, config, member_id, "weekly", now=NOW + dt.timedelta(days=2))
    assert later.status == "done"
    next_week = await start(db, config, member_id, "weekly", now=NOW + dt.timedelta(days=4))
    assert next_week.status == "question"


async def test_special_quiz_per_campaign(db: Any, config: Config) -> None:
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=TG)
        await factories.bank(
            session,
            slug="cyber",
            title="网络安全",
            campaign_title="网络安全宣传月",
            campaign_from=dt.date(2026, 11, 1),
            campaign_to=dt.date(2026, 11, 30),
            campaign_questions=3,
            active=False,
        )
        await factories.bank(
            session,
            slug="old",
            title="旧活动",
            campaign_title="旧活动",
            campaign_from=dt.date(2026, 1, 1),
            campaign_to=dt.date(2026, 1, 31),
            questions=factories.SAMPLE_QUESTIONS[:2],
        )
    listing = await start(db, config, member.id, "special")
    assert listing.status == "campaigns"
    assert [c.slug for c in listing.campaigns] == ["cyber"]
    assert not listing.campaigns[0].taken
    assert (await start(db, config, member.id, "special", bank_slug="old")).status == "closed"
    assert (await start(db, config, member.id, "special", bank_slug="nope")).status == (
        "unknown_bank"
    )
    view = (await start(db, config, member.id, "special", bank_slug="CYBER")).question
    assert view is not None and view.total == 3
    while view is not None:
        outcome = await answer(db, config, member.id, view, True)
        view = outcome.next_question
    assert await ledger(db, member.id, "special_quiz") == 3
    done = await start(db, config, member.id, "special", bank_slug="cyber")
    assert done.status == "done" and done.summary is not None
    assert done.summary.bank_title == "网络安全宣传月"
    assert (await start(db, config, member.id, "special")).campaigns[0].taken
    # The inactive campaign bank stays out of the daily draw: only "old" (2 questions).
    daily = (await start(db, config, member.id)).question
    assert daily is not None and daily.total == 2


async def test_daily_quiz_prefers_unseen_questions(db: Any, database_url: str) -> None:
    config = make_config(database_url, points={"daily_quiz": {"questions": 3}})
    member_id = await seed(db)
    first_day = set()
    view = (await start(db, config, member_id)).question
    while view is not None:
        first_day.add(view.text)
        view = (await answer(db, config, member_id, view, True)).next_question
    tomorrow = NOW + dt.timedelta(days=1)
    view = (await start(db, config, member_id, now=tomorrow)).question
    second_day = set()
    while view is not None:
        second_day.add(view.text)
        view = (await answer(db, config, member_id, view, True, now=tomorrow)).next_question
    assert len(first_day) == len(second_day) == 3
    assert not first_day & second_day


async def test_challenge_until_first_wrong_with_points_every_two(db: Any, config: Config) -> None:
    member_id = await seed(db)
    start_result = await start(db, config, member_id, "challenge")
    view = start_result.question
    assert view is not None and view.total is None and view.position == 1
    gained = []
    for _ in range(5):
        assert view is not None
        outcome = await answer(db, config, member_id, view, True)
        gained.append(outcome.points)
        assert outcome.next_question is not None
        view = outcome.next_question
    assert gained == [0, 1, 0, 1, 0]
    assert view is not None and view.position == 6
    last = await answer(db, config, member_id, view, False)
    assert last.next_question is None and last.summary is not None
    assert (last.summary.questions, last.summary.correct, last.summary.points) == (6, 5, 2)
    assert await ledger(db, member_id, "challenge") == 2
    # Several challenges a day: a new one starts.
    again = await start(db, config, member_id, "challenge")
    assert again.status == "question" and not again.resumed
    async with db() as session:
        keys = await session.scalars(select(service.QuizAttempt.period_key))
        assert sorted(keys) == ["2026-11-27#1", "2026-11-27#2"]


async def test_challenge_daily_cap(db: Any, database_url: str) -> None:
    config = make_config(database_url, points={"challenge": {"every": 1, "daily_cap": 3}})
    member_id = await seed(db)
    view = (await start(db, config, member_id, "challenge")).question
    total = 0
    while view is not None:
        outcome = await answer(db, config, member_id, view, True)
        total += outcome.points
        view = outcome.next_question
    assert total == 3
    assert outcome.summary is not None and outcome.summary.questions == 6  # ran out
    view = (await start(db, config, member_id, "challenge")).question
    assert view is not None
    assert (await answer(db, config, member_id, view, True)).points == 0


async def test_missed_question_comes_back_in_review(db: Any, config: Config) -> None:
    member_id = await seed(db)
    nothing = await start(db, config, member_id, "review")
    assert nothing.status == "nothing_due" and nothing.notebook_size == 0
    view = (await start(db, config, member_id)).question
    missed = []
    while view is not None:
        right = view.position not in (2, 4)
        if not right:
            missed.append(view.text)
        view = (await answer(db, config, member_id, view, right)).next_question
    review = await start(db, config, member_id, "review")
    assert review.status == "question"
    view = review.question
    asked = []
    while view is not None:
        asked.append(view.text)
        outcome = await answer(db, config, member_id, view, True)
        assert outcome.points == 0
        view = outcome.next_question
    assert sorted(asked) == sorted(missed)
    assert await ledger(db, member_id, "review") == 0
    # Reviewed right: not due again today; due again in a few days.
    later = await start(db, config, member_id, "review")
    assert later.status == "nothing_due" and later.notebook_size == 2
    assert later.next_due is not None and later.next_due > NOW + dt.timedelta(days=1)


async def test_review_graduates_cards(db: Any, database_url: str) -> None:
    config = make_config(database_url, points={"review": {"graduate_days": 5}})
    member_id = await seed(db, questions=factories.SAMPLE_QUESTIONS[:1])
    view = (await start(db, config, member_id)).question
    assert view is not None
    await answer(db, config, member_id, view, False)
    now = NOW
    for expected_active in (True, False):  # stability 2.3 days, then about 11
        result = await start(db, config, member_id, "review", now=now)
        assert result.question is not None
        await answer(db, config, member_id, result.question, True, now=now)
        async with db() as session:
            card = await session.scalar(select(ReviewCard))
            assert card.active is expected_active
            due = card.due_at
        now = due + dt.timedelta(hours=1)
    assert (await start(db, config, member_id, "review", now=now)).status == "nothing_due"


async def test_review_miss_is_again(db: Any, config: Config) -> None:
    member_id = await seed(db, questions=factories.SAMPLE_QUESTIONS[:1])
    view = (await start(db, config, member_id)).question
    assert view is not None
    await answer(db, config, member_id, view, False)
    view = (await start(db, config, member_id, "review")).question
    assert view is not None
    await answer(db, config, member_id, view, False)
    async with db() as session:
        card = await session.scalar(select(ReviewCard))
        assert card.lapses == 2 and card.active
        assert card.card["state"] == 2  # FSRS Review state after Again with no steps
        assert card.due_at - NOW == dt.timedelta(days=1)


async def test_blank_answer_with_fullwidth_variant(db: Any, config: Config) -> None:
    blank = factories.q("b", "blank", "现行宪法于____年通过。", ["1982", "1982年"])
    member_id = await seed(db, questions=[blank])
    view = (await start(db, config, member_id)).question
    assert view is not None and view.type == "blank"
    async with db() as session:
        pending = await pending_input(session, TG)
        assert pending is not None and pending.kind == "blank"
        assert pending.payload == {"aq": view.aq_id}
        assert await service.pending_blank(session, TG) == view.aq_id
    async with db.begin() as session:
        outcome = await service.answer_blank(
            session, config, member_id, view.aq_id, " １９８２ 年。", telegram_id=TG, now=NOW
        )
    assert outcome.correct and outcome.points == 1
    async with db() as session:
        assert await pending_input(session, TG) is None


async def test_late_answer_counts_wrong(db: Any, database_url: str) -> None:
    config = make_config(database_url, points={"daily_quiz": {"seconds": 30}})
    member_id = await seed(db)
    view = (await start(db, config, member_id)).question
    assert view is not None and view.seconds == 30
    assert view.deadline_at == NOW + dt.timedelta(seconds=30)
    outcome = await answer(db, config, member_id, view, True, now=NOW + dt.timedelta(seconds=31))
    assert outcome.status == "answered" and outcome.late and not outcome.correct
    assert outcome.points == 0
    nxt = outcome.next_question
    assert nxt is not None
    in_time = await answer(db, config, member_id, nxt, True, now=NOW + dt.timedelta(seconds=40))
    assert in_time.correct and not in_time.late
    async with db() as session:
        late = await session.scalar(select(Answer).where(Answer.late.is_(True)))
        assert late is not None and not late.correct and late.elapsed_ms == 31000


async def test_multiple_choice_toggles_and_submit(db: Any, config: Config) -> None:
    member_id = await seed(db, questions=[factories.SAMPLE_QUESTIONS[2]])
    view = (await start(db, config, member_id)).question
    assert view is not None and view.type == "multiple"
    async with db.begin() as session:
        empty = await service.submit_multiple(session, config, member_id, view.aq_id, now=NOW)
        assert empty.status == "empty_selection"
        on = await service.toggle_option(session, member_id, view.aq_id, 1)
        assert on.question is not None and on.question.selection == [1]
        off = await service.toggle_option(session, member_id, view.aq_id, 1)
        assert off.question is not None and off.question.selection == []
        bad = await service.toggle_option(session, member_id, view.aq_id, 9)
        assert bad.status == "invalid"
        single = await service.answer_choice(session, config, member_id, view.aq_id, 0, now=NOW)
        assert single.status == "invalid"
    outcome = await answer(db, config, member_id, view, True)
    assert outcome.correct and len(outcome.given) == 3
    assert outcome.summary is not None


async def test_material_quiz_for_the_plan(db: Any, config: Config) -> None:
    member_id = await seed(db, slug="reading")
    result = await start(
        db, config, member_id, "material", bank_slug="reading", questions=2, period_key="item-1"
    )
    view = result.question
    assert view is not None and view.total == 2 and view.mode == "material"
    while view is not None:
        outcome = await answer(db, config, member_id, view, True)
        assert outcome.points == 0
        view = outcome.next_question
    again = await start(
        db, config, member_id, "material", bank_slug="reading", questions=2, period_key="item-1"
    )
    assert again.status == "done"
    with pytest.raises(service.QuizError):
        await start(db, config, member_id, "material", bank_slug="reading")
    with pytest.raises(service.QuizError):
        await start(db, config, member_id, "nonsense")


async def test_empty_pool(db: Any, config: Config) -> None:
    async with db.begin() as session:
        member = await factories.member(session, "张三", telegram_id=TG)
    result = await start(db, config, member.id)
    assert result.status == "empty"
    assert (await start(db, config, member.id)).status == "empty"  # nothing left behind


async def test_retired_questions_are_not_drawn(db: Any, config: Config) -> None:
    member_id = await seed(db)
    async with db.begin() as session:
        rows = list(await session.scalars(select(service.Question)))
        for question in rows[1:]:
            question.retired = True
    result = await start(db, config, member_id)
    assert result.question is not None and result.question.total == 1
