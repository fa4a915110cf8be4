"""Invariants of the points competition that must hold after any traffic, crash or replay.

``check_invariants(url)`` returns the violations found (an empty list when all hold);
``assert_invariants(url)`` fails a test with all of them at once. Any test that drives the bot
(fault, fuzz, scale-out, benchmarks) can call them on its database:

- no Telegram account is bound to two members;
- every ledger row is of a known kind, and (member, kind, reference) is unique;
- every award resolves to its source, for the same member: a check-in to its day, a streak
  bonus to the check-ins of the streak, quiz points to the answer (with the same points), live
  quiz points to an answer in that round, a read to the material read, a session to the
  check-in, a discussion to the participation, a reflection to the reflection, an adjustment
  to its audit entry;
- what /me shows (today, season, total) equals the ledger's own sums for every member.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import json
from typing import Any

from tests import dbutil

__all__ = ["assert_invariants", "check_invariants"]


def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    return dbutil.query(url, sql, **params)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _int_after(prefix: str, reference: str) -> int | None:
    if not reference.startswith(prefix):
        return None
    head = reference[len(prefix) :].split(":", 1)[0]
    return int(head) if head.isdigit() else None


def _source_checks(url: str, streak_days: int) -> list[str]:
    problems: list[str] = []
    ledger = _rows(
        url, "SELECT id, member_id, kind, reference, delta, local_day FROM points_ledger"
    )
    answers_by_aq = {
        int(r[0]): (int(r[1]), int(r[2]))
        for r in _rows(
            url,
            "SELECT attempt_question_id, member_id, points FROM answers "
            "WHERE attempt_question_id IS NOT NULL",
        )
    }
    live_answers = {
        (int(r[0]), int(r[1]))
        for r in _rows(
            url,
            "SELECT lq.round_id, a.member_id FROM answers a "
            "JOIN live_questions lq ON lq.id = a.live_question_id",
        )
    }
    reads = {
        (int(r[0]), int(r[1]))
        for r in _rows(url, "SELECT plan_item_id, member_id FROM material_reads")
    }
    checkins = {
        (int(r[0]), int(r[1]))
        for r in _rows(url, "SELECT session_id, member_id FROM session_checkins")
    }
    participants = {
        (int(r[0]), int(r[1]))
        for r in _rows(url, "SELECT discussion_id, member_id FROM discussion_participants")
    }
    reflections = {
        (int(r[0]), int(r[1])) for r in _rows(url, "SELECT id, member_id FROM reflections")
    }
    adjust_audits: collections.Counter[tuple[int, int]] = collections.Counter()
    for (detail,) in _rows(url, "SELECT detail FROM audit_log WHERE action = 'points.adjust'"):
        data = json.loads(detail) if isinstance(detail, str) else (detail or {})
        adjust_audits[(int(data.get("member_id", 0)), int(data.get("delta", 0)))] += 1
    checkin_days: dict[int, set[dt.date]] = collections.defaultdict(set)
    for row in ledger:
        if row[2] == "checkin":
            checkin_days[int(row[1])].add(_as_date(row[5]))

    adjusts_seen: collections.Counter[tuple[int, int]] = collections.Counter()
    for ledger_id, member_id, kind, reference, delta, local_day in ledger:
        member_id = int(member_id)
        where = f"ledger row {ledger_id} ({kind} {reference!r}, member {member_id}, {delta:+d})"
        if kind == "checkin":
            if reference != _as_date(local_day).isoformat():
                problems.append(f"{where}: a check-in for another day than its own")
        elif kind == "streak_bonus":
            try:
                start = dt.date.fromisoformat(reference)
            except ValueError:
                problems.append(f"{where}: the streak start is not a date")
                continue
            needed = {start + dt.timedelta(days=i) for i in range(streak_days)}
            if not needed <= checkin_days[member_id]:
                problems.append(f"{where}: no {streak_days}-day run of check-ins from {start}")
        elif kind in ("daily_quiz", "weekly_quiz", "special_quiz", "challenge", "review"):
            aq = _int_after("aq:", reference)
            source = answers_by_aq.get(aq) if aq is not None else None
            if source is None:
                problems.append(f"{where}: no answer to attempt question {reference}")
            elif source[0] != member_id:
                problems.append(f"{where}: the answer belongs to member {source[0]}")
            elif source[1] != delta:
                problems.append(f"{where}: the answer records {source[1]} points")
        elif kind == "live_quiz":
            rnd = _int_after("round:", reference)
            if rnd is None or (rnd, member_id) not in live_answers:
                problems.append(f"{where}: no answer of this member in live round {reference}")
        elif kind == "material":
            item = _int_after("read:", reference)
            if item is None or (item, member_id) not in reads:
                problems.append(f"{where}: no recorded read of plan item {reference}")
        elif kind == "session":
            session = _int_after("session:", reference)
            if session is None or (session, member_id) not in checkins:
                problems.append(f"{where}: no check-in at study session {reference}")
        elif kind == "discussion":
            topic = _int_after("", reference)
            if topic is None or (topic, member_id) not in participants:
                problems.append(f"{where}: not a counted participant of discussion {reference}")
        elif kind == "reflection":
            note = _int_after("", reference)
            if note is None or (note, member_id) not in reflections:
                problems.append(f"{where}: no reflection {reference} by this member")
        elif kind == "adjust":
            adjusts_seen[(member_id, int(delta))] += 1
        else:
            problems.append(f"{where}: unknown ledger kind")
    for key, count in adjusts_seen.items():
        if adjust_audits[key] < count:
            problems.append(
                f"member {key[0]}: {count} adjustment(s) of {key[1]:+d} but "
                f"{adjust_audits[key]} audit entr(ies)"
            )
    # Points an answer records must have reached the ledger (capped answers record 0).
    awarded = {r[3] for r in ledger if str(r[3]).startswith("aq:")}
    for aq, (member_id, points) in answers_by_aq.items():
        if points and f"aq:{aq}" not in awarded:
            problems.append(
                f"answer to attempt question {aq} (member {member_id}) records {points} "
                "points that are not in the ledger"
            )
    return problems


def _overview_totals(url: str, config: Any, member_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """(today, season, total) as /me computes them, through the application's own code."""
    from bot.db.engine import create_engine, create_session_factory
    from bot.quiz.overview import member_overview

    async def run() -> dict[int, tuple[int, ...]]:
        engine = create_engine(dbutil.async_url(url))
        try:
            factory = create_session_factory(engine)
            out: dict[int, tuple[int, ...]] = {}
            async with factory() as session:
                for member_id in member_ids:
                    view = await member_overview(session, config, member_id)
                    out[member_id] = (view.today_points, view.season_points, view.total_points)
            return out
        finally:
            await engine.dispose()

    # A thread of its own: callers may be sync tests or async ones with a running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def _total_checks(url: str, config: Any) -> list[str]:
    from bot.core.periods import parse_period
    from bot.db.types import utcnow

    problems: list[str] = []
    today = utcnow().astimezone(config.tz).date()
    seasons = [(s.name, s.from_, s.to) for s in config.points.seasons]
    season = parse_period("season", today, seasons=seasons)
    sums: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for member_id, delta, local_day in _rows(
        url, "SELECT member_id, delta, local_day FROM points_ledger"
    ):
        day = _as_date(local_day)
        entry = sums[int(member_id)]
        entry[2] += int(delta)
        if day == today:
            entry[0] += int(delta)
        if season.start <= day <= season.end:
            entry[1] += int(delta)
    member_ids = [int(r[0]) for r in _rows(url, "SELECT id FROM members ORDER BY id")]
    shown = _overview_totals(url, config, member_ids)
    for member_id in member_ids:
        expected = tuple(sums.get(member_id, [0, 0, 0]))
        if shown[member_id] != expected:
            problems.append(
                f"member {member_id}: /me shows today/season/total {shown[member_id]}, "
                f"the ledger sums to {expected}"
            )
    return problems


