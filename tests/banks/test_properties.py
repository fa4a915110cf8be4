"""Property tests: whatever a bank file holds, reading it gives a bank or a list of problems,
never an exception; an accepted bank imports, and a refused one leaves the database alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import string
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.banks.formats import parse_bank, read_table
from bot.banks.model import validate_bank
from bot.banks.problems import BankError, Problem
from bot.db.engine import create_engine, create_session_factory
from tests.banks.helpers import EN_HEADER, ZH_HEADER, csv_bytes, snapshot, xlsx_bytes
from tests.conftest import make_config

KEYS = ["id", "type", "text", "options", "answer", "explanation", "difficulty", "tags", "x"]
TYPES = ["single", "multiple", "judge", "blank", "单选", "多选", "判断", "填空", "essay", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["A", "ACD", "A,C", "对", "错", "√", "x|y", "", " ", "K", "\x00"]),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=12), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
question_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(["q1", "q2", "q1"]), values),
        "type": st.one_of(st.sampled_from(TYPES), values),
        "text": st.one_of(st.text(max_size=20), values),
        "options": st.one_of(st.lists(st.text(max_size=5), max_size=12), values),
        "answer": values,
        "explanation": values,
        "difficulty": st.one_of(st.integers(-1, 5), values),
        "tags": values,
        "extra": values,
    },
)
bank_like = st.fixed_dictionaries(
    {},
    optional={
        "bank": st.one_of(st.sampled_from(["demo", "Demo", "a" * 70, ""]), values),
        "title": values,
        "tags": values,
        "campaign": st.one_of(
            values,
            st.fixed_dictionaries(
                {},
                optional={
                    "title": values,
                    "from": st.one_of(st.dates(), values),
                    "to": st.one_of(st.dates(), values),
                    "questions": st.one_of(st.integers(-2, 200), values),
                },
            ),
        ),
        "questions": st.one_of(st.lists(question_like, max_size=6), values),
    },
)

# Mostly valid banks, so that the database path sees accepted files too.
valid_text = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
valid_question = st.one_of(
    st.builds(
        lambda qid, text, options, pick: {
            "id": qid,
            "type": "single",
            "text": text,
            "options": options,
            "answer": "ABCDEFGHIJ"[pick % len(options)],
        },
        st.sampled_from(["q1", "q2", "q3", "q4"]),
        valid_text,
        st.lists(valid_text, min_size=2, max_size=10, unique_by=str.strip),
        st.integers(0, 9),
    ),
    st.builds(
        lambda qid, text, answer: {"id": qid, "type": "judge", "text": text, "answer": answer},
        st.sampled_from(["j1", "j2"]),
        valid_text,
        st.sampled_from([True, False, "对", "错", "maybe"]),
    ),
    st.builds(
        lambda qid, text, answer: {"id": qid, "type": "blank", "text": text, "answer": answer},
        st.sampled_from(["b1", "b2"]),
        valid_text,
        st.one_of(valid_text, st.lists(valid_text, max_size=3)),
    ),
)
mostly_valid = st.builds(
    lambda title, questions: {"bank": "prop", "title": title, "questions": questions},
    valid_text,
    st.lists(valid_question, min_size=1, max_size=6),
)


def outcome(name: str, content: bytes) -> list[Problem] | None:
    """None for an accepted bank, else its problems; any other exception fails the test."""
    try:
        bank = parse_bank(name, content)
    except BankError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert str(problem)  # renders
        return list(exc.problems)
    assert bank.questions
    return None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_as_yaml(text: str) -> None:
    outcome("any.yaml", text.encode("utf-8", "surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["b.yaml", "b.csv", "b.xlsx", "b.txt"]))
def test_any_bytes(content: bytes, name: str) -> None:
    outcome(name, content)


@settings(max_examples=300, deadline=None)
@given(bank_like)
def test_any_yaml_document(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    outcome("doc.yaml", text.encode("utf-8", "surrogatepass"))


cells = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-5, 20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["单选", "多选", "判断", "填空", "A", "ABC", "对", "a|b", "1", "题号", "bank"]),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)
header_cells = st.sampled_from([*ZH_HEADER, *EN_HEADER, "选项E", "选项K", "备注", "", None])
sheets = st.tuples(
    st.lists(st.lists(cells, max_size=3), max_size=3),  # rows above the header
    st.one_of(
        st.just(ZH_HEADER), st.just(EN_HEADER), st.lists(header_cells, min_size=1, max_size=14)
    ),
    st.lists(st.lists(cells, max_size=14), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(sheets)
def test_any_sheet_rows(sheet: tuple[list[list[Any]], list[Any], list[list[Any]]]) -> None:
    above, header, rows = sheet
    try:
        raw = read_table("t.xlsx", [*above, header, *rows], default_slug="t", default_title="t")
        validate_bank(raw)
    except BankError as exc:
        assert all(str(p) for p in exc.problems)


@settings(max_examples=60, deadline=None)
@given(sheets)
def test_any_sheet_as_csv(sheet: tuple[list[list[Any]], list[Any], list[list[Any]]]) -> None:
    above, header, rows = sheet
    outcome("t.csv", csv_bytes([*above, header, *rows]))


printable = st.text(
    alphabet=string.ascii_letters + string.digits + string.punctuation + " 题干选项答案对错",
    max_size=12,
)
xlsx_cells = st.one_of(st.none(), printable, st.integers(-5, 20), st.booleans())


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.lists(xlsx_cells, max_size=12), max_size=6), st.sampled_from([ZH_HEADER, EN_HEADER])
)
def test_any_real_xlsx(rows: list[list[Any]], header: list[str]) -> None:
    outcome("t.xlsx", xlsx_bytes([header, *rows]))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.one_of(bank_like, mostly_valid, mostly_valid))
def test_imports_or_refuses_without_touching_the_database(
    database_url: str, doc: dict[str, Any]
) -> None:
    """Through the real import: accepted banks land whole, refused ones change nothing."""
    from bot.banks.importer import import_bank

    config = make_config(database_url)
    content = yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    before = snapshot(database_url)

    async def attempt() -> bool:
        engine = create_engine(database_url)
        try:
            db = create_session_factory(engine)
            try:
                async with db.begin() as session:
                    summary = await import_bank(session, config, "doc.yaml", content)
            except BankError:
                return False
            assert summary.added >= 1
            async with db.begin() as session:  # leave the database as it was for the next example
                from sqlalchemy import delete

                from bot.db.models import AuditEntry, Bank

                await session.execute(delete(Bank))
                await session.execute(delete(AuditEntry))
            return True
        finally:
            await engine.dispose()

    accepted = asyncio.run(attempt())
    if not accepted:
        assert snapshot(database_url) == before
