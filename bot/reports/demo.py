"""``studybot demo``: a fresh database with a realistic unit and months of simulated study.

A newcomer without a bot token sees what leaders get: the sample banks and plan are loaded
through the same import services as real files, then members (5 departments) "use" the bot
for ``days`` days — daily quizzes, reads of pushed materials, live rounds, in-person
sessions, topic discussions and reflections — written in bulk, and a report is produced.
The simulation is seeded, so the same arguments give the same figures.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import (
    Answer,
    Delivery,
    Department,
    Discussion,
    DiscussionParticipant,
    DiscussionReply,
    LedgerEntry,
    LiveQuestion,
    LiveRound,
    MaterialRead,
    Member,
    PlanItem,
    Question,
    QuizAttempt,
    Reflection,
    SessionCheckin,
    StudySession,
)
from bot.reports.rollups import invalidate_rollups

DEMO_DEPARTMENTS = ["办公室", "宣传科", "组织科", "业务一科", "业务二科"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉建国建华文志国庆海燕晓东晓红丹宇浩然欣怡子涵梓萱思远雨轩"
GROUP_CHAT = -1000000000001
REFLECTION = (
    "通过本阶段的学习，我对有关法律法规和纪律要求有了更系统的认识。一是进一步增强了保密意识，"
    "明白了保密工作无小事；二是结合岗位实际查找了自身在网络安全方面的薄弱环节；三是今后要把"
    "学习成果转化为工作实效，做到学以致用、知行合一。"
)
TOPICS = [
    "如何把学习成果转化为工作实效",
    "保密工作中的常见风险与防范",
    "新时代的作风建设",
    "宪法精神与依法履职",
]
REPLIES = [
    "结合本岗位实际，我认为要把学习成果落实到日常工作的每一个环节中。",
    "保密工作重在日常，要从规范使用办公设备做起，杜绝侥幸心理。",
    "要坚持问题导向，对照要求查找差距，制定整改措施并抓好落实。",
    "学习不能停留在表面，要深入思考，多交流多讨论，才能真正入脑入心。",
]


class DemoError(Exception):
    """The target database is not fresh, or the sample content is missing."""


@dataclass
class DemoSummary:
    members: int = 0
    departments: int = 0
    banks: list[str] = field(default_factory=list)
    plan_items: int = 0
    ledger_rows: int = 0
    answers: int = 0
    reads: int = 0
    sessions: int = 0
    discussions: int = 0
    reflections: int = 0
    live_rounds: int = 0
    warnings: list[str] = field(default_factory=list)


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        name = rng.choice(SURNAMES) + given
        if name not in used:
            used.add(name)
            return name


def _local(day: dt.date, hour: int, minute: int, tz: Any) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz).astimezone(dt.UTC)


async def _load_content(
    session: AsyncSession, config: Config, quizzes: Path, summary: DemoSummary
) -> None:
    from bot.banks.importer import import_bank
    from bot.banks.problems import BankError

    files = sorted(p for p in quizzes.glob("*") if p.suffix in (".yaml", ".yml", ".xlsx"))
    for path in files:
        if path.name == "study-plan.yaml" or path.name.startswith(("roster", "bank-template")):
            continue
        try:
            result = await import_bank(session, config, path.name, path.read_bytes())
        except BankError as exc:
            summary.warnings.append(f"{path.name}: skipped ({exc.problems[0]})")
            continue
        summary.banks.append(str(getattr(result, "slug", path.stem)))
    plan_path = quizzes / "study-plan.yaml"
    if plan_path.exists():
        from bot.materials.plan import PlanError, read_plan_file, store_plan

        try:
            plan = read_plan_file(plan_path, config)
            await store_plan(session, plan, source=plan_path.name)
        except PlanError as exc:
            summary.warnings.append(f"{plan_path.name}: skipped ({exc.problems[0]})")
    if not await session.scalar(select(func.count()).select_from(PlanItem)):
        for i, title in enumerate(["学习材料：保密法要点", "学习材料：网络安全常识"]):
            session.add(PlanItem(slug=f"demo-{i}", title=title, body=title, when="0 9 * * *"))
    await session.flush()


async def build_demo(
    session: AsyncSession,
    config: Config,
    *,
    members: int = 60,
    days: int = 90,
    quizzes: Path,
    today: dt.date | None = None,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Fill a fresh database; raises DemoError if it already has members."""
    step = progress or (lambda _label: None)
    if await session.scalar(select(func.count()).select_from(Member)):
        raise DemoError("the database already has members; the demo needs a fresh database")
    if not quizzes.is_dir():
        raise DemoError(f"sample content folder {quizzes} not found (use --quizzes DIR)")
    tz = config.tz
    rng = random.Random(seed)
    today = today or dt.datetime.now(tz).date()
    start = today - dt.timedelta(days=days - 1)
    summary = DemoSummary()

    step("departments and roster")
    names = config.departments if len(config.departments) >= 5 else DEMO_DEPARTMENTS
    dept_ids = []
    for order, name in enumerate(names):
        found = await session.scalar(select(Department).where(Department.name == name))
        if found is None:
            found = Department(name=name, sort_order=order)
            session.add(found)
            await session.flush()
        dept_ids.append(found.id)
    summary.departments = len(dept_ids)
    used: set[str] = set()
    people = []
    for i in range(members):
        dept = dept_ids[i % len(dept_ids)]
        # Bound members have a Telegram id; about one in ten never bound the account.
        bound = rng.random() > 0.1
        people.append(
            {
                "name": _name(rng, used),
                "department_id": dept,
                "telegram_id": 900000000 + i if bound else None,
                "employee_no": f"D{i + 1:04d}",
                "on_roster": True,
                "active": True,
                "created_at": _local(start, 8, 0, tz),
                "bound_at": _local(start, 9, 0, tz) if bound else None,
            }
        )
    await session.execute(insert(Member), people)
    member_rows = list(await session.execute(select(Member.id, Member.telegram_id)))
    summary.members = len(member_rows)
    # Engagement: a few never take part, most take part often, some now and then.
    profile = {}
    for member_id, telegram_id in member_rows:
        roll = rng.random()
        activity = 0.0 if telegram_id is None or roll < 0.05 else (0.35 if roll < 0.3 else 0.8)
        profile[member_id] = (activity, rng.uniform(0.6, 0.95))

    step("banks and plan")
    await _load_content(session, config, quizzes, summary)
    questions = list(
        await session.execute(
            select(Question.id, Question.current_version_id).where(Question.retired.is_(False))
        )
    )
    if not questions:
        raise DemoError(f"no question bank could be imported from {quizzes}")
    hard = {qid for qid, _v in rng.sample(questions, min(10, len(questions)))}
    items = list(await session.execute(select(PlanItem.id, PlanItem.points)))
    summary.plan_items = len(items)
    bank_id = await session.scalar(select(Question.bank_id).limit(1))

    ledger: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    reads: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []

    def award(member_id: int, points: int, kind: str, ref: str, when: dt.datetime) -> None:
        if points:
            ledger.append(
                {
                    "member_id": member_id,
                    "delta": points,
                    "kind": kind,
                    "reference": ref,
                    "local_day": when.astimezone(tz).date(),
                    "created_at": when,
                }
            )

    def correct_for(member_id: int, qid: int) -> bool:
        skill = profile[member_id][1] - (0.35 if qid in hard else 0.0)
        return rng.random() < skill

    step("daily activity")
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        workday = day.weekday() < 5
        item_id, item_points = items[offset % len(items)]
        occurrence = _local(day, 8, 30, tz)
        if workday:
            deliveries.append({"plan_item_id": item_id, "occurrence": occurrence,
                               "chat_id": GROUP_CHAT, "member_id": None, "status": "sent", "sent_at": occurrence,
                               "claimed_at": occurrence, "attempts": 1})  # fmt: skip
        for member_id, telegram_id in member_rows:
            activity, _skill = profile[member_id]
            if rng.random() > activity * (1.0 if workday else 0.4):
                continue
            first = _local(day, rng.randint(7, 21), rng.randint(0, 59), tz)
            award(member_id, 1, "checkin", day.isoformat(), first)
            if workday and telegram_id is not None:
                deliveries.append({"plan_item_id": item_id, "occurrence": occurrence,
                                   "chat_id": telegram_id, "member_id": member_id,
                                   "status": "sent", "sent_at": occurrence,
                                   "claimed_at": occurrence, "attempts": 1})  # fmt: skip
                if rng.random() < 0.85:
                    reads.append({"member_id": member_id, "plan_item_id": item_id,
                                  "occurrence": occurrence, "read_at": first})  # fmt: skip
                    award(member_id, item_points, "material", f"{item_id}:{day}", first)
            if rng.random() < 0.9:
                asked = rng.sample(questions, min(5, len(questions)))
                right = 0
                for n, (qid, version) in enumerate(asked):
                    ok = correct_for(member_id, qid)
                    right += ok
                    answers.append({"member_id": member_id, "question_id": qid,
                                    "question_version_id": version, "mode": "daily",
                                    "live_question_id": None,
                                    "given": [], "correct": ok, "points": int(ok),
                                    "answered_at": first + dt.timedelta(seconds=20 * (n + 1))})  # fmt: skip
                done = first + dt.timedelta(minutes=3)
                attempts.append({"member_id": member_id, "mode": "daily", "bank_id": bank_id,
                                 "period_key": day.isoformat(), "status": "finished",
                                 "total": len(asked), "correct_count": right, "points": right,
                                 "created_at": first, "finished_at": done,
                                 "current_position": len(asked)})  # fmt: skip
                award(member_id, min(right, 5), "daily_quiz", day.isoformat(), done)
    summary.reads = len(reads)

    step("sessions, discussions, live rounds, reflections")
    weeks = max(1, days // 7)
    for week in range(weeks):
        monday = start + dt.timedelta(days=7 * week - start.weekday() + 7)
        if monday > today:
            break
        if week % 2 == 0:
            kind = "集中学习" if week % 4 == 0 else "专题研讨"
            opened = _local(monday + dt.timedelta(days=2), 15, 0, tz)
            study = StudySession(code=f"demo{week}", title=f"{kind}（第{week // 2 + 1}次）",
                                 kind=kind, audience=[], opened_at=opened,
                                 closes_at=opened + dt.timedelta(hours=2),
                                 closed_at=opened + dt.timedelta(hours=2))  # fmt: skip
            session.add(study)
            await session.flush()
            summary.sessions += 1
            for member_id, _t in member_rows:
                if rng.random() < 0.5 + 0.5 * profile[member_id][0]:
                    when = opened + dt.timedelta(minutes=rng.randint(0, 20))
                    session.add(SessionCheckin(session_id=study.id, member_id=member_id,
                                               via="button", checked_in_at=when))  # fmt: skip
                    award(member_id, 2, "session", f"session:{study.id}", when)
            # A live round in the group the same week.
            started = _local(monday + dt.timedelta(days=3), 16, 0, tz)
            live = LiveRound(chat_id=GROUP_CHAT, bank_id=bank_id, n_questions=5, seconds=30,
                             status="finished", created_at=started,
                             finished_at=started + dt.timedelta(minutes=5))  # fmt: skip
            session.add(live)
            await session.flush()
            summary.live_rounds += 1
            players = [m for m, _t in member_rows if rng.random() < profile[m][0] * 0.6]
            for position, (qid, version) in enumerate(rng.sample(questions, 5)):
                lq = LiveQuestion(round_id=live.id, position=position,
                                  question_version_id=version, closed=True,
                                  sent_at=started + dt.timedelta(minutes=position))  # fmt: skip
                session.add(lq)
                await session.flush()
                for member_id in players:
                    ok = correct_for(member_id, qid)
                    when = started + dt.timedelta(minutes=position, seconds=rng.randint(3, 29))
                    answers.append({"member_id": member_id, "question_id": qid,
                                    "question_version_id": version, "live_question_id": lq.id,
                                    "mode": "live", "given": [], "correct": ok,
                                    "points": 2 if ok else 0, "answered_at": when})  # fmt: skip
                    award(member_id, 2 if ok else 0, "live_quiz", f"{lq.id}", when)
        if week % 3 == 1:
            opened = _local(monday + dt.timedelta(days=1), 10, 0, tz)
            topic = Discussion(chat_id=GROUP_CHAT, message_id=10000 + week,
                               title=TOPICS[week % len(TOPICS)], opened_at=opened,
                               closes_at=opened + dt.timedelta(hours=48),
                               closed_at=opened + dt.timedelta(hours=48))  # fmt: skip
            session.add(topic)
            await session.flush()
            summary.discussions += 1
            for n, (member_id, _t) in enumerate(member_rows):
                if rng.random() < profile[member_id][0] * 0.5:
                    when = opened + dt.timedelta(minutes=rng.randint(5, 600))
                    reply = DiscussionReply(discussion_id=topic.id, member_id=member_id,
                                            message_id=20000 + 100 * week + n,
                                            text=rng.choice(REPLIES), counts=True,
                                            created_at=when)  # fmt: skip
                    session.add(reply)
                    await session.flush()
                    session.add(DiscussionParticipant(discussion_id=topic.id,
                                                      member_id=member_id, reply_id=reply.id,
                                                      counted_at=when))  # fmt: skip
                    award(member_id, 1, "discussion", f"topic:{topic.id}", when)
        if week % 4 == 3:
            for n, (member_id, _t) in enumerate(member_rows):
                if rng.random() < profile[member_id][0] * 0.4:
                    when = _local(monday + dt.timedelta(days=4), 20, rng.randint(0, 59), tz)
                    session.add(Reflection(member_id=member_id, message_id=30000 + week * 1000 + n,
                                           text=REFLECTION, created_at=when))  # fmt: skip
                    summary.reflections += 1
                    award(member_id, 2, "reflection", f"week:{week}", when)
    await session.flush()

    step("writing activity")
    for model, rows in (
        (Delivery, deliveries),
        (MaterialRead, reads),
        (QuizAttempt, attempts),
        (Answer, answers),
        (LedgerEntry, ledger),
    ):
        for i in range(0, len(rows), 5000):
            await session.execute(insert(model), rows[i : i + 5000])
    # Past days were written in bulk: rolled-up months among them must be summed again.
    await invalidate_rollups(session, start, today)
    summary.ledger_rows = len(ledger)
    summary.answers = len(answers)
    return summary
