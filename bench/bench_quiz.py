"""Daily-quiz throughput and latency of the real bot, beside a bare python-telegram-bot bot.

    python -m bench.bench_quiz                      # 20 and 200 members, SQLite
    python -m bench.bench_quiz --members 200 --rounds 3
    python -m bench.bench_quiz --database-url postgresql://postgres@127.0.0.1/postgres

N simulated members do ``/quiz`` at the same moment through the fake Bot API over HTTP and
answer every question as soon as it arrives (5 answers each). With few members this repeats
in waves of N new members (each wave once the previous one has finished) until about 1,000
answers are measured; every contender gets the same waves. Measured, in the same run and
against the same fake server:

- **studybot**: the real ``studybot run`` process (migrations, middleware, ordered update
  processing, the quiz service on SQLite or PostgreSQL), rate limiter off;
- **bare PTB**: python-telegram-bot's standard ``Application`` with ``run_polling`` and one
  handler that writes one row to SQLite and replies with one button to press;
- **fake capacity**: an echo client with no framework and no database that answers every
  update at once, so the fake server's own ceiling (together with this driver) is known.

Latency is from the moment an update is injected to the moment the fake server receives the
bot's reply: for studybot the next question (or the summary), which is what a member waits
for, and separately the first response (the verdict). Answers/s counts the answers of the
measured members between the first injection and the last reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWERS_PER_MEMBER = 5
FIRST_MEMBER_ID = 800_000
WARMUP_MEMBERS = 5


# --- the bots under test (run as child processes) ------------------------------------------


def serve_bare(base_url: str, token: str, db_path: str) -> None:
    """The bare bot: PTB's standard Application and polling, one handler, one row, one reply."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, ContextTypes, TypeHandler

    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, user_id INTEGER, "
        "data TEXT, at REAL)"
    )
    conn.commit()
    button = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return
        data = update.callback_query.data if update.callback_query else "start"
        conn.execute(
            "INSERT INTO answers (user_id, data, at) VALUES (?, ?, ?)", (user.id, data, time.time())
        )
        conn.commit()
        await context.bot.send_message(chat.id, "Question", reply_markup=button)

    app = Application.builder().token(token).base_url(base_url).build()
    app.add_handler(TypeHandler(Update, handle))
    app.run_polling(allowed_updates=["message", "callback_query"], stop_signals=(signal.SIGTERM,))


def serve_echo(base_url: str, token: str) -> None:
    """The fake server's ceiling: answer every update at once, no framework, no database."""
    import aiohttp

    async def run() -> None:
        api = f"{base_url}{token}"
        markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def reply(update: dict[str, Any]) -> None:
                source = update.get("message") or update.get("callback_query", {}).get("message")
                if not source:
                    return
                chat_id = source["chat"]["id"]
                async with session.post(
                    f"{api}/sendMessage",
                    data={"chat_id": chat_id, "text": "Question", "reply_markup": markup},
                ) as response:
                    await response.read()

            offset = 0
            tasks: set[asyncio.Task[None]] = set()
            while not stop.is_set():
                async with session.post(
                    f"{api}/getUpdates", data={"offset": offset, "timeout": 1}
                ) as response:
                    body = await response.json()
                for update in body.get("result", []):
                    offset = max(offset, update["update_id"] + 1)
                    task = asyncio.create_task(reply(update))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

    asyncio.run(run())


# --- the simulated members -----------------------------------------------------------------


@dataclass
class Member:
    user: Any
    injected: float = 0.0
    first_seen: bool = False
    answers: int = 0
    done: bool = False
    turn: list[float] = field(default_factory=list)  # injection → next question / summary
    first: list[float] = field(default_factory=list)  # injection → first response


