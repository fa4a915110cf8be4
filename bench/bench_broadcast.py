"""A scheduled push to many members through the fake Bot API: rate, 429s, memory.

    python -m bench.bench_broadcast                      # 10,000 members: limited, then unlimited
    python -m bench.bench_broadcast --members 1000       # smaller and quicker
    python -m bench.bench_broadcast --runs limited --rate 30
    python -m bench.bench_broadcast --database-url postgresql://postgres@127.0.0.1/postgres

The real ``studybot run`` process serves a fake Bot API; the database holds N bound
members and a study plan whose one item is due a few seconds after start. Measured:

- **limited**: ``telegram.rate_limit.overall_per_second`` = ``--rate`` (default 30) against a
  fake that enforces Telegram's flood limits (``enforce_limits=True``: at most 30 messages in
  any second, 429 with ``retry_after`` beyond). Reported: the achieved rate as a fraction of
  the limit (target ≥ 0.9) and the 429 answers received (target 0);
- **unlimited**: rate limit 0 (a self-hosted Bot API server), the fake not enforcing limits:
  what the scheduler, the claims in the database and the HTTP client sustain;

and for both the bot process's peak resident memory (VmHWM) and whether every member got
exactly one message (``deliveries`` rows all ``sent``). 10,000 members at 30/s take about six
minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_MEMBER_ID = 700_000
TITLE = "Broadcast benchmark"
LEAD_SECONDS = 8  # the item is due this long after it is loaded (start-up takes a few seconds)


@dataclass
class Result:
    run: str
    members: int
    rate_limit: float
    sent: int
    seconds: float
    rate: float
    http_429: int
    rss_peak_mb: float
    rows_sent: int
    duplicates: int

    def line(self) -> str:
        limit = f"{self.rate_limit:g}/s" if self.rate_limit else "off"
        parts = [
            f"{self.run:<9}",
            f"members {self.members}",
            f"limit {limit}",
            f"sent {self.sent} in {self.seconds:.1f}s",
            f"{self.rate:.1f} msg/s",
        ]
        if self.rate_limit:
            parts.append(f"{self.rate / self.rate_limit:.2f} of the limit")
        parts += [
            f"429s {self.http_429}",
            f"RSS peak {self.rss_peak_mb:.0f} MB",
            f"deliveries sent {self.rows_sent}",
            f"duplicates {self.duplicates}",
        ]
        return " | ".join(parts)


def rss_peak_mb(pid: int) -> float:
    """VmHWM of a live process, in MB (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def prepare_database(url: str, members: int, due: dt.datetime) -> None:
    from sqlalchemy import insert

    from bot.config import Config
    from bot.db.engine import create_engine, create_session_factory
    from bot.db.migrate import upgrade
    from bot.db.models import Department, Member
    from bot.db.types import utcnow
    from bot.materials.plan import parse_plan, store_plan

    engine = create_engine(url)
    await upgrade(engine)
    db = create_session_factory(engine)
    now = utcnow()
    async with db.begin() as session:
        department = Department(name="办公室", sort_order=0)
        session.add(department)
        await session.flush()
        rows = [
            {
                "name": f"成员{i:05d}",
                "department_id": department.id,
                "telegram_id": FIRST_MEMBER_ID + i,
                "on_roster": True,
                "active": True,
                "reachable": True,
                "reminders": False,
                "language": "zh-hans",
                "created_at": now,
                "bound_at": now,
            }
            for i in range(members)
        ]
        for offset in range(0, len(rows), 1000):
            await session.execute(insert(Member), rows[offset : offset + 1000])
        config = Config.model_validate({})
        local = due.astimezone(config.tz).strftime("%Y-%m-%dT%H:%M:%S")
        plan = parse_plan(
            f'items:\n  - {{id: bench, title: "{TITLE}", body: "正文", when: "{local}"}}\n',
            name="bench.yaml",
            config=config,
            base_dir=Path("."),
        )
        await store_plan(session, plan, source="cli", now=now)
    await engine.dispose()


async def count_sent_rows(url: str) -> int:
    from sqlalchemy import func, select

    from bot.db.engine import create_engine, create_session_factory
    from bot.db.models import Delivery

    engine = create_engine(url)
    db = create_session_factory(engine)
    async with db() as session:
        sent = await session.scalar(
            select(func.count(Delivery.id)).where(Delivery.status == "sent")
        )
    await engine.dispose()
    return int(sent or 0)


def fresh_database(base: str | None, workdir: Path, run: str) -> tuple[str, Any]:
    """A new empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if base is None:
        return f"sqlite+aiosqlite:///{workdir / f'{run}.db'}", None
    from tests import dbutil

    url = dbutil.create_pg_database(base)
    return url, lambda: dbutil.drop_pg_database(base, url)


def run_once(run: str, members: int, rate: float, database: str | None, workdir: Path) -> Result:
    from tests.e2e.harness import BotProcess
    from tests.fakebot import FakeBotAPI

    limited = rate > 0
    url, drop = fresh_database(database, workdir, run)
    fake = FakeBotAPI(enforce_limits=limited, overall_per_second=int(rate or 30))
    try:
        with fake:
            for i in range(members):
                fake.user(FIRST_MEMBER_ID + i, f"M{i}")
            due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD_SECONDS)
            asyncio.run(prepare_database(url, members, due))
            home = workdir / run
            home.mkdir(parents=True, exist_ok=True)
            bot = BotProcess(
                fake,
                tmp_path=home,
                database_url=url,
                config={
                    "telegram": {
                        "rate_limit": {
                            "overall_per_second": rate,
                            "group_per_minute": 20 if limited else 0,
                        }
                    },
                    "schedule": {"tick_seconds": 1},
                    "log_level": "INFO",
                },
            )
            bot.start(timeout=60)
            try:
                expected = members / (rate * 0.95) if limited else members / 50
                calls = fake.wait_for_count(
                    "sendMessage",
                    members,
                    timeout=LEAD_SECONDS + 60 + expected * 2,
                    predicate=lambda c: c.ok and TITLE in (c.params.get("text") or ""),
                )
                peak = rss_peak_mb(bot.pid or 0)
                # the bot marks the last batch right after sending it
                deadline = time.monotonic() + 30
                rows_sent = asyncio.run(count_sent_rows(url))
                while rows_sent < members and time.monotonic() < deadline:
                    time.sleep(0.5)
                    rows_sent = asyncio.run(count_sent_rows(url))
            finally:
                bot.terminate()
            times = sorted(c.time for c in calls)
            seconds = times[-1] - times[0]
            every = [
                c.params.get("chat_id")
                for c in fake.calls("sendMessage")
                if c.ok and TITLE in (c.params.get("text") or "")
            ]
            return Result(
                run=run,
                members=members,
                rate_limit=rate,
                sent=len(calls),
                seconds=seconds,
                rate=(len(calls) - 1) / seconds if seconds > 0 else float("inf"),
                http_429=fake.flood_429_count,
                rss_peak_mb=peak,
                rows_sent=rows_sent,
                duplicates=len(every) - len(set(every)),
            )
    finally:
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=30.0, help="messages/s of the limited run")
    parser.add_argument(
        "--runs", choices=["both", "limited", "unlimited"], default="both", help="which runs"
    )
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server URL (default: a SQLite file)"
    )
    args = parser.parse_args()
    runs: list[tuple[str, float]] = []
    if args.runs in ("both", "limited"):
        runs.append(("limited", args.rate))
    if args.runs in ("both", "unlimited"):
        runs.append(("unlimited", 0.0))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"broadcast of one study item to {args.members} members ({backend})", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        for name, rate in runs:
            result = run_once(name, args.members, rate, args.database_url, Path(tmp))
            print(result.line(), flush=True)


if __name__ == "__main__":
    main()
