"""The scheduler: due occurrences, once-only deliveries, missed pushes, failures, replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
import time
from pathlib import Path

from sqlalchemy import select

from bot.db.models import Chat, Claim, Delivery, Member
from bot.materials.delivery import WATERMARK_KEY, MaterialScheduler, Pacer
from bot.materials.plan import parse_plan, store_plan
from tests import factories
from tests.conftest import make_config
from tests.materials.fakes import RecordingSender

LOADED = dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC)
DUE = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Asia/Shanghai
GROUP = -1001234

PLAN = """\
items:
  - {id: all-item, title: For everyone, body: "Body <b>1</b> & more", when: "2026-12-01T08:30"}
  - {id: office-item, title: For the office, body: two, when: "2026-12-01T08:30", audience: [办公室]}
  - {id: group-item, title: For the group, body: three, when: "2026-12-01T08:30", audience: [-1001234]}
  - {id: later, title: Later, body: four, when: "2026-12-02T08:30"}
"""


def make(database_url: str, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "groups": [GROUP],
        "telegram": {"token": "123456:TEST-TOKEN", "rate_limit": {"overall_per_second": 0}},
    }
    data.update(overrides)
    return make_config(database_url, **data)


async def setup(
    db, config, plan: str = PLAN, loaded: dt.datetime = LOADED, base_dir: Path | None = None
):  # type: ignore[no-untyped-def]
    async with db.begin() as session:
        office = [
            await factories.member(session, "张三", dept="办公室", telegram_id=101),
            await factories.member(session, "李四", dept="办公室", telegram_id=102),
        ]
        others = [
            await factories.member(session, "王五", dept="宣传科", telegram_id=201),
            await factories.member(session, "赵六", dept="宣传科", telegram_id=202, language="en"),
        ]
        # on the roster but never bound, and a deactivated member: never sent to
        await factories.member(session, "未绑定", dept="办公室")
        await factories.member(session, "已离开", dept="办公室", telegram_id=999, active=False)
        parsed = parse_plan(
            textwrap.dedent(plan),
            name="plan.yaml",
            config=config,
            base_dir=base_dir or Path("."),
            now=loaded,
        )
        await store_plan(session, parsed, source="cli", now=loaded)
    return office, others


async def deliveries(db) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    from bot.db.models import PlanItem

    async with db() as session:
        rows = await session.execute(
            select(PlanItem.slug, Delivery.chat_id, Delivery.status)
            .join(PlanItem, PlanItem.id == Delivery.plan_item_id)
            .order_by(PlanItem.slug, Delivery.chat_id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_due_item_reaches_its_audience_and_nobody_else(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender()
    scheduler = MaterialScheduler(db, config, sender)
    report = await scheduler.tick(now=DUE - dt.timedelta(seconds=1))
    assert report.pushes == [] and sender.messages == []
    report = await scheduler.tick(now=DUE + dt.timedelta(seconds=5))
    assert sorted((p.slug, p.status, p.sent) for p in report.pushes) == [
        ("all-item", "sent", 4),
        ("group-item", "sent", 1),
        ("office-item", "sent", 2),
    ]
    assert sorted(sender.chats()) == sorted([101, 102, 201, 202, 101, 102, GROUP])
    assert await deliveries(db) == [
        ("all-item", 101, "sent"),
        ("all-item", 102, "sent"),
        ("all-item", 201, "sent"),
        ("all-item", 202, "sent"),
        ("group-item", GROUP, "sent"),
        ("office-item", 101, "sent"),
        ("office-item", 102, "sent"),
    ]
    # the body is escaped for HTML; the Done button is in the member's language
    zh = next(m for m in sender.messages if m.chat_id == 201)
    en = next(m for m in sender.messages if m.chat_id == 202)
    assert "Body &lt;b&gt;1&lt;/b&gt; &amp; more" in (zh.text or "")
    assert zh.keyboard and zh.keyboard[0][0].text == "已学习"
    assert en.keyboard and en.keyboard[0][0].text == "Done"
    assert (zh.keyboard[0][0].data or "").startswith("m:d:")
    # the next ticks send nothing again
    await scheduler.tick(now=DUE + dt.timedelta(seconds=35))
    assert len(sender.messages) == 7


async def test_restart_never_sends_twice(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender()
    await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=5))
    assert len(sender.messages) == 7
    # a new process, even with the watermark lost, finds the deliveries and sends nothing
    async with db.begin() as session:
        await session.execute(Claim.__table__.delete().where(Claim.key == WATERMARK_KEY))
    again = RecordingSender()
    report = await MaterialScheduler(db, config, again).tick(now=DUE + dt.timedelta(seconds=40))
    assert again.messages == []
    assert {p.status for p in report.pushes} == {"done"}


async def test_claimed_but_unconfirmed_rows_are_not_resent(db, database_url: str) -> None:
    """A crash between the claim and the send must not lead to a second message."""
    config = make(database_url)
    await setup(db, config)
    async with db.begin() as session:
        from bot.db.models import PlanItem

        item_id = await session.scalar(select(PlanItem.id).where(PlanItem.slug == "all-item"))
        session.add(
            Delivery(
                plan_item_id=item_id, occurrence=DUE, chat_id=101, member_id=None, status="claimed"
            )
        )
    sender = RecordingSender()
    await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=5))
    assert [m.chat_id for m in sender.messages if "everyone" in (m.text or "")] == [102, 201, 202]


async def test_plan_reload_does_not_resend(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender()
    scheduler = MaterialScheduler(db, config, sender)
    await scheduler.tick(now=DUE + dt.timedelta(seconds=5))
    async with db.begin() as session:
        changed = textwrap.dedent(PLAN).replace("For everyone", "For everyone (corrected)")
        parsed = parse_plan(changed, name="plan.yaml", config=config, base_dir=Path("."), now=DUE)
        await store_plan(session, parsed, source="upload", now=DUE + dt.timedelta(seconds=10))
    await scheduler.tick(now=DUE + dt.timedelta(seconds=20))
    await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=30))
    assert len(sender.messages) == 7


async def test_missed_while_down_within_grace_is_sent(db, database_url: str) -> None:
    config = make(database_url, schedule={"misfire_grace": 3600})
    await setup(db, config)
    sender = RecordingSender()
    scheduler = MaterialScheduler(db, config, sender)
    await scheduler.tick(now=DUE - dt.timedelta(hours=2))  # the last tick before going down
    report = await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(minutes=50))
    assert {p.status for p in report.pushes} == {"sent"}
    assert len(sender.messages) == 7


async def test_missed_beyond_grace_is_recorded_not_sent(db, database_url: str) -> None:
    config = make(database_url, schedule={"misfire_grace": 3600})
    await setup(db, config)
    sender = RecordingSender()
    await MaterialScheduler(db, config, sender).tick(now=DUE - dt.timedelta(hours=2))
    report = await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(hours=3))
    assert sender.messages == []
    assert sorted((p.slug, p.status, p.missed) for p in report.pushes) == [
        ("all-item", "missed", 4),
        ("group-item", "missed", 1),
        ("office-item", "missed", 2),
    ]
    assert {status for _slug, _chat, status in await deliveries(db)} == {"missed"}
    # the next day's item is sent normally
    nxt = dt.datetime(2026, 12, 2, 0, 30, 2, tzinfo=dt.UTC)
    report = await MaterialScheduler(db, config, sender).tick(now=nxt)
    assert [(p.slug, p.sent) for p in report.pushes] == [("later", 4)]


async def test_item_added_after_its_time_is_not_pushed(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config, loaded=DUE + dt.timedelta(minutes=1))
    sender = RecordingSender()
    report = await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(minutes=2))
    assert report.pushes == [] and sender.messages == []


async def test_blocked_member_does_not_stop_the_others(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender(blocked={102}, failing={201})
    report = await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=5))
    everyone = next(p for p in report.pushes if p.slug == "all-item")
    assert (everyone.sent, everyone.unreachable, everyone.failed) == (2, 1, 1)
    rows = await deliveries(db)
    assert ("all-item", 102, "unreachable") in rows and ("all-item", 201, "failed") in rows
    assert ("all-item", 202, "sent") in rows
    async with db() as session:
        reachable = dict(list(await session.execute(select(Member.telegram_id, Member.reachable))))
    assert reachable[102] is False and reachable[201] is True
    # the blocked member is skipped from now on, without trying again
    sender.blocked.clear()
    sender.failing.clear()
    nxt = dt.datetime(2026, 12, 2, 0, 30, 2, tzinfo=dt.UTC)
    report = await MaterialScheduler(db, config, sender).tick(now=nxt)
    assert 102 not in [m.chat_id for m in sender.messages if m.text and "Later" in m.text]
    assert [(p.slug, p.sent) for p in report.pushes] == [("later", 3)]


async def test_migrated_group_is_followed(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender(migrated={GROUP: -1009999})
    await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=5))
    assert -1009999 in sender.chats()
    async with db() as session:
        chat = await session.get(Chat, GROUP)
        assert chat is not None and chat.migrated_to == -1009999
    assert ("group-item", -1009999, "sent") in await deliveries(db)


async def test_attachment_is_uploaded_once(db, database_url: str, tmp_path: Path) -> None:
    (tmp_path / "guide.docx").write_bytes(b"PK\x03\x04 not really a docx, but bytes")
    plan = """\
    items:
      - {id: doc, title: With a file, body: read it, file: guide.docx, when: "2026-12-01T08:30"}
    """
    config = make(database_url)
    await setup(db, config, plan=plan, base_dir=tmp_path)
    sender = RecordingSender()
    await MaterialScheduler(db, config, sender).tick(now=DUE + dt.timedelta(seconds=5))
    documents = [m for m in sender.messages if m.kind == "document"]
    assert sorted(m.chat_id for m in documents) == [101, 102, 201, 202]
    assert sender.uploads == 1
    assert sum(1 for m in documents if m.file_id == "FILE-guide.docx") == 3


async def test_two_replicas_send_each_message_once(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender(delay=0.01)
    first = MaterialScheduler(db, config, sender, instance="replica-a")
    second = MaterialScheduler(db, config, sender, instance="replica-b")
    now = DUE + dt.timedelta(seconds=5)
    await asyncio.gather(first.tick(now=now), second.tick(now=now))
    assert len(sender.messages) == 7
    assert len(set((m.chat_id, m.text) for m in sender.messages)) == 7


async def test_next_due(db, database_url: str) -> None:
    config = make(database_url)
    await setup(db, config)
    scheduler = MaterialScheduler(db, config, RecordingSender())
    assert await scheduler.next_due(DUE - dt.timedelta(hours=1)) == DUE
    assert await scheduler.next_due(DUE) == DUE + dt.timedelta(days=1)


async def test_pacer_never_lets_a_second_hold_more_than_the_limit() -> None:
    pacer = Pacer(20, 20)
    starts: list[float] = []

    async def one() -> None:
        async with pacer.slot():
            starts.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(25)))
    for i, first in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < first + 1.0) <= 21
    assert starts[-1] - starts[0] >= 24 * 0.05 - 0.01  # 24 intervals of 50 ms
    unlimited = Pacer(0)

    async def free() -> None:
        async with unlimited.slot():
            pass

    await asyncio.wait_for(asyncio.gather(*(free() for _ in range(1000))), 5)


async def test_pacer_counts_requests_still_in_flight() -> None:
    """Requests held up below the pacer (a 429 pause) and then let go at once must not be
    followed by more than the limit allows."""
    pacer = Pacer(1000, 5)
    release = asyncio.Event()
    starts: list[float] = []

    async def stuck() -> None:
        async with pacer.slot():
            starts.append(time.monotonic())
            await release.wait()

    held = [asyncio.create_task(stuck()) for _ in range(5)]
    await asyncio.sleep(0.05)
    late = asyncio.create_task(stuck())
    await asyncio.sleep(0.1)
    assert len(starts) == 5 and not late.done()  # 5 in flight: the sixth waits
    release.set()
    await asyncio.gather(*held, late)
    assert len(starts) == 6
    assert starts[5] - starts[4] >= 0.1


async def test_shutdown_mid_broadcast_resumes_without_duplicates(
    db, database_url: str, monkeypatch
) -> None:
    from bot.materials import delivery

    monkeypatch.setattr(delivery, "BATCH", 1)
    config = make(database_url)
    await setup(db, config)
    sender = RecordingSender()

    def should_stop() -> bool:
        return len(sender.messages) >= 2  # SIGTERM after the second message

    first = MaterialScheduler(db, config, sender, should_stop=should_stop)
    report = await first.tick(now=DUE + dt.timedelta(seconds=5))
    assert {p.status for p in report.pushes} == {"stopped"}
    assert len(sender.messages) == 2
    # the next process resumes at once (the lease was released) and sends the rest once
    second = MaterialScheduler(db, config, sender)
    await second.tick(now=DUE + dt.timedelta(seconds=10))
    assert len(sender.messages) == 7
    assert len({(m.chat_id, m.text) for m in sender.messages}) == 7
