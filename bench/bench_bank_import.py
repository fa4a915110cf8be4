"""Import of a generated 10,000-question bank (XLSX and YAML) on SQLite and PostgreSQL.

    python -m bench.bench_bank_import [--questions 10000]
        [--pg postgresql://postgres@127.0.0.1/postgres]

For each backend and format: a first import into an empty database (parse + write), then the
same file again (must be "unchanged", nothing written), then the file with every 10th question
edited (new versions), repeated --repeat times from an empty database. PostgreSQL runs in a
database the benchmark creates and drops. Target: the first import under 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.banks.formats import parse_bank
from bot.banks.importer import ImportSummary, import_bank
from bot.config import Config
from bot.db.engine import create_engine, create_session_factory
from bot.db.migrate import upgrade

TYPES = ("single", "multiple", "judge", "blank")
ZH_TYPES = {"single": "单选", "multiple": "多选", "judge": "判断", "blank": "填空"}


def generate(count: int, edit_every: int = 0) -> list[dict[str, Any]]:
    """Questions in YAML shape; with ``edit_every``, every n-th text is changed."""
    questions = []
    for n in range(count):
        qtype = TYPES[n % 4]
        text = f"第 {n + 1} 题：根据《中华人民共和国保守国家秘密法》，下列说法正确的是（ ）。"
        if edit_every and n % edit_every == 0:
            text += "（修订）"
        item: dict[str, Any] = {"id": f"q{n + 1:05d}", "type": qtype, "text": text}
        if qtype == "single":
            item["options"] = [f"选项内容 {n}-{i}" for i in range(4)]
            item["answer"] = "ABCD"[n % 4]
        elif qtype == "multiple":
            item["options"] = [f"选项内容 {n}-{i}" for i in range(5)]
            item["answer"] = "ACD"
        elif qtype == "judge":
            item["answer"] = n % 3 == 0
        else:
            item["answer"] = [f"答案{n}", f"答案 {n}"]
        item["explanation"] = f"第 {n + 1} 题的解析：依据相关法律条文，正确答案如上。"
        item["difficulty"] = 1 + n % 3
        item["tags"] = ["保密", f"专题{n % 7}"]
        questions.append(item)
    return questions


def to_yaml(questions: list[dict[str, Any]]) -> bytes:
    doc = {"bank": "bench", "title": "基准题库", "questions": questions}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, allow_unicode=True, sort_keys=False).encode()


def to_xlsx(questions: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    # The normal (not write-only) mode writes shared strings and the sheet dimension, as
    # Excel and WPS do; write-only files hold inline strings that read about twice as slowly.
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "基准题库"
    sheet.append(["bank", "bench"])
    sheet.append(
        [
            *("题号", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E"),
            *("答案", "解析", "难度", "标签"),
        ]
    )
    for q in questions:
        options = list(q.get("options", [])) + [None] * (5 - len(q.get("options", [])))
        answer = q["answer"]
        if q["type"] == "judge":
            answer = "对" if answer else "错"
        elif q["type"] == "blank":
            answer = "|".join(answer)
        sheet.append(
            [
                q["id"],
                ZH_TYPES[q["type"]],
                q["text"],
                *options,
                answer,
                q["explanation"],
                q["difficulty"],
                ",".join(q["tags"]),
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def timed_import(
    db: Any, config: Config, name: str, content: bytes
) -> tuple[float, ImportSummary]:
    start = time.perf_counter()
    async with db.begin() as session:
        summary = await import_bank(session, config, name, content)
    return time.perf_counter() - start, summary


async def empty(engine: Any) -> None:
    from bot.db.models import Base

    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.exec_driver_sql(f'DELETE FROM "{table.name}"')


async def run_backend(
    label: str, url: str, files: dict[str, tuple[bytes, bytes]], repeat: int
) -> None:
    """Each round starts from an empty database; the best and the median round are shown
    (the machine is shared, so the best round is the closest to the code's own cost)."""
    engine = create_engine(url)
    await upgrade(engine)
    db = create_session_factory(engine)
    config = Config.model_validate({"database": {"url": url}, "uploads": {"max_mb": 50}})
    try:
        for fmt, (content, edited) in files.items():
            name = f"bench.{fmt}"
            rounds: list[tuple[float, float, float]] = []
            for _ in range(repeat):
                await empty(engine)
                first, s1 = await timed_import(db, config, name, content)
                again, s2 = await timed_import(db, config, name, content)
                changed, s3 = await timed_import(db, config, name, edited)
                assert s1.added == len(parse_bank(name, content).questions), s1
                assert not s2.changed, s2
                assert s3.updated == (s1.added + 9) // 10, s3
                rounds.append((first, again, changed))
            for what, pick in (("best", min), ("median", statistics.median)):
                first, again, changed = (pick(r[i] for r in rounds) for i in range(3))
                print(
                    f"{label:<10} {fmt:<4} {what:<6} first import {first:5.2f} s "
                    f"({s1.added} added) | same file {again:5.2f} s (unchanged) | "
                    f"every 10th edited {changed:5.2f} s ({s3.updated} updated)",
                    flush=True,
                )
        await empty(engine)
    finally:
        await engine.dispose()


def pg_database(server: str) -> tuple[str, str]:
    from sqlalchemy import create_engine as sync_engine
    from sqlalchemy import text

    name = f"studybot_bench_{uuid.uuid4().hex[:8]}"
    base = server.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    admin = sync_engine(
        server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, f"{base}/{name}"


def drop_pg_database(server: str, name: str) -> None:
    from sqlalchemy import create_engine as sync_engine
    from sqlalchemy import text

    admin = sync_engine(
        server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per backend and format")
    parser.add_argument(
        "--pg",
        default=os.environ.get("STUDYBOT_BENCH_PG"),
        help="PostgreSQL server URL, e.g. postgresql://postgres@127.0.0.1/postgres",
    )
    args = parser.parse_args()

    start = time.perf_counter()
    questions = generate(args.questions)
    edited = generate(args.questions, edit_every=10)
    files = {
        "xlsx": (to_xlsx(questions), to_xlsx(edited)),
        "yaml": (to_yaml(questions), to_yaml(edited)),
    }
    print(
        f"generated {args.questions} questions in {time.perf_counter() - start:.1f} s: "
        f"xlsx {len(files['xlsx'][0]) / 1048576:.1f} MB, yaml {len(files['yaml'][0]) / 1048576:.1f} MB"
    )
    for fmt, (content, _edited) in files.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            parse_bank(f"bench.{fmt}", content)
            times.append(time.perf_counter() - start)
        print(
            f"parse + validate only  {fmt:<4} best {min(times):5.2f} s, median {statistics.median(times):5.2f} s"
        )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(run_backend("SQLite", url, files, args.repeat))
    if args.pg:
        name, url = pg_database(args.pg)
        try:
            asyncio.run(run_backend("PostgreSQL", url, files, args.repeat))
        finally:
            drop_pg_database(args.pg, name)
    else:
        print("PostgreSQL skipped (give --pg postgresql://user@host/postgres)")


if __name__ == "__main__":
    main()