@dataclass
class Result:
    name: str
    members: int
    answers: int
    seconds: float
    turn: list[float]
    first: list[float]
    cpu_seconds: float | None = None

    @property
    def cpu_ms_per_answer(self) -> float | None:
        if self.cpu_seconds is None or not self.answers:
            return None
        return self.cpu_seconds / self.answers * 1000

    @property
    def answers_per_second(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def drive(
    fake: Any,
    users: list[Any],
    *,
    is_question: Callable[[str], bool],
    is_summary: Callable[[str], bool],
    rng: random.Random,
    timeout: float = 300.0,
) -> tuple[list[Member], float]:
    """Every member sends /quiz at once and answers each question as soon as it arrives.

    One thread follows the fake server's call log in order, so the driver's own cost stays
    small and constant per call however many members take part.
    """
    members = {u.id: Member(u) for u in users}
    index = fake.mark()
    started = time.monotonic()
    for member in members.values():
        member.injected = time.monotonic()
        fake.send_text(member.user, "/quiz")
    remaining = len(members)
    last_reply = started
    deadline = started + timeout
    while remaining:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{remaining} members did not finish within {timeout:.0f}s")
        calls = fake.calls(since=index)
        # Long polls stay open while they wait; every other call is answered on arrival.
        ready = [c for c in calls if c.method != "getUpdates"]
        if not ready or ready[0].status is None:
            if calls and not ready:
                index = calls[-1].index + 1
            try:
                fake.wait_for(
                    None,
                    since=index,
                    timeout=5.0,
                    predicate=lambda c: c.method != "getUpdates" and c.status is not None,
                )
            except AssertionError:
                pass
            continue
        for call in calls:
            if call.method == "getUpdates":
                index = call.index + 1
                continue
            if call.status is None:
                break
            index = call.index + 1
            if call.method not in ("sendMessage", "editMessageText"):
                continue
            member = members.get(call.params.get("chat_id"))
            if member is None or member.done:
                continue
            elapsed = call.time - member.injected
            if not member.first_seen:
                member.first_seen = True
                member.first.append(elapsed)
            if call.method != "sendMessage":
                continue
            text = call.params.get("text", "")
            if is_summary(text) or (member.answers >= ANSWERS_PER_MEMBER and is_question(text)):
                member.turn.append(elapsed)
                member.done = True
                remaining -= 1
                last_reply = max(last_reply, call.time)
                continue
            if not is_question(text):
                continue
            member.turn.append(elapsed)
            message = fake.message(member.user.id, call.result["message_id"])
            buttons = [data for _text, data in fake.buttons(message) if data]
            choice = [d for d in buttons if not d.endswith(":s")]
            member.injected = time.monotonic()
            member.first_seen = False
            member.answers += 1
            if choice:
                fake.press(member.user, message, data=rng.choice(choice))
            else:
                fake.send_text(member.user, "1982")
            last_reply = max(last_reply, call.time)
    return list(members.values()), last_reply - started


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) a process has used so far (Linux)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str,
    fake: Any,
    first_id: int,
    count: int,
    *,
    is_question: Callable[[str], bool],
    is_summary: Callable[[str], bool],
    seed: int,
    pid: int | None = None,
    waves: int = 1,
) -> Result:
    """``waves`` times, ``count`` new members at once (each wave starts when the previous
    one has finished); the figures are over all waves."""
    answers, seconds, cpu = 0, 0.0, 0.0
    turn: list[float] = []
    first: list[float] = []
    for wave in range(waves):
        rng = random.Random(seed + wave)
        start = first_id + wave * count
        users = [fake.user(start + i, f"M{i}", language_code="zh-hans") for i in range(count)]
        cpu_before = process_cpu(pid)
        members, took = drive(fake, users, is_question=is_question, is_summary=is_summary, rng=rng)
        cpu_after = process_cpu(pid)
        turn += [t for m in members for t in m.turn[1:]]  # the answers' turns (not /quiz)
        first += [t for m in members for t in m.first[1:]]
        answers += sum(m.answers for m in members)
        seconds += took
        if cpu_before is not None and cpu_after is not None:
            cpu += cpu_after - cpu_before
    return Result(name, count, answers, seconds, turn, first, cpu if pid is not None else None)


