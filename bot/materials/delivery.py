"""Pushing study items on time, to the right chats, exactly once.

The schedule is recomputed from ``plan_items`` on every tick: the tick asks which
occurrences fell between the last completed check (a watermark in ``claims``) and now, so
neither a restart nor a second replica depends on a timer's memory.

For each due occurrence:

1. One replica takes a lease on it (a ``claims`` row, taken over only once stale), so two
   replicas do not both pace a broadcast at the full rate; the lease is marked done at the end.
2. Every chat of the audience gets a ``deliveries`` row *before* the message is sent
   (``INSERT … ON CONFLICT DO NOTHING``): a chat already claimed, by this run, an earlier run or
   another replica, is never sent to again. The row is marked sent (or unreachable, failed)
   afterwards. A crash between the claim and the mark loses at most one small batch; it never
   sends twice.
3. An occurrence found more than ``schedule.misfire_grace`` late (the bot was down) is not
   sent: its rows are recorded as ``missed``. Start-up looks back at most seven days.

Sends are paced evenly just under ``telegram.rate_limit.overall_per_second`` (the PTB rate
limiter underneath still guards every request), members who blocked the bot are marked
unreachable and skipped from then on, a migrated group is followed to its new id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.db.models import Chat, Claim, Delivery, Department, Member, PlanItem
from bot.db.types import utcnow
from bot.db.upsert import dialect_insert, insert_or_ignore
from bot.i18n import resolve_locale, translator
from bot.materials.occurrences import Schedule, ScheduleError, occurrences_between, parse_when
from bot.materials.render import item_keyboard, item_text, occurrence_key
from bot.sending import ChatMigrated, ChatNotFound, RecipientUnreachable, Sender, SendError

log = logging.getLogger("studybot.materials")

WATERMARK_KEY = "materials:watermark"
DONE = "done"
LEASE = dt.timedelta(seconds=90)
MAX_CATCH_UP = dt.timedelta(days=7)
BATCH = 50  # chats claimed per transaction
IN_FLIGHT = 8  # concurrent requests of one broadcast (what a stall can release at once)
HEADROOM = 0.95  # pace at 95% of the configured limit so the limiter never has to hold back


def instance_name() -> str:
    """Who claims work: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ItemView:
    """A plan item as the scheduler needs it (detached from the ORM session)."""

    id: int
    slug: str
    title: str
    body: str
    url: str | None
    file: str | None
    when: str
    audience: list[str | int]
    points: int
    quiz_bank: str | None
    quiz_questions: int | None
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: PlanItem) -> ItemView:
        return cls(
            row.id,
            row.slug,
            row.title,
            row.body or "",
            row.url,
            row.file,
            row.when,
            list(row.audience or ["all"]),
            row.points,
            row.quiz_bank,
            row.quiz_questions,
            row.updated_at,
        )

    def schedule(self, config: Config) -> Schedule | None:
        try:
            return parse_when(self.when, config.tz)
        except ScheduleError:
            log.error("plan item %s: unusable schedule %r", self.slug, self.when)
            return None


@dataclass(frozen=True)
class Target:
    chat_id: int
    member_id: int | None
    locale: str


@dataclass
class Outcome:
    delivery_id: int
    status: str  # sent | unreachable | failed
    message_id: int | None = None
    error: str | None = None
    new_chat_id: int | None = None
    member_id: int | None = None


@dataclass
class PushReport:
    """What one occurrence came to (for logs and tests)."""

    slug: str
    occurrence: dt.datetime
    status: str  # sent | missed | busy | stopped | error
    total: int = 0
    sent: int = 0
    unreachable: int = 0
    failed: int = 0
    already: int = 0
    missed: int = 0
    seconds: float = 0.0


@dataclass
class TickReport:
    now: dt.datetime
    pushes: list[PushReport] = field(default_factory=list)


