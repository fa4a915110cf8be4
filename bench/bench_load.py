"""Sustained load: 1,000 members doing quizzes for 60 s against the real bot, per backend.

    python -m bench.bench_load                              # SQLite and PostgreSQL
    python -m bench.bench_load --backend sqlite --members 1000 --seconds 60
    python -m bench.bench_load --pg postgresql://postgres@127.0.0.1/postgres

Each simulated member behaves like a person with a phone: starts the daily quiz (later
challenges, once the daily quiz is done), reads the question, thinks for a few seconds
(``--think``), answers by pressing a button (or typing, for a blank), waits for the bot,
and so on. The real ``studybot run`` process (long polling, rate limiter off) serves them
through the fake Bot API over HTTP. Measured:

- throughput: member actions handled per second, against the rate offered;
- latency: from injecting an action to the bot's first answer in that chat (a verdict, the
  next question, an edited keyboard or the answer to the button press) — p50/p95/p99/max;
- errors (target 0): actions with no answer within 30 s, apologies, failed Bot API calls,
  updates logged with ``status=error``;
- RSS of the bot process (target under 200 MB), sampled every second, and its CPU time;
- ``studybot backup`` in the middle of the load (SQLite: the online backup; PostgreSQL: the
  command prints the pg_dump line, which is then run): the copy is restored, opened with the
  application's engine, and the points invariants are checked on it.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_MEMBER = 600_000
HEADER = re.compile(r"^第 (\d+)(?:/(\d+))? 题 · (单选|多选|判断|填空)")
APOLOGY = "抱歉，系统出了点问题"
RESPONSE_TIMEOUT = 30.0
# Members arrive during the first seconds (as after a reminder); latency after this is the
# steady state.
WARMUP = 10.0


@dataclass
class Member:
    user: Any
    next_at: float = 0.0
    waiting_since: float | None = None
    query_id: str | None = None
    answered: set[int] = field(default_factory=set)
    started_daily: bool = False


@dataclass
class Result:
    backend: str
    members: int
    seconds: float
    actions: int = 0
    answered: int = 0
    latencies: list[float] = field(default_factory=list)
    steady: list[float] = field(default_factory=list)
    lost: int = 0
    apologies: int = 0
    failed_calls: int = 0
    error_lines: int = 0
    rss_max_mb: float = 0.0
    rss_end_mb: float = 0.0
    cpu_s: float = 0.0
    backup: str = ""
    invariants: str = ""
    offered: float = 0.0
    polls: int = 0

    def line(self, name: str, value: str) -> None:
        print(f"  {name:<34} {value}")

    def report(self) -> None:
        lat = sorted(self.latencies)

        def pct(p: float, values: list[float] = lat) -> float:
            return (
                values[min(len(values) - 1, int(p * len(values)))] * 1000
                if values
                else float("nan")
            )

        steady = sorted(self.steady)

        print(f"\n== {self.backend}: {self.members} members, {self.seconds:.0f} s")
        self.line("actions offered / handled", f"{self.actions} / {self.answered}")
        self.line("throughput (handled/s)", f"{self.answered / self.seconds:.1f}")
        self.line("offered rate (actions/s)", f"{self.offered:.1f}")
        self.line(
            "latency p50 / p95 / p99 / max (ms)",
            f"{pct(0.5):.0f} / {pct(0.95):.0f} / {pct(0.99):.0f} / "
            f"{(lat[-1] * 1000 if lat else float('nan')):.0f}",
        )
        if lat:
            self.line("latency mean (ms)", f"{statistics.fmean(lat) * 1000:.0f}")
        self.line(
            f"  after the first {WARMUP:.0f} s: p50 / p99",
            f"{pct(0.5, steady):.0f} / {pct(0.99, steady):.0f} ms ({len(steady)} actions)",
        )
        errors = self.lost + self.apologies + self.failed_calls + self.error_lines
        self.line(
            "errors (target 0)",
            f"{errors} (no answer {self.lost}, apologies {self.apologies}, "
            f"failed calls {self.failed_calls}, status=error {self.error_lines})",
        )
        self.line(
            "bot RSS max / end (MB, target <200)", f"{self.rss_max_mb:.0f} / {self.rss_end_mb:.0f}"
        )
        per_action = self.cpu_s / self.answered * 1000 if self.answered else float("nan")
        self.line("bot CPU time (s) / per action (ms)", f"{self.cpu_s:.1f} / {per_action:.1f}")
        self.line("getUpdates calls", f"{self.polls}")
        self.line("backup under load", self.backup)
        self.line("invariants (live / backup)", self.invariants)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


async def seed(url: str, members: int) -> None:
    from bot.db.engine import create_engine, create_session_factory
    from bot.db.migrate import upgrade
    from bot.db.models import Member as MemberRow
    from tests import factories

    engine = create_engine(url)
    await upgrade(engine)
    db = create_session_factory(engine)
    questions = (
        [factories.q(f"s{i}", "single", f"单选题 {i}：下列说法正确的是？", ["B"],
                     ["说法甲", "说法乙", "说法丙", "说法丁"], "解析。") for i in range(20)]
        + [factories.q(f"j{i}", "judge", f"判断题 {i}。", [i % 2 == 0], (), "解析。") for i in range(20)]
        + [factories.q(f"m{i}", "multiple", f"多选题 {i}：下列属于密级的有？", ["A", "B", "D"],
                       ["绝密", "机密", "内部", "秘密"]) for i in range(10)]
        + [factories.q(f"b{i}", "blank", f"填空题 {i}：现行宪法于____年通过。", ["1982"]) for i in range(10)]
    )  # fmt: skip
    async with db.begin() as session:
        await factories.department(session, "办公室")
        await factories.bank(session, slug="load", title="负载题库", questions=questions)
        dept = (await factories.department(session, "办公室")).id
        session.add_all(
            MemberRow(
                name=f"成员{n}",
                department_id=dept,
                telegram_id=FIRST_MEMBER + n,
                on_roster=True,
            )
            for n in range(members)
        )
    await engine.dispose()


class Driver:
    """Plays the members: one thread, a heap of who acts next, a scan of the bot's calls."""

    def __init__(self, fake: Any, members: int, think: tuple[float, float], seed: int) -> None:
        self.fake = fake
        self.rng = random.Random(seed)
        self.think = think
        self.members = {
            FIRST_MEMBER + n: Member(fake.user(FIRST_MEMBER + n, f"M{n}")) for n in range(members)
        }
        self.by_query: dict[str, Member] = {}
        self.scanned = fake.mark()
        self.heap: list[tuple[float, int]] = []
        self.latencies: list[float] = []
        self.steady: list[float] = []
        self.started = time.monotonic()
        self.actions = 0
        self.answered = 0
        self.lost = 0
        self.apologies = 0
        self.failed_calls = 0

    def schedule(self, member: Member, at: float) -> None:
        member.next_at = at
        heapq.heappush(self.heap, (at, member.user.id))

    def act(self, member: Member, now: float) -> None:
        question = None
        for message in reversed(self.fake.messages(member.user.id)):
            match = HEADER.match(message.get("text") or "")
            if match:
                question = (message, match.group(3))
                break
        if question is None or question[0]["message_id"] in member.answered:
            command = "/quiz" if not member.started_daily else "/challenge"
            member.started_daily = True
            self.fake.send_text(member.user, command)
        else:
            message, kind = question
            buttons = [data for _text, data in self.fake.buttons(message) if data]
            if kind == "填空" or not buttons:
                self.fake.send_text(member.user, self.rng.choice(["1982", "不知道"]))
                member.answered.add(message["message_id"])
            else:
                data = self.rng.choice(buttons)
                if not data.endswith(("t0", "t1", "t2", "t3")):
                    member.answered.add(message["message_id"])
                try:
                    update = self.fake.press(member.user, message, data=data)
                except AssertionError:  # the bot removed the buttons meanwhile
                    member.answered.add(message["message_id"])
                    self.schedule(member, now + 0.1)
                    return
                member.query_id = update["callback_query"]["id"]
                self.by_query[member.query_id] = member
        member.waiting_since = now
        self.actions += 1

    def resolve(self, member: Member, at: float) -> None:
        if member.waiting_since is None or at < member.waiting_since:
            return  # nothing asked, or the tail of the answer to an earlier action
        latency = max(0.0, at - member.waiting_since)
        self.latencies.append(latency)
        if member.waiting_since >= self.started + WARMUP:
            self.steady.append(latency)
        self.answered += 1
        member.waiting_since = None
        if member.query_id is not None:
            self.by_query.pop(member.query_id, None)
            member.query_id = None
        self.schedule(member, time.monotonic() + self.rng.uniform(*self.think))

    def scan(self) -> None:
        calls = self.fake.calls(since=self.scanned)
        if not calls:
            return
        self.scanned = calls[-1].index + 1
        for call in calls:
            if call.method == "getUpdates":
                continue
            if call.status is not None and call.status >= 400:
                self.failed_calls += 1
            if call.method == "answerCallbackQuery":
                member = self.by_query.get(str(call.params.get("callback_query_id")))
                if member is not None:
                    self.resolve(member, call.time)
                continue
            chat = call.params.get("chat_id")
            member = self.members.get(chat) if isinstance(chat, int) else None
            if member is None:
                continue
            if APOLOGY in (call.params.get("text") or ""):
                self.apologies += 1
            self.resolve(member, call.time)

    def run(self, seconds: float, on_half: Any = None) -> float:
        start = self.started = time.monotonic()
        for n, member in enumerate(self.members.values()):
            # Members arrive over the first few seconds, as after a reminder.
            self.schedule(member, start + (n / len(self.members)) * min(5.0, seconds / 4))
        end = start + seconds
        half_done = False
        next_sweep = start + 1.0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if not half_done and on_half is not None and now >= start + seconds / 2:
                half_done = True
                threading.Thread(target=on_half, daemon=True).start()
            while self.heap and self.heap[0][0] <= now:
                at, uid = heapq.heappop(self.heap)
                member = self.members[uid]
                if member.next_at != at or member.waiting_since is not None:
                    continue
                self.act(member, time.monotonic())
            self.scan()
            if now >= next_sweep:
                next_sweep = now + 1.0
                for member in self.members.values():
                    since = member.waiting_since
                    if since is not None and now - since > RESPONSE_TIMEOUT:
                        self.lost += 1
                        member.waiting_since = None
                        self.schedule(member, now)
            time.sleep(0.005)
        # Let the answers to the last actions arrive (not counted as offered beyond the end).
        deadline = time.monotonic() + 30
        while any(m.waiting_since is not None for m in self.members.values()):
            if time.monotonic() > deadline:
                self.lost += sum(1 for m in self.members.values() if m.waiting_since is not None)
                break
            self.scan()
            time.sleep(0.01)
        return time.monotonic() - start


