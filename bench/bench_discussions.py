"""Topic discussions and reflections at the size of a large unit.

    python -m bench.bench_discussions                       # SQLite (temporary file)
    python -m bench.bench_discussions --database-url postgresql://postgres@127.0.0.1/postgres

Measures: the counting rule per reply (4,096-character and adversarial texts included);
replies recorded one after another, each in its own transaction, as the bot handles the
replies of one group (updates of one chat are processed in order); closing a topic with
every member taking part (result query and message); and exporting a quarter's
reflections to XLSX and DOCX. On PostgreSQL a scratch database is created next to the
given one and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Config, normalise_database_url
from bot.core.discussion_rules import reply_counts
from bot.core.periods import custom_period
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from bot.db.models import Department, Member
from bot.discussions import reflections, topics
from bot.discussions.export import export_reflections
from bot.sending import Sent

DEPARTMENTS = ["办公室", "宣传科", "组织科", "业务一科", "业务二科", "综合科", "财务科", "法规科"]
GROUP = -100500
T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
REPLY = "我认为保密工作要从日常小事做起，人人有责，"
NOTE = "通过本次学习，我深刻认识到宪法是国家的根本法，要自觉尊崇宪法、学习宪法、遵守宪法。" * 3


class NullSender:
    """Answers like Telegram without any network, so only our own work is timed."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, chat_id: int, text: str, **_: Any) -> Sent:
        self.sent.append(text)
        return Sent(chat_id, len(self.sent))


def bench_rule() -> None:
    rng = random.Random(3)
    texts = [
        REPLY,
        "同意！👍👍👍",
        "+1",
        "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(4096)),
        ("哈哈哈啊" * 3 + "呀") * 300,
        "👍" * 2000,
    ]
    a, b = "a", "ab"
    while len(b) < 4096:
        a, b = b, b + a
    texts.append(b[:4096])
    for text in texts:
        runs = 200
        t0 = time.perf_counter()
        for _ in range(runs):
            reply_counts(text, 10)
        per = (time.perf_counter() - t0) / runs * 1e6
        label = text[:12].replace("\n", " ") + ("…" if len(text) > 12 else "")
        print(f"  counting rule  {len(text):5d} chars  {label!r:20s} {per:9.1f} µs")


async def bench_db(url: str, members: int, notes_count: int) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    db = create_session_factory(engine)
    config = Config.model_validate({"database": {"url": url}, "organization": "基准测试局"})
    async with db.begin() as session:
        depts = [Department(name=n, sort_order=i) for i, n in enumerate(DEPARTMENTS)]
        session.add_all(depts)
        await session.flush()
        session.add_all(
            Member(
                name=f"成员{i:05d}",
                department_id=depts[i % len(depts)].id,
                telegram_id=10_000 + i,
                on_roster=True,
            )
            for i in range(members)
        )
    sender = NullSender()
    topic = await topics.open_topic(
        db,
        sender,  # type: ignore[arg-type]
        config,
        chat_id=GROUP,
        title="基准话题",
        window=dt.timedelta(hours=48),
        opened_by=1,
        now=T0,
    )
    assert topic is not None and topic.message_id is not None
    latencies: list[float] = []
    t0 = time.perf_counter()
    for i in range(members):
        start = time.perf_counter()
        async with db.begin() as session:
            outcome = await topics.record_reply(
                session,
                config,
                chat_id=GROUP,
                topic_message_id=topic.message_id,
                telegram_id=10_000 + i,
                message_id=100 + i,
                text=REPLY + str(i),
                sent_at=T0 + dt.timedelta(seconds=i),
            )
        latencies.append(time.perf_counter() - start)
        assert outcome.status == "counted", outcome
    total = time.perf_counter() - t0
    latencies.sort()
    print(
        f"  {members} replies, one transaction each: {members / total:7.0f} replies/s, "
        f"median {statistics.median(latencies) * 1000:.2f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.2f} ms"
    )
    t0 = time.perf_counter()
    result = await topics.close_topic(db, sender, config, topic.id)  # type: ignore[arg-type]
    assert result is not None and result.count == members
    print(
        f"  close with {members} participants: {(time.perf_counter() - t0) * 1000:7.1f} ms "
        f"(message {len(sender.sent[-1])} characters)"
    )

    t0 = time.perf_counter()
    for i in range(notes_count):
        async with db.begin() as session:
            stored = await reflections.submit_reflection(
                session,
                config,
                member_id=1 + i % members,
                message_id=5000 + i,
                text=NOTE,
                now=T0 + dt.timedelta(minutes=i),
            )
        assert stored.status == "stored"
    total = time.perf_counter() - t0
    print(f"  {notes_count} reflections stored: {notes_count / total:7.0f} per second")
    quarter = custom_period(dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    for fmt in ("xlsx", "docx"):
        t0 = time.perf_counter()
        async with db() as session:
            exported = await export_reflections(session, config, quarter, fmt)
        print(
            f"  export {exported.count} reflections as {fmt}: "
            f"{(time.perf_counter() - t0) * 1000:7.0f} ms, {len(exported.content) / 1024:.0f} KiB"
        )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--reflections", type=int, default=1000)
    args = parser.parse_args()
    print("counting rule")
    bench_rule()
    if args.database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            print("SQLite")
            asyncio.run(bench_db(url, args.members, args.reflections))
        return
    from sqlalchemy import create_engine as sync_engine
    from sqlalchemy import text

    server = normalise_database_url(args.database_url)
    name = f"studybot_bench_{uuid.uuid4().hex[:8]}"
    admin = sync_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.rpartition("/")[0] + "/" + name
    print(f"PostgreSQL: {url.split('@')[-1]}")
    try:
        asyncio.run(bench_db(url, args.members, args.reflections))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
