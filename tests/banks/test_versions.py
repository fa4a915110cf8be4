"""Re-imports: changed questions get a new version, new ones are added, missing ones retired,
answers keep pointing at the version that was asked, and the same file writes nothing."""

from __future__ import annotations

import copy
import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import Answer, AttemptQuestion, QuizAttempt
from tests import dbutil, factories
from tests.banks.helpers import (
    QUIZZES,
    SAMPLE_BANKS,
    ZH_HEADER,
    good_questions,
    good_rows,
    run_import,
    snapshot,
    xlsx_bytes,
    yaml_bank,
)


def versions(url: str, qid: str) -> list[tuple[int, int, str]]:
    return [
        tuple(r)
        for r in dbutil.query(
            url,
            "SELECT v.id, v.version, v.text FROM question_versions v "
            "JOIN questions q ON q.id = v.question_id WHERE q.qid = :qid ORDER BY v.version",
            qid=qid,
        )
    ]


def question(url: str, qid: str) -> tuple[int, int, bool, int]:
    row = dbutil.query(
        url,
        "SELECT id, current_version_id, retired, position FROM questions WHERE qid = :qid",
        qid=qid,
    )[0]
    return row[0], row[1], bool(row[2]), row[3]


async def answer_version_one(db: async_sessionmaker[AsyncSession], url: str, qid: str) -> int:
    """A member answered ``qid`` as it is now; returns the answer's id."""
    question_id, version_id, _retired, _pos = question(url, qid)
    async with db.begin() as session:
        member = await factories.member(session, "李雷", telegram_id=501)
        attempt = QuizAttempt(member_id=member.id, mode="daily", period_key="2026-11-26")
        session.add(attempt)
        await session.flush()
        asked = AttemptQuestion(attempt_id=attempt.id, position=0, question_version_id=version_id)
        session.add(asked)
        await session.flush()
        answer = Answer(
            member_id=member.id,
            question_id=question_id,
            question_version_id=version_id,
            attempt_question_id=asked.id,
            mode="daily",
            given=["A"],
            correct=True,
        )
        session.add(answer)
        await session.flush()
        return answer.id