def backup_sqlite(home: Path, url: str, config: dict[str, Any]) -> tuple[str, str | None]:
    from tests.e2e.harness import run_cli

    target = home / "backup-under-load.db"
    started = time.monotonic()
    done = run_cli(
        ["backup", str(target)], tmp_path=home, database_url=url, config=config, timeout=300
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        return f"FAILED: {done.stderr.strip()}", None
    return (
        f"studybot backup: {took:.1f}s, {target.stat().st_size / 1e6:.1f} MB",
        f"sqlite+aiosqlite:///{target}",
    )


def backup_postgres(home: Path, url: str, config: dict[str, Any]) -> tuple[str, str | None]:
    from tests import dbutil
    from tests.e2e.harness import run_cli

    hint = run_cli(
        ["backup", str(home / "pg.dump")], tmp_path=home, database_url=url, config=config
    )
    line = hint.stderr.strip().splitlines()[-1] if hint.stderr.strip() else ""
    dump = home / "pg.dump"
    plain = dbutil.sync_url(url).replace("+psycopg", "")
    started = time.monotonic()
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", plain], check=True)
    took = time.monotonic() - started
    server = dbutil.pg_server_url() or plain.rsplit("/", 1)[0] + "/postgres"
    restored = dbutil.create_pg_database(server)
    restore_plain = dbutil.sync_url(restored).replace("+psycopg", "")
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={restore_plain}", str(dump)], check=True)
    shown = (
        "exit 1, prints the pg_dump line" if hint.returncode == 1 and "pg_dump" in line else line
    )
    return f"studybot backup: {shown}; pg_dump {took:.1f}s, restored", restored


def run_backend(backend: str, args: argparse.Namespace) -> Result:
    from tests import dbutil
    from tests.e2e.harness import BotProcess
    from tests.fakebot import FakeBotAPI
    from tests.invariants import check_invariants

    home = Path(tempfile.mkdtemp(prefix=f"bench-load-{backend}-"))
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{home / 'studybot.db'}"
    else:
        os.environ.setdefault(dbutil.PG_ENV, args.pg)
        url = dbutil.create_pg_database(args.pg)
    asyncio.run(seed(url, args.members))
    config: dict[str, Any] = {"departments": ["办公室"], "log_level": "INFO"}
    result = Result(backend, args.members, args.seconds)
    restored: str | None = None
    with FakeBotAPI() as fake:
        bot = BotProcess(fake, tmp_path=home, database_url=url, config=config)
        bot.start(timeout=120)
        assert bot.pid is not None
        rss: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(1.0):
                rss.append(rss_mb(bot.pid or 0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu_before = cpu_seconds(bot.pid)
        backups: list[tuple[str, str | None]] = []

        def take_backup() -> None:
            try:
                if backend == "sqlite":
                    backups.append(backup_sqlite(home, url, config))
                else:
                    backups.append(backup_postgres(home, url, config))
            except Exception as exc:  # reported, not raised: the load goes on
                backups.append((f"FAILED: {exc}", None))

        driver = Driver(fake, args.members, (args.think_min, args.think_max), args.seed)
        elapsed = driver.run(args.seconds, on_half=take_backup)
        result.seconds = elapsed
        result.cpu_s = cpu_seconds(bot.pid) - cpu_before
        result.rss_end_mb = rss_mb(bot.pid)
        sampling.set()
        result.rss_max_mb = max(rss or [result.rss_end_mb])
        result.actions = driver.actions
        result.answered = driver.answered
        result.latencies = driver.latencies
        result.steady = driver.steady
        result.lost = driver.lost
        result.apologies = driver.apologies
        result.failed_calls = driver.failed_calls
        result.offered = driver.actions / elapsed
        result.polls = len(fake.calls("getUpdates"))
        for _ in range(600):
            if backups:
                break
            time.sleep(0.5)
        bot.terminate(timeout=60)
        result.error_lines = len(re.findall(r"status=error", bot.log_text()))
        result.backup, restored = backups[0] if backups else ("FAILED: no result", None)
    live = check_invariants(url)
    copy = check_invariants(restored) if restored else ["no copy"]
    result.invariants = (
        f"{'hold' if not live else f'{len(live)} violations'} / "
        f"{'hold' if not copy else f'{len(copy)} violations: {copy[:2]}'}"
    )
    if restored is not None:
        members = dbutil.scalar(restored, "SELECT count(*) FROM members")
        answers = dbutil.scalar(restored, "SELECT count(*) FROM answers")
        result.backup += f"; copy has {members} members, {answers} answers"
    if backend != "sqlite":
        dbutil.dispose_all()
        dbutil.drop_pg_database(args.pg, url)
        if restored is not None:
            dbutil.drop_pg_database(args.pg, restored)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think-min", type=float, default=5.0, help="seconds before acting")
    parser.add_argument("--think-max", type=float, default=15.0)
    parser.add_argument(
        "--pg",
        default=os.environ.get("STUDYBOT_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1/postgres",
        help="PostgreSQL server URL (a database is created and dropped)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"bench_load: {args.members} members, {args.seconds:.0f} s, think "
        f"{args.think_min:g}-{args.think_max:g} s, {os.cpu_count()} CPUs"
    )
    results = [run_backend(backend, args) for backend in backends]
    for result in results:
        result.report()
    failed = [
        r.backend
        for r in results
        if r.lost
        or r.apologies
        or r.failed_calls
        or r.error_lines
        or "hold / hold" not in r.invariants
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
