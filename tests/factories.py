"""Rows for tests, written through the ORM (the same tables the services use)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Bank, Department, Member, Question, QuestionVersion


async def department(session: AsyncSession, name: str) -> Department:
    found = await session.scalar(select(Department).where(Department.name == name))
    if found is not None:
        return found
    dept = Department(name=name)
    session.add(dept)
    await session.flush()
    return dept


async def member(
    session: AsyncSession,
    name: str,
    *,
    dept: str | None = "办公室",
    telegram_id: int | None = None,
    username: str | None = None,
    on_roster: bool = True,
    **extra: Any,
) -> Member:
    dept_row = await department(session, dept) if dept else None
    row = Member(
        name=name,
        department_id=dept_row.id if dept_row else None,
        telegram_id=telegram_id,
        username=username,
        on_roster=on_roster,
        **extra,
    )
    session.add(row)
    await session.flush()
    return row


def q(
    qid: str,
    type_: str,
    text: str,
    answer: Sequence[Any],
    options: Sequence[str] = (),
    explanation: str | None = None,
) -> dict[str, Any]:
    """A question in stored form: answer letters / [True|False] / blank variants."""
    return {
        "qid": qid,
        "type": type_,
        "text": text,
        "options": list(options),
        "answer": list(answer),
        "explanation": explanation,
    }


SAMPLE_QUESTIONS = [
    q(
        "s1",
        "single",
        "国家秘密的密级分为几级？",
        ["B"],
        ["两级", "三级", "四级", "五级"],
        "绝密、机密、秘密三级。",
    ),
    q("s2", "single", "火警电话是？", ["C"], ["110", "120", "119", "122"], "火警119。"),
    q(
        "m1",
        "multiple",
        "下列属于国家秘密密级的有？",
        ["A", "B", "D"],
        ["绝密", "机密", "内部", "秘密"],
        "内部不是密级。",
    ),
    q("j1", "judge", "国家宪法日是12月4日。", [True], (), "2014年设立。"),
    q("j2", "judge", "涉密计算机可以连接互联网。", [False], (), "严禁。"),
    q("b1", "blank", "我国现行宪法于____年通过。", ["1982", "1982年"], (), "1982年12月4日。"),
]


async def bank(
    session: AsyncSession,
    slug: str = "sample",
    title: str = "样例题库",
    questions: Sequence[dict[str, Any]] = SAMPLE_QUESTIONS,
    **extra: Any,
) -> Bank:
    row = Bank(slug=slug, title=title, **extra)
    session.add(row)
    await session.flush()
    for position, item in enumerate(questions):
        question = Question(bank_id=row.id, qid=item["qid"], position=position)
        session.add(question)
        await session.flush()
        content = {k: item.get(k) for k in ("type", "text", "options", "answer", "explanation")}
        version = QuestionVersion(
            question_id=question.id,
            version=1,
            type=item["type"],
            text=item["text"],
            options=item.get("options") or [],
            answer=item["answer"],
            explanation=item.get("explanation"),
            difficulty=item.get("difficulty"),
            tags=item.get("tags") or [],
            content_hash=hashlib.sha256(
                json.dumps(content, ensure_ascii=False, sort_keys=True).encode()
            ).hexdigest(),
        )
        session.add(version)
        await session.flush()
        question.current_version_id = version.id
    await session.flush()
    return row