def check_invariants(url: str, config: Any = None, *, streak_days: int | None = None) -> list[str]:
    """Every violated invariant, as one line each; [] when the database is consistent."""
    if config is None:
        from bot.config import Config

        config = Config.model_validate({"database": {"url": dbutil.async_url(url)}})
    days = streak_days if streak_days is not None else config.points.streak_bonus.days
    problems: list[str] = []
    for telegram_id, count in _rows(
        url,
        "SELECT telegram_id, count(*) FROM members WHERE telegram_id IS NOT NULL "
        "GROUP BY telegram_id HAVING count(*) > 1",
    ):
        problems.append(f"telegram account {telegram_id} is bound to {count} members")
    for member_id, kind, reference, count in _rows(
        url,
        "SELECT member_id, kind, reference, count(*) FROM points_ledger "
        "GROUP BY member_id, kind, reference HAVING count(*) > 1",
    ):
        problems.append(f"member {member_id}: {count} ledger rows for {kind} {reference!r}")
    problems += _source_checks(url, days)
    problems += _total_checks(url, config)
    return problems


def assert_invariants(url: str, config: Any = None, *, streak_days: int | None = None) -> None:
    problems = check_invariants(url, config, streak_days=streak_days)
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  …and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise AssertionError(f"{len(problems)} invariant violation(s):\n  {shown}{more}")
