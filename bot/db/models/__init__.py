"""ORM models; importing this package registers every table on ``Base.metadata``."""

from bot.db.models.banks import Bank, Question, QuestionVersion
from bot.db.models.base import Base
from bot.db.models.discussions import (
    Discussion,
    DiscussionParticipant,
    DiscussionReply,
    Reflection,
)
from bot.db.models.live import LiveQuestion, LiveRound
from bot.db.models.materials import (
    Delivery,
    MaterialRead,
    PlanItem,
    ReminderSent,
    SessionCheckin,
    StudySession,
)
from bot.db.models.members import Chat, Department, Member, MemberRole, PendingInput, StartPrompt
from bot.db.models.ops import Claim, InboxUpdate, ProcessedUpdate
from bot.db.models.points import AuditEntry, LedgerEntry
from bot.db.models.quiz import Answer, AttemptQuestion, QuizAttempt, ReviewCard
from bot.db.models.rollups import MemberMonth, QuestionMonth, RollupState

__all__ = [
    "Answer",
    "AttemptQuestion",
    "AuditEntry",
    "Bank",
    "Base",
    "Chat",
    "Claim",
    "Delivery",
    "Department",
    "Discussion",
    "DiscussionParticipant",
    "DiscussionReply",
    "InboxUpdate",
    "LedgerEntry",
    "LiveQuestion",
    "LiveRound",
    "MaterialRead",
    "Member",
    "MemberMonth",
    "MemberRole",
    "PendingInput",
    "PlanItem",
    "ProcessedUpdate",
    "Question",
    "QuestionMonth",
    "QuestionVersion",
    "QuizAttempt",
    "Reflection",
    "ReminderSent",
    "ReviewCard",
    "RollupState",
    "SessionCheckin",
    "StartPrompt",
    "StudySession",
]