class Pacer:
    """Paces the requests of a broadcast for Telegram's flood control (messages per second).

    Two rules, both needed on a busy machine:

    - starts are evenly spaced at ``rate`` per second (a generic cell rate algorithm: each
      start may come at most a fifth of an interval early), so a task woken late does not let
      the following ones bunch up;
    - a request may start only while the requests that completed in the last second plus those
      still in flight stay under ``limit``. Whatever reached Telegram in its last second has
      either completed in that second or is still in flight, so this bounds what Telegram
      counts even when requests are held up below us (the PTB limiter stops everything after a
      429) and then arrive together.
    """

    TOLERANCE = 0.2  # of an interval

    def __init__(self, rate: float, limit: float | None = None) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.limit = int(limit if limit is not None else rate)
        self._due = 0.0  # when the next start is due (the "theoretical arrival time")
        self._completed: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a turn, then hold it while the request runs."""
        if not self.interval:
            yield
            return
        async with self._lock:
            now = time.monotonic()
            due = max(self._due, now)
            early = due - now - self.TOLERANCE * self.interval
            if early > 0:
                await asyncio.sleep(early)
            self._due = due + self.interval
            while True:
                now = time.monotonic()
                while self._completed and self._completed[0] <= now - 1.0:
                    self._completed.popleft()
                if len(self._completed) + self._in_flight < self.limit:
                    break
                wake = self._completed[0] + 1.0 - now if self._completed else self.interval
                await asyncio.sleep(min(max(wake, 0.002), self.interval))
            self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._completed.append(time.monotonic())


class _Document:
    """An item's attachment: uploaded once per broadcast, then sent by Telegram's file id."""

    def __init__(self, path: str | None, caption: str) -> None:
        self.path = Path(path) if path else None
        self.caption = caption
        self.data: bytes | None = None
        self.file_id: str | None = None
        self.lock = asyncio.Lock()

    async def load(self) -> None:
        if self.path is None:
            return
        try:
            self.data = await asyncio.to_thread(self.path.read_bytes)
        except OSError as exc:
            log.error("attachment %s cannot be read (%s); sending the text only", self.path, exc)

    @property
    def present(self) -> bool:
        return self.data is not None

    async def send(self, sender: Sender, chat_id: int) -> None:
        assert self.data is not None and self.path is not None
        if self.file_id is None:
            async with self.lock:
                if self.file_id is None:
                    sent = await sender.send_document(
                        chat_id, self.path.name, self.data, caption=self.caption
                    )
                    self.file_id = sent.file_id
                    return
        assert self.file_id is not None
        await sender.send_document_id(chat_id, self.file_id, caption=self.caption)


async def resolve_audience(
    session: AsyncSession, config: Config, audience: Sequence[str | int]
) -> list[Target]:
    """The chats an item goes to: bound, active, reachable members of ``all`` or of the
    listed departments (in private), and the listed groups (following migrations)."""
    targets: list[Target] = []
    seen: set[int] = set()
    groups = [a for a in audience if isinstance(a, int)]
    departments = [a for a in audience if isinstance(a, str) and a != "all"]
    for chat_id in groups:
        current = chat_id
        for _ in range(5):
            moved = await session.scalar(select(Chat.migrated_to).where(Chat.id == current))
            if moved is None:
                break
            current = moved
        if current not in seen:
            seen.add(current)
            targets.append(Target(current, None, config.locale))
    if "all" in audience or departments:
        query = (
            select(Member.id, Member.telegram_id, Member.language)
            .outerjoin(Department, Department.id == Member.department_id)
            .where(
                Member.active.is_(True),
                Member.telegram_id.is_not(None),
                Member.reachable.is_(True),
            )
            .order_by(Member.id)
        )
        if "all" not in audience:
            query = query.where(Department.name.in_(departments))
        for member_id, telegram_id, language in await session.execute(query):
            if telegram_id is None or telegram_id in seen:  # (NULL is filtered above)
                continue
            seen.add(telegram_id)
            targets.append(Target(telegram_id, member_id, resolve_locale(language, config.locale)))
    return targets


class MaterialScheduler:
    """Finds due occurrences and broadcasts them; one instance per process."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        config: Config,
        sender: Sender,
        *,
        instance: str | None = None,
        progress_every: float = 10.0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.db = db
        self.config = config
        self.sender = sender
        self.instance = instance or instance_name()
        self.progress_every = progress_every
        self.grace = dt.timedelta(seconds=config.schedule.misfire_grace)
        limit = config.telegram.rate_limit.overall_per_second
        self.pacer = Pacer(limit * HEADROOM, limit) if limit > 0 else Pacer(0)
        self._lock = asyncio.Lock()
        self._stopping = False
        self._should_stop = should_stop

    def stop(self) -> None:
        """Finish the batch in flight and claim nothing more (shutdown)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping or self._should_stop()

    @property
    def busy(self) -> bool:
        """A tick (possibly a long broadcast) is running in this process."""
        return self._lock.locked()

    # --- the tick ---------------------------------------------------------------------------

    async def tick(self, now: dt.datetime | None = None) -> TickReport:
        """Push everything due since the last completed tick (one tick at a time)."""
        async with self._lock:
            now = now or utcnow()
            report = TickReport(now)
            async with self.db() as session:
                watermark = await session.scalar(
                    select(Claim.claimed_at).where(Claim.key == WATERMARK_KEY)
                )
                items = [
                    ItemView.of(row)
                    for row in await session.scalars(
                        select(PlanItem).where(PlanItem.active.is_(True)).order_by(PlanItem.id)
                    )
                ]
            start = max(watermark or now - MAX_CATCH_UP, now - MAX_CATCH_UP)
            due: list[tuple[dt.datetime, ItemView]] = []
            for item in items:
                schedule = item.schedule(self.config)
                if schedule is None:
                    continue
                since = max(start, item.updated_at - dt.timedelta(microseconds=1))
                for occurrence in occurrences_between(schedule, since, now, limit=1000):
                    due.append((occurrence, item))
            due.sort(key=lambda pair: (pair[0], pair[1].id))
            unfinished: list[dt.datetime] = []
            for occurrence, item in due:
                if self.stopping:
                    unfinished.append(occurrence)
                    break
                try:
                    push = await self.push(item, occurrence, now)
                except Exception:
                    log.exception("push of %s at %s failed", item.slug, occurrence.isoformat())
                    push = PushReport(item.slug, occurrence, "error")
                report.pushes.append(push)
                if push.status in ("busy", "stopped", "error"):
                    unfinished.append(occurrence)
            mark = min(unfinished) - dt.timedelta(microseconds=1) if unfinished else now
            await self._advance_watermark(mark)
            return report

    async def next_due(self, after: dt.datetime) -> dt.datetime | None:
        """The next occurrence of any active item (to wake up exactly then)."""
        async with self.db() as session:
            rows = list(await session.scalars(select(PlanItem).where(PlanItem.active.is_(True))))
        best: dt.datetime | None = None
        for row in rows:
            schedule = ItemView.of(row).schedule(self.config)
            nxt = schedule.next_after(after) if schedule is not None else None
            if nxt is not None and (best is None or nxt < best):
                best = nxt
        return best

    async def _advance_watermark(self, mark: dt.datetime) -> None:
        async with self.db.begin() as session:
            inserted = await insert_or_ignore(
                session, Claim, {"key": WATERMARK_KEY, "owner": self.instance, "claimed_at": mark}
            )
            if inserted is None:
                await session.execute(
                    update(Claim)
                    .where(Claim.key == WATERMARK_KEY, Claim.claimed_at < mark)
                    .values(claimed_at=mark, owner=self.instance)
                )

    # --- one occurrence ---------------------------------------------------------------------

    async def _lease(self, key: str, now: dt.datetime) -> bool:
        """Take (or renew, or take over a stale) lease on one occurrence; False if done or
        another replica is working on it."""
        async with self.db.begin() as session:
            inserted = await insert_or_ignore(
                session, Claim, {"key": key, "owner": self.instance, "claimed_at": now}
            )
            if inserted is not None:
                return True
            row = (
                await session.execute(select(Claim.owner, Claim.claimed_at).where(Claim.key == key))
            ).first()
            if row is None or row.owner == DONE:
                return False
            if row.owner != self.instance and row.claimed_at > now - LEASE:
                return False
            result = await session.execute(
                update(Claim)
                .where(
                    Claim.key == key, Claim.owner == row.owner, Claim.claimed_at == row.claimed_at
                )
                .values(owner=self.instance, claimed_at=now)
            )
            return (result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def _finish_lease(self, key: str) -> None:
        async with self.db.begin() as session:
            await session.execute(
                update(Claim)
                .where(Claim.key == key, Claim.owner == self.instance)
                .values(owner=DONE, claimed_at=utcnow())
            )

    async def _release_lease(self, key: str) -> None:
        async with self.db.begin() as session:
            await session.execute(
                delete(Claim).where(Claim.key == key, Claim.owner == self.instance)
            )

    async def push(self, item: ItemView, occurrence: dt.datetime, now: dt.datetime) -> PushReport:
        """Deliver (or record as missed) one occurrence of one item."""
        key = f"push:{item.id}:{occurrence_key(occurrence)}"
        report = PushReport(item.slug, occurrence, "sent")
        if not await self._lease(key, utcnow()):
            async with self.db() as session:
                owner = await session.scalar(select(Claim.owner).where(Claim.key == key))
            report.status = "done" if owner == DONE else "busy"
            return report
        started = time.monotonic()
        async with self.db() as session:
            targets = await resolve_audience(session, self.config, item.audience)
            existing = set(
                await session.scalars(
                    select(Delivery.chat_id).where(
                        Delivery.plan_item_id == item.id, Delivery.occurrence == occurrence
                    )
                )
            )
        todo = [t for t in targets if t.chat_id not in existing]
        report.total = len(targets)
        report.already = len(targets) - len(todo)
        late = now - occurrence
        if late > self.grace:
            report.status = "missed"
            report.missed = await self._record_missed(item, occurrence, todo)
            await self._finish_lease(key)
            log.warning(
                "push %s of %s was due %s ago (grace %s): recorded as missed for %d chat(s)",
                item.slug,
                self._local(occurrence),
                _duration(late),
                _duration(self.grace),
                report.missed,
            )
            return report
        if todo:
            log.info(
                "push %s of %s to %d chat(s)%s",
                item.slug,
                self._local(occurrence),
                len(todo),
                f" ({_duration(late)} late)" if late > dt.timedelta(minutes=1) else "",
            )
        document = _Document(item.file, item.title) if item.file and todo else None
        if document is not None:
            await document.load()
        rendered: dict[str, tuple[str, list]] = {}
        last_progress = time.monotonic()
        for offset in range(0, len(todo), BATCH):
            if self.stopping:
                report.status = "stopped"
                break
            batch = todo[offset : offset + BATCH]
            claimed = await self._claim(item, occurrence, batch)
            outcomes = await self._send_batch(item, occurrence, claimed, document, rendered)
            await self._record(outcomes)
            for outcome in outcomes:
                if outcome.status == "sent":
                    report.sent += 1
                elif outcome.status == "unreachable":
                    report.unreachable += 1
                else:
                    report.failed += 1
            report.already += len(batch) - len(claimed)
            if not await self._lease(key, utcnow()):
                report.status = "busy"  # another replica took over a lease we let go stale
                break
            if time.monotonic() - last_progress >= self.progress_every:
                last_progress = time.monotonic()
                self._log_progress(report, offset + len(batch), len(todo), started)
        report.seconds = time.monotonic() - started
        if report.status == "sent":
            await self._finish_lease(key)
        elif report.status == "stopped":
            await self._release_lease(key)  # the next start resumes at once
        if todo:
            self._log_progress(report, len(todo), len(todo), started, final=True)
        return report

    def _local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.config.tz).strftime("%Y-%m-%d %H:%M")

    def _log_progress(
        self, report: PushReport, done: int, total: int, started: float, *, final: bool = False
    ) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        log.info(
            "push %s of %s%s: %d/%d processed, %d sent, %d unreachable, %d failed, "
            "%d already done, %.1f msg/s",
            report.slug,
            self._local(report.occurrence),
            " finished" if final else "",
            done,
            total,
            report.sent,
            report.unreachable,
            report.failed,
            report.already,
            report.sent / elapsed,
        )

    async def _claim(
        self, item: ItemView, occurrence: dt.datetime, batch: Sequence[Target]
    ) -> list[tuple[int, Target]]:
        now = utcnow()
        by_chat = {t.chat_id: t for t in batch}
        async with self.db.begin() as session:
            insert = dialect_insert(session)
            rows = await session.execute(
                insert(Delivery)
                .values(
                    [
                        {
                            "plan_item_id": item.id,
                            "occurrence": occurrence,
                            "chat_id": t.chat_id,
                            "member_id": t.member_id,
                            "status": "claimed",
                            "claimed_by": self.instance,
                            "claimed_at": now,
                            "attempts": 0,
                        }
                        for t in batch
                    ]
                )
                .on_conflict_do_nothing()
                .returning(Delivery.id, Delivery.chat_id)
            )
            return [(row.id, by_chat[row.chat_id]) for row in rows]

    async def _record_missed(
        self, item: ItemView, occurrence: dt.datetime, targets: Sequence[Target]
    ) -> int:
        count = 0
        now = utcnow()
        for offset in range(0, len(targets), 500):
            batch = targets[offset : offset + 500]
            async with self.db.begin() as session:
                insert = dialect_insert(session)
                rows = await session.execute(
                    insert(Delivery)
                    .values(
                        [
                            {
                                "plan_item_id": item.id,
                                "occurrence": occurrence,
                                "chat_id": t.chat_id,
                                "member_id": t.member_id,
                                "status": "missed",
                                "claimed_by": self.instance,
                                "claimed_at": now,
                                "attempts": 0,
                            }
                            for t in batch
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(Delivery.id)
                )
                count += len(rows.all())
        return count

    async def _send_batch(
        self,
        item: ItemView,
        occurrence: dt.datetime,
        claimed: Sequence[tuple[int, Target]],
        document: _Document | None,
        rendered: dict[str, tuple[str, list]],
    ) -> list[Outcome]:
        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def one(delivery_id: int, target: Target) -> Outcome:
            if target.locale not in rendered:
                tr = translator(target.locale)
                rendered[target.locale] = (
                    item_text(
                        tr, title=item.title, body=item.body, url=item.url, points=item.points
                    ),
                    item_keyboard(tr, item.id, occurrence, quiz=bool(item.quiz_bank)),
                )
            text, keyboard = rendered[target.locale]
            async with semaphore:
                return await self._send_one(delivery_id, target, text, keyboard, document)

        return list(await asyncio.gather(*(one(d, t) for d, t in claimed)))

    async def _send_one(
        self,
        delivery_id: int,
        target: Target,
        text: str,
        keyboard: list,
        document: _Document | None,
    ) -> Outcome:
        chat_id = target.chat_id
        outcome = Outcome(delivery_id, "failed", member_id=target.member_id)
        for _attempt in range(2):  # the second pass follows a group migration
            try:
                async with self.pacer.slot():
                    sent = await self.sender.send_text(chat_id, text, keyboard=keyboard, html=True)
            except ChatMigrated as exc:
                log.info("group %s became %s; following it", chat_id, exc.new_chat_id)
                await self._remember_migration(chat_id, exc.new_chat_id)
                chat_id = outcome.new_chat_id = exc.new_chat_id
                continue
            except RecipientUnreachable as exc:
                outcome.status, outcome.error = "unreachable", str(exc)[:500]
                return outcome
            except ChatNotFound as exc:
                outcome.error = f"chat not found: {exc}"[:500]
                return outcome
            except SendError as exc:
                outcome.error = str(exc)[:500]
                log.warning("push to %s failed: %s", chat_id, exc)
                return outcome
            outcome.status, outcome.message_id = "sent", sent.message_id
            break
        else:
            outcome.error = "chat migrated twice"
            return outcome
        if document is not None and document.present:
            try:
                async with self.pacer.slot():
                    await document.send(self.sender, chat_id)
            except SendError as exc:
                # the text (with its Done button) arrived; the attachment is not worth a resend
                outcome.error = f"attachment: {exc}"[:500]
                log.warning("attachment to %s failed: %s", chat_id, exc)
        return outcome

    async def _remember_migration(self, old: int, new: int) -> None:
        async with self.db.begin() as session:
            chat = await session.get(Chat, old)
            if chat is None:
                session.add(Chat(id=old, type="group", migrated_to=new, updated_at=utcnow()))
            else:
                chat.migrated_to = new
                chat.updated_at = utcnow()

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        now = utcnow()
        async with self.db.begin() as session:
            await session.execute(
                update(Delivery),
                [
                    {
                        "id": o.delivery_id,
                        "status": o.status,
                        "sent_at": now if o.status == "sent" else None,
                        "message_id": o.message_id,
                        "attempts": 1,
                        "error": o.error,
                    }
                    for o in outcomes
                ],
            )
            for o in outcomes:
                if o.new_chat_id is not None:
                    await session.execute(
                        update(Delivery)
                        .where(Delivery.id == o.delivery_id)
                        .values(chat_id=o.new_chat_id)
                    )
            blocked = [o.member_id for o in outcomes if o.status == "unreachable" and o.member_id]
            if blocked:
                await session.execute(
                    update(Member).where(Member.id.in_(blocked)).values(reachable=False)
                )
                log.info("marked %d member(s) unreachable (they blocked the bot)", len(blocked))


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}"