def waves_for(count: int) -> int:
    """Enough waves for about 1,000 answers: short runs are at the mercy of a busy machine."""
    return max(1, -(-1000 // (count * ANSWERS_PER_MEMBER)))


# --- setting up each contender -------------------------------------------------------------


def _wait_polling(fake: Any, proc: subprocess.Popen[bytes], since: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not fake.calls("getUpdates", since=since):
        if proc.poll() is not None:
            raise RuntimeError(f"bot exited early:\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("bot did not start polling within 60s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _child(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    for key in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "STUDYBOT_CONFIG"):
        env.pop(key, None)
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=log.parent,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def bare_questions(text: str) -> bool:
    return text == "Question"


def run_simple(kind: str, count: int, workdir: Path, seed: int, waves: int = 1) -> Result:
    """The bare PTB bot or the echo client against a fresh fake server."""
    from tests.fakebot import FakeBotAPI

    with FakeBotAPI() as fake:
        log = workdir / f"{kind}-{count}.log"
        args = [str(Path(__file__).resolve()), f"--serve-{kind}", fake.base_url, fake.token]
        if kind == "bare":
            args.append(str(workdir / f"bare-{count}-{uuid.uuid4().hex[:6]}.db"))
        since = fake.mark()
        proc = _child(args, log)
        try:
            _wait_polling(fake, proc, since, log)
            warm = measure(
                kind,
                fake,
                FIRST_MEMBER_ID + 900_000,
                WARMUP_MEMBERS,
                is_question=bare_questions,
                is_summary=lambda _t: False,
                seed=seed,
            )
            del warm
            return measure(
                "bare PTB" if kind == "bare" else "fake capacity (echo)",
                fake,
                FIRST_MEMBER_ID,
                count,
                is_question=bare_questions,
                is_summary=lambda _t: False,
                seed=seed,
                pid=proc.pid,
                waves=waves,
            )
        finally:
            _stop(proc)


def _seed_studybot(url: str, first_ids: list[tuple[int, int]]) -> None:
    from bot.db.engine import create_engine, create_session_factory
    from bot.db.migrate import upgrade
    from tests import factories

    questions = [
        factories.q(
            f"s{i}",
            "single",
            f"单选题 {i}：下列说法正确的是？",
            ["B"],
            ["甲", "乙", "丙", "丁"],
            "解析。",
        )
        for i in range(40)
    ] + [
        factories.q(f"j{i}", "judge", f"判断题 {i}。", [i % 2 == 0], (), "解析。")
        for i in range(20)
    ]

    async def work() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        db = create_session_factory(engine)
        async with db.begin() as session:
            await factories.bank(session, slug="bench", title="基准题库", questions=questions)
            for first, count in first_ids:
                for i in range(count):
                    await factories.member(
                        session, f"成员{first + i}", dept=None, telegram_id=first + i
                    )
        await engine.dispose()

    asyncio.run(work())


def _pg_scratch(server_url: str) -> tuple[str, Callable[[], None]]:
    from tests import dbutil

    url = dbutil.create_pg_database(server_url)

    def drop() -> None:
        dbutil.dispose_all()
        dbutil.drop_pg_database(server_url, url)

    return url, drop


def run_studybot(
    count: int, workdir: Path, seed: int, database_url: str | None, waves: int = 1
) -> Result:
    import yaml

    from tests.fakebot import FakeBotAPI

    drop: Callable[[], None] | None = None
    if database_url:
        url, drop = _pg_scratch(database_url)
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'studybot-{count}-{uuid.uuid4().hex[:6]}.db'}"
    try:
        _seed_studybot(
            url, [(FIRST_MEMBER_ID, count * waves), (FIRST_MEMBER_ID + 900_000, WARMUP_MEMBERS)]
        )
        with FakeBotAPI() as fake:
            config = {
                "telegram": {
                    "token": fake.token,
                    "base_url": fake.base_url,
                    "base_file_url": fake.base_file_url,
                    "rate_limit": {"overall_per_second": 0, "group_per_minute": 0},
                },
                "database": {"url": url},
                "timezone": "Asia/Shanghai",
                "locale": "zh_CN",
            }
            path = workdir / f"studybot-{count}.yaml"
            path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            log = workdir / f"studybot-{count}.log"
            since = fake.mark()
            proc = _child(["-m", "bot", "--config", str(path), "run"], log)
            try:
                _wait_polling(fake, proc, since, log)

                def is_question(text: str) -> bool:
                    return text.startswith("第 ") and " 题 · " in text.split("\n", 1)[0]

                def is_summary(text: str) -> bool:
                    return "题目：" in text and "得分：" in text

                measure(
                    "warm-up",
                    fake,
                    FIRST_MEMBER_ID + 900_000,
                    WARMUP_MEMBERS,
                    is_question=is_question,
                    is_summary=is_summary,
                    seed=seed,
                )
                return measure(
                    "studybot",
                    fake,
                    FIRST_MEMBER_ID,
                    count,
                    is_question=is_question,
                    is_summary=is_summary,
                    seed=seed,
                    pid=proc.pid,
                    waves=waves,
                )
            finally:
                _stop(proc)
    finally:
        if drop is not None:
            drop()


# --- report --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def report(results: list[Result]) -> None:
    print(
        f"{'contender':<22}{'members':>8}{'answers':>9}{'answers/s':>11}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU ms/ans':>12}   first response p50/p99 ms"
    )
    for r in results:
        print(
            f"{r.name:<22}{r.members:>8}{r.answers:>9}{r.answers_per_second:>11.1f}"
            f"{_ms(_percentile(r.turn, 0.5)):>9}{_ms(_percentile(r.turn, 0.95)):>9}"
            f"{_ms(_percentile(r.turn, 0.99)):>9}"
            f"{(f'{r.cpu_ms_per_answer:.2f}' if r.cpu_ms_per_answer is not None else '-'):>12}   "
            f"{_percentile(r.first, 0.5) * 1000:.1f}/{_percentile(r.first, 0.99) * 1000:.1f}"
        )


def best(results: list[Result]) -> Result:
    """The round with the highest throughput (the machine is shared; noise only slows)."""
    return max(results, key=lambda r: r.answers_per_second)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--rounds", type=int, default=1, help="repeat and keep the best round")
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--waves", type=int, default=0, help="waves of N members (default: ~1,000 answers)"
    )
    parser.add_argument("--serve-bare", nargs=3, metavar=("BASE_URL", "TOKEN", "DB"))
    parser.add_argument("--serve-echo", nargs=2, metavar=("BASE_URL", "TOKEN"))
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(*args.serve_bare)
        return 0
    if args.serve_echo:
        serve_echo(*args.serve_echo)
        return 0

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"daily quiz benchmark: {ANSWERS_PER_MEMBER} answers per member, {backend}, "
        f"{os.cpu_count()} CPUs, best of {args.rounds} round(s)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-quiz-") as tmp:
        workdir = Path(tmp)
        summary: list[tuple[int, Result, Result, Result, list[float]]] = []
        for count in args.members:
            waves = args.waves or waves_for(count)
            # Rounds alternate between the contenders, so a machine that slows down for a
            # while does not hit one of them only.
            runs: dict[str, list[Result]] = {"echo": [], "bare": [], "studybot": []}
            for _ in range(args.rounds):
                runs["echo"].append(run_simple("echo", count, workdir, args.seed, waves))
                runs["bare"].append(run_simple("bare", count, workdir, args.seed, waves))
                runs["studybot"].append(
                    run_studybot(count, workdir, args.seed, args.database_url, waves)
                )
            echo, bare, ours = best(runs["echo"]), best(runs["bare"]), best(runs["studybot"])
            print(f"\n{count} members at once, {waves} wave(s):")
            report([echo, bare, ours])
            paired = [
                o.answers_per_second / b.answers_per_second
                for o, b in zip(runs["studybot"], runs["bare"], strict=True)
            ]
            summary.append((count, echo, bare, ours, paired))
        print()
        for count, echo, bare, ours, paired in summary:
            ratio = ours.answers_per_second / bare.answers_per_second
            headroom = echo.answers_per_second / bare.answers_per_second
            print(
                f"{count} members: studybot / bare PTB throughput = {ratio:.2f}x "
                f"(target >= 0.8x; round by round {', '.join(f'{r:.2f}' for r in paired)}); "
                f"studybot p99 = {_percentile(ours.turn, 0.99) * 1000:.1f} ms; "
                f"fake server capacity = {headroom:.1f}x the bare bot"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
