"""Year leaderboard and year summary on 10,000 members, 1,000,000 ledger rows and answers.

    python -m bench.bench_reports                       # SQLite (temporary file)
    python -m bench.bench_reports --database-url postgresql://postgres@127.0.0.1/postgres

On PostgreSQL a scratch database is created next to the given one and dropped afterwards.
Rows are written in bulk (executemany on SQLite, COPY on PostgreSQL; then ANALYZE, and VACUUM
on PostgreSQL as autovacuum would), spread over the year; then each query runs a few times
and the median is printed. Targets: leaderboard < 200 ms, summary < 3 s.

The clock is 20:00 on 31 December (``NOW``): the annual report written on the last day of the
year, January to November closed and rolled up, December still read from the raw tables —
the largest raw tail a year report has. Measured separately: the first call after the bulk
load (it rolls up the eleven months), the first call after a month closes (it rolls up that
month), and the same queries with the rollups bypassed (``raw_only``).
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
from bot.core.periods import parse_period
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade
from bot.points.leaderboard import department_leaderboard, member_rank, person_leaderboard
from bot.reports.figures import compute_figures
from bot.reports.rollups import invalidate_rollups, raw_only

YEAR = 2026
NOW = dt.datetime(YEAR, 12, 31, 12, 0, tzinfo=dt.UTC)  # 20:00 in Asia/Shanghai
DEPARTMENTS = ["办公室", "宣传科", "组织科", "业务一科", "业务二科", "综合科", "财务科", "法规科"]
KINDS = ["checkin", "material", "daily_quiz", "weekly_quiz", "challenge", "live_quiz"]


def _rows(members: int, ledger: int, answers: int, questions: int) -> dict[str, Any]:
    rng = random.Random(7)
    start = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC).timestamp()
    span = 365 * 86400 - 86400

    def moment() -> dt.datetime:
        return dt.datetime.fromtimestamp(start + rng.random() * span, dt.UTC)

    ledger_rows = []
    for i in range(ledger):
        when = moment()
        ledger_rows.append(
            (
                1 + i % members,
                rng.randint(1, 5),
                KINDS[i % len(KINDS)],
                f"b{i}",
                (when + dt.timedelta(hours=8)).date(),
                when,
            )
        )
    answer_rows = []
    for _ in range(answers):
        q = rng.randint(1, questions)
        answer_rows.append(
            (1 + rng.randrange(members), q, q, "daily", "[]", rng.random() < 0.8, 0, moment())
        )
    return {"ledger": ledger_rows, "answers": answer_rows}


def _fill(url: str, members: int, ledger: int, answers: int, questions: int) -> None:
    from sqlalchemy import create_engine as sync_engine

    sync_url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    engine = sync_engine(sync_url)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    data = _rows(members, ledger, answers, questions)
    print(f"generated rows in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        p = "%s" if pg else "?"

        def many(table: str, cols: str, rows: list[tuple]) -> None:
            if pg:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ",".join([p] * len(cols.split(",")))
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)

        if not pg:
            now_s = now.replace(tzinfo=None)
            fix = lambda v: v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v  # noqa: E731
        else:
            now_s = now
            fix = lambda v: v  # noqa: E731
        many("departments", "id, name, sort_order, created_at",
             [(i + 1, n, i, now_s) for i, n in enumerate(DEPARTMENTS)])  # fmt: skip
        many("members", "id, name, department_id, on_roster, active, reachable, reminders, created_at",
             [(i + 1, f"成员{i + 1:05d}", 1 + i % len(DEPARTMENTS), True, i % 50 != 0, True, True,
               now_s) for i in range(members)])  # fmt: skip
        many("banks", "id, slug, title, tags, active, created_at, updated_at",
             [(1, "bench", "基准题库", "[]", True, now_s, now_s)])  # fmt: skip
        many("questions", "id, bank_id, qid, current_version_id, retired, position, created_at",
             [(i + 1, 1, f"q{i + 1}", i + 1, False, i, now_s) for i in range(questions)])  # fmt: skip
        many("question_versions",
             "id, question_id, version, type, text, options, answer, tags, content_hash, created_at",
             [(i + 1, i + 1, 1, "single", f"第{i + 1}题：以下说法正确的是？", '["甲","乙"]', '["A"]',
               "[]", f"h{i}", now_s) for i in range(questions)])  # fmt: skip
        many("points_ledger", "member_id, delta, kind, reference, local_day, created_at",
             [tuple(fix(v) for v in row) for row in data["ledger"]])  # fmt: skip
        many("answers",
             "member_id, question_id, question_version_id, mode, given, correct, late, points, answered_at",
             [(r[0], r[1], r[2], r[3], r[4], r[5], False, r[6], fix(r[7])) for r in data["answers"]])  # fmt: skip
        if pg:
            for table in ("departments", "members", "banks", "questions", "question_versions"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if pg else "ANALYZE"))
    engine.dispose()
    print(f"inserted {members} members, {ledger} ledger rows, {answers} answers "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip


async def _time(label: str, runs: int, work: Any) -> float:
    samples = []

    for _ in range(runs):
        t0 = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - t0)
    median = statistics.median(samples)
    print(f"{label:<56} median {median * 1000:8.1f} ms  (min {min(samples) * 1000:.1f}, "
          f"runs {runs})")  # fmt: skip
    return median


async def _reopen_month(db: Any, month: dt.date) -> None:
    """Forget the rollup of ``month`` and everything after it, as if it had just closed."""
    from sqlalchemy import delete, update

    from bot.db.models import MemberMonth, QuestionMonth, RollupState

    async with db.begin() as session:
        await session.execute(delete(MemberMonth).where(MemberMonth.month >= month))
        await session.execute(delete(QuestionMonth).where(QuestionMonth.month >= month))
        await session.execute(update(RollupState).values(through=month - dt.timedelta(days=1)))


async def _bench(url: str, args: argparse.Namespace) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    _fill(url, args.members, args.ledger, args.answers, args.questions)
    config = Config.model_validate({"database": {"url": url}, "organization": "基准单位"})
    year = parse_period(str(YEAR), dt.date(YEAR, 12, 31))
    quarter = parse_period(f"{YEAR}-Q4", dt.date(YEAR, 12, 31))
    engine = create_engine(url)
    db = create_session_factory(engine)
    try:
        # The generator wrote a year of history: what bulk writers of past days must do.
        async with db.begin() as session:
            await invalidate_rollups(session, year.start, year.end)

        async def top10() -> Any:
            async with db() as session:
                return await person_leaderboard(session, config, year, limit=10, now=NOW)

        async def rank() -> Any:
            async with db() as session:
                return await member_rank(session, config, 4321, year, now=NOW)

        async def departments() -> Any:
            async with db() as session:
                return await department_leaderboard(session, config, year, now=NOW)

        async def summary() -> Any:
            async with db() as session:
                return await compute_figures(session, config, year, activity_log=False, now=NOW)

        async def summary_with_log() -> Any:
            async with db() as session:
                return await compute_figures(session, config, year, now=NOW)

        async def quarter_summary() -> Any:
            async with db() as session:
                return await compute_figures(session, config, quarter, activity_log=False, now=NOW)

        cold = await _time("first leaderboard after the load (rolls up 11 months)", 1, top10)
        lb = await _time("year leaderboard (top 10)", 5, top10)
        rk = await _time("year member rank", 5, rank)
        await _time("year department leaderboard", 5, departments)
        sm = await _time("year summary (figures)", 3, summary)
        sl = await _time("year summary + raw activity sheet", 3, summary_with_log)
        await _time("quarter summary (Q4, weekly trend)", 3, quarter_summary)
        await _reopen_month(db, dt.date(YEAR, 11, 1))
        month = await _time("first leaderboard after November closed (rolls it up)", 1, top10)
        await _reopen_month(db, dt.date(YEAR, 11, 1))
        month_sm = await _time("first summary after November closed (rolls it up)", 1, summary)
        with raw_only():
            raw_lb = await _time("year leaderboard (top 10), rollups bypassed", 3, top10)
            raw_sm = await _time("year summary (figures), rollups bypassed", 1, summary)
            raw_check = (await top10(), await summary())
        assert raw_check == (await top10(), await summary()), "rollups changed a figure"
        print(
            f"targets: leaderboard {'OK' if lb < 0.2 else 'MISSED'} ({lb / 0.2:.2f}× of 200 ms), "
            f"member rank {rk / 0.2:.2f}× of 200 ms, summary {'OK' if sm < 3 else 'MISSED'} "
            f"({sm / 3:.2f}× of 3 s; with raw activity {sl / 3:.2f}×)"
        )
        print(
            f"rollups: leaderboard {raw_lb / lb:.1f}× faster, summary {raw_sm / sm:.1f}× faster "
            f"than the raw tables; building them cost {cold:.1f} s once after the load, "
            f"{month:.2f} s (leaderboard) / {month_sm:.2f} s (summary) when a month closes"
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server URL (default: SQLite)"
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--ledger", type=int, default=1_000_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=500)
    args = parser.parse_args()
    if args.database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            print(f"SQLite: {url}")
            asyncio.run(_bench(url, args))
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
        asyncio.run(_bench(url, args))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
