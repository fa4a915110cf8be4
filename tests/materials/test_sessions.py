"""In-person sessions: arguments, check-in once within the window, closing, attendance."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.db.models import LedgerEntry, SessionCheckin
from bot.materials import sessions
from bot.materials.sessions import SessionRequestError, parse_request
from tests import factories
from tests.conftest import make_config

NOW = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "args, title, kind, window",
    [
        (["学习会议精神"], "学习会议精神", "集中学习", dt.timedelta(hours=3)),
        (["学习", "会议精神", "专题研讨"], "学习 会议精神", "专题研讨", dt.timedelta(hours=3)),
        (["消防讲座", "讲座", "90m"], "消防讲座", "讲座", dt.timedelta(minutes=90)),
        (["Party", "day", "partyday", "1.5h"], "Party day", "主题党日", dt.timedelta(hours=1.5)),
        (["讲座", "2小时"], "讲座", "集中学习", dt.timedelta(hours=2)),
    ],
)
def test_parse_request(args: list[str], title: str, kind: str, window: dt.timedelta) -> None:
    request = parse_request(args)
    assert (request.title, request.kind, request.window) == (title, kind, window)


@pytest.mark.parametrize(
    "args, reason",
    [
        ([], "title"),
        (["2h"], "title"),
        (["x", "25h"], "window"),
        (["x", "2m"], "window"),
        (["长" * 201], "title_length"),
    ],
)
def test_parse_request_refusals(args: list[str], reason: str) -> None:
    with pytest.raises(SessionRequestError) as caught:
        parse_request(args)
    assert str(caught.value) == reason


async def test_check_in_once_within_the_window(db, database_url: str) -> None:
    config = make_config(database_url, points={"session": {"points": 2}})
    async with db.begin() as session:
        alice = await factories.member(session, "张三", telegram_id=101)
        bob = await factories.member(session, "李四", telegram_id=102)
        await factories.member(session, "王五", telegram_id=103)
        await factories.member(session, "赵六")  # on the roster, not bound: still in the audience
        await factories.member(session, "离职", telegram_id=105, active=False)
        view = await sessions.open_session(
            session, parse_request(["集中学习会", "2h"]), chat_id=-100123, opened_by=9001, now=NOW
        )
    assert view.closes_at == NOW + dt.timedelta(hours=2)

    async def check(member_id: int, via: str, at: dt.datetime) -> tuple[str, int]:
        async with db.begin() as session:
            outcome = await sessions.check_in(
                session, config, code=view.code, member_id=member_id, via=via, now=at
            )
        return outcome.status, outcome.points

    assert await check(alice.id, "button", NOW + dt.timedelta(minutes=5)) == ("checked_in", 2)
    assert await check(alice.id, "link", NOW + dt.timedelta(minutes=6)) == ("already", 0)
    assert await check(bob.id, "link", NOW + dt.timedelta(minutes=7)) == ("checked_in", 2)
    assert await check(103, "button", NOW + dt.timedelta(hours=3)) == ("closed", 0)
    async with db.begin() as session:
        assert await sessions.check_in(
            session, config, code="nope", member_id=alice.id, via="link"
        ) == sessions.CheckinOutcome("unknown")
        open_now = await sessions.open_sessions(session, chat_id=-100123, now=NOW)
        assert [s.code for s in open_now] == [view.code]
        attendance = await sessions.close_session(session, view.id, now=NOW + dt.timedelta(hours=1))
    assert attendance is not None
    assert (attendance.attended, attendance.audience, attendance.names) == (2, 4, ["张三", "李四"])
    assert attendance.rate == 0.5
    async with db.begin() as session:
        assert await sessions.close_session(session, view.id) is None
    # closed: no more check-ins, even inside the window
    async with db.begin() as session:
        late = await sessions.check_in(
            session,
            config,
            code=view.code,
            member_id=103,
            via="button",
            now=NOW + dt.timedelta(minutes=70),
        )
    assert late.status == "closed"
    async with db() as session:
        assert await session.scalar(select(func.count(SessionCheckin.id))) == 2
        assert (
            await session.scalar(
                select(func.sum(LedgerEntry.delta)).where(LedgerEntry.kind == "session")
            )
            == 4
        )


async def test_expired_sessions_are_found(db, database_url: str) -> None:
    async with db.begin() as session:
        short = await sessions.open_session(
            session, parse_request(["短会", "30m"]), chat_id=None, opened_by=9001, now=NOW
        )
        await sessions.open_session(
            session, parse_request(["长会", "5h"]), chat_id=None, opened_by=9001, now=NOW
        )
    async with db() as session:
        due = await sessions.expired_sessions(session, NOW + dt.timedelta(hours=1))
    assert due == [(short.id, NOW + dt.timedelta(minutes=30))]
    async with db.begin() as session:
        closed = await sessions.close_session(session, short.id, now=due[0][1])
    assert closed is not None and closed.session.closed_at == NOW + dt.timedelta(minutes=30)
    async with db() as session:
        assert await sessions.expired_sessions(session, NOW + dt.timedelta(hours=1)) == []


async def test_a_session_command_delivered_twice_opens_one_session(db, config) -> None:
    from sqlalchemy import func, select

    from bot.db.models import StudySession
    from bot.materials import sessions as service

    request = service.parse_request(["学习例会"])
    async with db.begin() as session:
        first = await service.open_session(
            session, request, chat_id=42, opened_by=1, request_key="42:7"
        )
    async with db.begin() as session:
        again = await service.open_session(
            session, request, chat_id=42, opened_by=1, request_key="42:7"
        )
        other = await service.open_session(
            session, request, chat_id=42, opened_by=1, request_key="42:8"
        )
    assert first is not None and again is None and other is not None
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(StudySession)) == 2