async def test_first_import_adds_everything(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    summary = await run_import(db, config, "demo.yaml", yaml_bank(), actor_telegram_id=42)
    assert (summary.added, summary.updated, summary.retired, summary.unchanged) == (4, 0, 0, 0)
    assert summary.new_bank
    rows = dbutil.query(
        database_url,
        "SELECT q.qid, q.position, v.version, v.type, v.answer FROM questions q "
        "JOIN question_versions v ON v.id = q.current_version_id ORDER BY q.position",
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("q1", 0, 1, "single"),
        ("q2", 1, 1, "multiple"),
        ("q3", 2, 1, "judge"),
        ("q4", 3, 1, "blank"),
    ]
    audit = dbutil.query(database_url, "SELECT actor_telegram_id, action FROM audit_log")
    assert [tuple(r) for r in audit] == [(42, "bank.import")]


async def test_reimport_updates_adds_and_retires_and_keeps_history(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    await run_import(db, config, "demo.yaml", yaml_bank())
    answer_id = await answer_version_one(db, database_url, "q1")
    q1_id, v1_id, _, _ = question(database_url, "q1")
    q3_id, q3_version, _, _ = question(database_url, "q3")

    questions = good_questions()
    questions[0]["text"] = "国家秘密的密级分为哪几级？"
    del questions[2]  # q3 leaves the bank
    questions.append({"id": "q5", "type": "judge", "text": "涉密计算机可以上网。", "answer": "错"})
    summary = await run_import(db, config, "demo.yaml", yaml_bank(questions))

    assert (summary.added, summary.updated, summary.retired, summary.unchanged) == (1, 1, 1, 2)
    assert not summary.new_bank
    assert [(v[1], v[2]) for v in versions(database_url, "q1")] == [
        (1, "国家秘密的密级分为（ ）。"),
        (2, "国家秘密的密级分为哪几级？"),
    ]
    same_id, current, retired, _ = question(database_url, "q1")
    assert same_id == q1_id and current != v1_id and not retired
    assert current == versions(database_url, "q1")[1][0]
    # The answer still refers to the version that was asked.
    assert (
        dbutil.scalar(
            database_url, "SELECT question_version_id FROM answers WHERE id = :id", id=answer_id
        )
        == v1_id
    )
    assert (
        dbutil.scalar(
            database_url,
            "SELECT question_version_id FROM attempt_questions",
        )
        == v1_id
    )
    # q3 is retired, not deleted, and keeps its version.
    assert question(database_url, "q3") == (q3_id, q3_version, True, 2)
    assert question(database_url, "q5")[2] is False
    assert dbutil.scalar(database_url, "SELECT count(*) FROM question_versions") == 6


async def test_the_same_file_twice_writes_nothing(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    for name in SAMPLE_BANKS:
        await run_import(db, config, name, (QUIZZES / name).read_bytes())
    before = snapshot(database_url)
    for name in SAMPLE_BANKS:
        summary = await run_import(db, config, name, (QUIZZES / name).read_bytes())
        assert not summary.changed and not summary.new_bank
        assert summary.added == summary.updated == summary.retired == 0
        assert "is unchanged" in summary.render() and "nothing was written" in summary.render()
    assert snapshot(database_url) == before


async def test_equivalent_spellings_are_unchanged(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    await run_import(db, config, "demo.yaml", yaml_bank())
    before = snapshot(database_url)
    questions = copy.deepcopy(good_questions())
    questions[0]["text"] = "  " + questions[0]["text"] + "\n"
    questions[1]["answer"] = ["D", "B", "A"]
    questions[2]["answer"] = "对"
    questions[3]["answer"] = ["12月4日", "12月4号", "12月4日"]
    summary = await run_import(db, config, "demo.yaml", yaml_bank(questions))
    assert not summary.changed
    # The same bank as a sheet is the same content too.
    sheet = xlsx_bytes([["bank", "demo"], ["title", "演示题库"], ZH_HEADER, *good_rows()])
    assert not (await run_import(db, config, "demo.xlsx", sheet)).changed
    assert snapshot(database_url) == before


async def test_a_retired_question_comes_back(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    await run_import(db, config, "demo.yaml", yaml_bank())
    await run_import(db, config, "demo.yaml", yaml_bank(good_questions()[:3]))
    assert question(database_url, "q4")[2] is True
    _id, first_version, _retired, _pos = question(database_url, "q4")
    summary = await run_import(db, config, "demo.yaml", yaml_bank())
    assert (summary.added, summary.updated, summary.retired, summary.unchanged) == (1, 0, 0, 3)
    # Same content: the question is live again with the version it had.
    assert question(database_url, "q4")[1:3] == (first_version, False)
    assert [v[1] for v in versions(database_url, "q4")] == [1]

    # Retired again, then back with new content: a new version.
    await run_import(db, config, "demo.yaml", yaml_bank(good_questions()[:3]))
    questions = good_questions()
    questions[3]["answer"] = ["12月4日"]
    summary = await run_import(db, config, "demo.yaml", yaml_bank(questions))
    assert (summary.added, summary.updated, summary.retired, summary.unchanged) == (1, 0, 0, 3)
    _id, current, retired, _pos = question(database_url, "q4")
    assert not retired
    assert [v[1] for v in versions(database_url, "q4")] == [1, 2]
    assert current == versions(database_url, "q4")[1][0]


async def test_reordering_and_bank_details(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    await run_import(db, config, "demo.yaml", yaml_bank())
    summary = await run_import(
        db, config, "demo.yaml", yaml_bank(list(reversed(good_questions())), tags=["新标签"])
    )
    assert summary.changed and summary.details_changed
    assert summary.unchanged == 4 and summary.reordered == 4
    assert "Question order updated." in summary.render()
    assert question(database_url, "q4")[3] == 0
    assert dbutil.scalar(database_url, "SELECT count(*) FROM question_versions") == 4
    tags = dbutil.scalar(database_url, "SELECT tags FROM banks")
    assert (json.loads(tags) if isinstance(tags, str) else tags) == ["新标签"]


async def test_campaign_is_stored(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    await run_import(
        db, config, "cyber-security.yaml", (QUIZZES / "cyber-security.yaml").read_bytes()
    )
    row = dbutil.query(
        database_url,
        "SELECT campaign_title, campaign_from, campaign_to, campaign_questions, source_name FROM banks",
    )[0]
    assert row[0] == "保密与网络安全宣传月专项答题"
    assert str(row[1]) == "2026-11-01" and str(row[2]) == "2026-12-31"
    assert (row[3], row[4]) == (10, "cyber-security.yaml")


async def test_progress_is_reported(db: async_sessionmaker[AsyncSession], config: Config) -> None:
    calls: list[tuple[str, int, int]] = []
    questions = [
        {"id": f"j{n}", "type": "judge", "text": f"第{n}题", "answer": n % 2 == 0}
        for n in range(1200)
    ]
    await run_import(
        db, config, "big.yaml", yaml_bank(questions), progress=lambda *a: calls.append(a)
    )
    stages = {stage for stage, _done, _total in calls}
    assert stages == {"check", "write"}
    assert ("check", 1200, 1200) in calls and ("write", 1200, 1200) in calls


async def test_the_template_imports_its_example_and_stays_out_of_draws(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    content = (QUIZZES / "bank-template.xlsx").read_bytes()
    summary = await run_import(db, config, "bank-template.xlsx", content)
    assert (summary.added, summary.new_bank) == (1, True)
    assert summary.render().endswith(
        "This is the bank template: it is kept out of daily and weekly quizzes. To make a bank, "
        "copy the file, name it after your bank (e.g. fire-safety.xlsx), rename the first sheet "
        "to the bank's title and replace the example row."
    )
    assert not dbutil.scalar(database_url, "SELECT active FROM banks WHERE slug = 'bank-template'")
    # A bank made from it by renaming the file is an ordinary, active bank.
    await run_import(db, config, "fire-drill.xlsx", content)
    assert dbutil.scalar(database_url, "SELECT active FROM banks WHERE slug = 'fire-drill'")


async def test_every_kind_of_change_in_one_import(
    db: async_sessionmaker[AsyncSession], config: Config, database_url: str
) -> None:
    questions = good_questions()
    await run_import(db, config, "demo.yaml", yaml_bank(questions))
    await run_import(db, config, "demo.yaml", yaml_bank(questions[:3]))  # q4 retired
    q1, q2, _q3, q4 = (dict(q) for q in questions)
    q2["text"] = "下列哪些属于敏感个人信息？"  # updated, and moves
    q5 = {"id": "q5", "type": "judge", "text": "新题。", "answer": "对"}
    summary = await run_import(db, config, "demo.yaml", yaml_bank([q4, q5, q2, q1]))
    # q4 restored, q5 added, q2 updated, q1 moved, q3 retired
    assert (summary.added, summary.updated, summary.retired, summary.unchanged) == (2, 1, 1, 1)
    assert summary.reordered == 1
    state = {qid: question(database_url, qid)[2:] for qid in ("q1", "q2", "q3", "q4", "q5")}
    assert state == {
        "q4": (False, 0),
        "q5": (False, 1),
        "q2": (False, 2),
        "q1": (False, 3),
        "q3": (True, 2),
    }
    assert [v[1] for v in versions(database_url, "q2")] == [1, 2]
    live = dbutil.query(
        database_url,
        "SELECT q.qid FROM questions q JOIN question_versions v ON v.id = q.current_version_id "
        "WHERE NOT q.retired ORDER BY q.position",
    )
    assert [r[0] for r in live] == ["q4", "q5", "q2", "q1"]
