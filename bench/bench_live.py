"""A live group quiz with a large group answering every poll at once.

    python -m bench.bench_live                       # SQLite (temporary file)
    python -m bench.bench_live --database-url postgresql://postgres@127.0.0.1/postgres

Measures, per question: recording every member's vote (``poll_answer`` updates of different
users are handled concurrently, so the votes run as concurrent tasks, each in its own
transaction, as the bot does); and closing the question (scoring with the speed bonus). At
the end: finishing the round (ranking of every member, one ledger award each) and posting
the ranking. Sending is a null Sender, so only our own work is timed. On PostgreSQL a
scratch database is created next to the given one and dropped afterwards.
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

from sqlalchemy import select

from bot.config import Config, normalise_database_url
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from bot.db.models import Bank, Department, LiveQuestion, Member, Question, QuestionVersion
from bot.quiz import live
from bot.sending import Sent
from bot.telegram.live import poll_limits

DEPARTMENTS = ["办公室", "宣传科", "组织科", "业务一科", "业务二科", "综合科", "财务科", "法规科"]
GROUP = -100500


class NullSender:
    """Answers like Telegram without any network."""

    def __init__(self) -> None:
        self.n = 0
        self.texts: list[str] = []

    async def send_text(self, chat_id: int, text: str, **_: Any) -> Sent:
        self.n += 1
        self.texts.append(text)
        return Sent(chat_id, self.n)

    async def send_poll(self, chat_id: int, question: str, options: list[str], **_: Any) -> Sent:
        self.n += 1
        return Sent(chat_id, self.n, f"poll-{self.n}")

    async def stop_poll(self, chat_id: int, message_id: int) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


async def seed(db: Any, members: int, questions: int) -> None:
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
        bank = Bank(slug="bench", title="基准题库")
        session.add(bank)
        await session.flush()
        for i in range(questions):
            question = Question(bank_id=bank.id, qid=f"q{i}", position=i)
            session.add(question)
            await session.flush()
            version = QuestionVersion(
                question_id=question.id,
                version=1,
                type="single",
                text=f"第{i}题：以下哪一项正确？",
                options=["甲", "乙", "丙", "丁"],
                answer=["B"],
                explanation="乙。",
                content_hash=f"h{i}",
            )
            session.add(version)
            await session.flush()
            question.current_version_id = version.id


async def bench_db(url: str, members: int, questions: int, concurrency: int) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    db = create_session_factory(engine)
    config = Config.model_validate({"database": {"url": url}, "organization": "基准测试局"})
    await seed(db, members, questions)
    clock = Clock()
    sender = NullSender()
    limits = poll_limits()
    runner = live.LiveQuizRunner(db, sender, config, limits, clock=clock)  # type: ignore[arg-type]
    async with db.begin() as session:
        started = await live.start_round(
            session,
            chat_id=GROUP,
            args=live.LiveArgs("bench", questions, 30),
            started_by=1,
            limits=limits,
            locale="zh_CN",
            now=clock(),
        )
    assert started.round_id is not None
    member_ids = list(range(1, members + 1))
    rng = random.Random(5)
    for number in range(questions):
        await runner.advance(started.round_id)
        async with db() as session:
            question = await session.scalar(
                select(LiveQuestion).where(
                    LiveQuestion.round_id == started.round_id, LiveQuestion.position == number
                )
            )
        assert question is not None and question.poll_id is not None
        poll_id = question.poll_id
        latencies: list[float] = []
        queue = list(member_ids)
        rng.shuffle(queue)

        async def worker(
            mine: list[int], poll_id: str = poll_id, latencies: list[float] = latencies
        ) -> None:
            for member_id in mine:
                t = time.perf_counter()
                async with db.begin() as session:
                    result = await live.record_answer(
                        session,
                        poll_id=poll_id,
                        member_id=member_id,
                        option_ids=[rng.choice([0, 1, 1, 2])],
                        now=clock() + dt.timedelta(milliseconds=member_id),
                    )
                latencies.append(time.perf_counter() - t)
                assert result.status == "recorded", result

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(queue[i::concurrency]) for i in range(concurrency)))
        took = time.perf_counter() - t0
        latencies.sort()
        clock.now += dt.timedelta(seconds=31 + live.CLOSE_GRACE.total_seconds())
        t1 = time.perf_counter()
        await runner.advance(started.round_id)
        closed = time.perf_counter() - t1
        print(
            f"  question {number + 1}: {members} votes in {took:.2f} s "
            f"({members / took:.0f}/s, {concurrency} concurrent), median "
            f"{statistics.median(latencies) * 1000:.1f} ms, p95 "
            f"{latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms; "
            f"close+score{' +finish+awards+ranking' if number == questions - 1 else ''} "
            f"{closed * 1000:.0f} ms"
        )
        clock.now += live.PAUSE
    print(f"  ranking message: {len(sender.texts[-1])} characters")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL")
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            print("SQLite")
            asyncio.run(bench_db(url, args.members, args.questions, args.concurrency))
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
        asyncio.run(bench_db(url, args.members, args.questions, args.concurrency))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
