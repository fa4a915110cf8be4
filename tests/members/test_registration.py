"""Registration, binding, roles and daily check-in as services on the real database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.db.models import LedgerEntry, Member, PendingInput
from bot.members import service as members
from tests import factories
from tests.conftest import make_config


async def test_open_registration_name_then_department(db, config) -> None:
    async with db.begin() as session:
        await members.sync_departments(session, config)
        first = await members.begin_registration(session, config, 501, "zhang", "zh-hans")
        assert first.status == "ask_name"
        bad = await members.submit_name(session, config, 501, "zhang", "zh-hans", "   ")
        assert bad.status == "invalid_name"
        named = await members.submit_name(session, config, 501, "zhang", "zh-hans", " 张  三 ")
        assert named.status == "ask_department" and named.name == "张 三"
        assert [n for _, n in named.departments] == ["办公室", "宣传科", "业务一科"]
        dept_id = named.departments[1][0]
        done = await members.choose_department(session, config, 501, "zhang", "zh-hans", dept_id)
        assert done.status == "bound" and done.member.department == "宣传科"
        again = await members.choose_department(session, config, 501, "zhang", "zh-hans", dept_id)
        assert again.status == "stale"
        repeat = await members.begin_registration(session, config, 501, "zhang", "zh-hans")
        assert repeat.status == "already"
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1
        assert await session.scalar(select(func.count()).select_from(PendingInput)) == 0


async def test_roster_mode_binds_only_roster_members(db, database_url) -> None:
    config = make_config(database_url, registration="roster")
    async with db.begin() as session:
        await members.sync_departments(session, config)
        await factories.member(session, "李四", dept="宣传科")
        await members.begin_registration(session, config, 601, None, None)
        out = await members.submit_name(session, config, 601, None, None, "王五")
        dept = dict((n, i) for i, n in out.departments)["宣传科"]
        refused = await members.choose_department(session, config, 601, None, None, dept)
        assert refused.status == "not_on_roster"
        await members.begin_registration(session, config, 602, None, None)
        await members.submit_name(session, config, 602, None, None, "李四")
        bound = await members.choose_department(session, config, 602, None, None, dept)
        assert bound.status == "bound" and bound.member.name == "李四"
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(Member)) == 1


async def test_username_on_roster_binds_at_start(db, config) -> None:
    async with db.begin() as session:
        await factories.member(session, "赵六", username="ZhaoLiu")
        out = await members.begin_registration(session, config, 701, "zhaoliu", "en")
    assert out.status == "bound" and out.member.name == "赵六"


async def test_invite_codes(db, config) -> None:
    async with db.begin() as session:
        m = await factories.member(session, "钱七", invite_code="abc123")
        assert (await members.bind_with_code(session, 801, None, None, "nope")).status == "bad_code"
        assert (await members.bind_with_code(session, 801, None, None, "abc123")).status == "bound"
        assert (
            await members.bind_with_code(session, 802, None, None, "abc123")
        ).status == "code_used"
        assert m.telegram_id == 801


async def test_roles_from_config_and_grants(db, database_url) -> None:
    config = make_config(database_url, admins=[900], leaders=[901])
    async with db.begin() as session:
        m = await factories.member(session, "孙八", telegram_id=902)
        assert (await members.load_actor(session, config, 900, None)).is_admin
        leader = await members.load_actor(session, config, 901, None)
        assert leader.is_leader and not leader.is_admin and not leader.is_member
        staff = await members.load_actor(session, config, 902, "en")
        assert staff.roles == frozenset({"staff"}) and staff.locale == "en"
        assert await members.grant_role(session, m, "leader", 900)
        assert not await members.grant_role(session, m, "leader", 900)
        assert (await members.load_actor(session, config, 902, None)).is_leader
        assert await members.revoke_role(session, m, "leader", 900)
        assert not (await members.load_actor(session, config, 902, None)).is_leader


async def test_find_member_by_reference(db, config) -> None:
    async with db.begin() as session:
        a = await factories.member(session, "同名", username="a1", employee_no="E1", telegram_id=11)
        await factories.member(session, "同名", dept="宣传科", employee_no="E2")
        assert (await members.find_member(session, "@A1")).id == a.id
        assert (await members.find_member(session, "E1")).id == a.id
        assert (await members.find_member(session, "11")).id == a.id
        assert (await members.find_member(session, f"#{a.id}")).id == a.id
        try:
            await members.find_member(session, "同名")
            raise AssertionError("expected AmbiguousMember")
        except members.AmbiguousMember:
            pass
        try:
            await members.find_member(session, "nobody")
            raise AssertionError("expected MemberNotFound")
        except members.MemberNotFound:
            pass


async def test_checkin_once_a_day_and_streak_bonus(db, config) -> None:
    start = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)
    async with db.begin() as session:
        m = await factories.member(session, "周九")
        gained = []
        for day in range(8):
            now = start + dt.timedelta(days=day)
            gained.append(await members.daily_checkin(session, config, m.id, now))
            assert await members.daily_checkin(session, config, m.id, now) == 0
        assert (
            await members.current_streak(session, m.id, (start + dt.timedelta(days=7)).date()) == 8
        )
    assert gained == [1, 1, 1, 1, 1, 1, 4, 1]  # the 7-day bonus (3) once per streak
    async with db() as session:
        kinds = dict(
            (k, n)
            for k, n in await session.execute(
                select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind)
            )
        )
    assert kinds == {"checkin": 8, "streak_bonus": 1}
