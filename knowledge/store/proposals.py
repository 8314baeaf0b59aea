"""Merges the matcher proposes and the expert decides (see migrations.py, MERGE_PROPOSALS)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from knowledge.models import Proposal, Status
from knowledge.store.database import Database, marks, stamp
from knowledge.store.questions import LIVE

_LIVE_IN = f"({marks(len(LIVE))})"


class Proposals:
    """Record proposed merges, list those still to decide, dismiss one."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        question_id: int,
        target_id: int,
        score: float,
        differs: str | None,
        now: datetime,
        *,
        import_id: int | None = None,
    ) -> None:
        """Propose merging `question_id` into `target_id` (once: a repeat changes nothing)."""
        self._db.write(
            """INSERT INTO merge_proposals
                 (question_id, target_id, score, differs, import_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (question_id, target_id) DO NOTHING""",
            [question_id, target_id, score, differs, import_id, stamp(now)],
        )

    def pending(self, question_ids: Iterable[int]) -> dict[int, tuple[Proposal, ...]]:
        """The proposals still to decide for each of `question_ids` (best first): not
        dismissed, not hidden in an import in progress, the question still open and the
        one it may join still live. A merge resolves them, as the question is then merged."""
        found: dict[int, list[Proposal]] = {}
        for row in self._db.rows_for_ids(
            f"""SELECT p.question_id, p.target_id, p.score, p.differs
                FROM merge_proposals p
                JOIN questions q ON q.id = p.question_id
                JOIN questions t ON t.id = p.target_id
                WHERE p.dismissed_at IS NULL AND p.import_id IS NULL
                  AND q.status = ? AND t.status IN {_LIVE_IN} AND t.import_id IS NULL
                  AND p.question_id IN ({{ids}})
                ORDER BY p.score DESC, p.target_id""",  # noqa: S608
            question_ids,
            params_before=[Status.OPEN.value, *LIVE],
        ):
            found.setdefault(row["question_id"], []).append(
                Proposal(row["question_id"], row["target_id"], row["score"], row["differs"])
            )
        return {qid: tuple(proposals) for qid, proposals in found.items()}

    def dismiss(self, question_id: int, target_id: int, by: int, now: datetime) -> bool:
        """Record that the expert found the two different (either way round); False if no
        proposal between them was waiting."""
        return (
            self._db.write(
                """UPDATE merge_proposals SET dismissed_at = ?, dismissed_by = ?
                   WHERE dismissed_at IS NULL AND import_id IS NULL
                     AND ((question_id = ? AND target_id = ?)
                       OR (question_id = ? AND target_id = ?))""",
                [stamp(now), by, question_id, target_id, target_id, question_id],
            )
            > 0
        )
