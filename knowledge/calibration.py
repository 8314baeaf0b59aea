"""How the matcher's suggestions fare with real officers, and what that says about the
thresholds.

`python -m benchmarks.calibrate` chooses `similar_threshold` and `duplicate_threshold` on
labelled sets written for the purpose. Real officers word things their own way, so the
exchange keeps its own labels as it runs:

- every suggestion an officer answers is a label on the best match's score: taken
  (followed, or "that answers it") or not (asked anyway, or followed one of the others);
- every merge the expert makes is a repeat the officer was not offered (or turned down),
  with the score the matcher gave the pair at the time.

- every question listed as "related" under a new question (scoring under the suggestion
  mark) is a label too: followed or not.

The report counts them by score band and turns them into advice using the same target as
the benchmark's calibration: a suggestion should be taken at least 90% of the time. Only
suggestions at or above `similar_threshold` are ever shown, so the report can tell when to
raise it; for lowering it, the merged repeats and the followed related questions scoring
below it are the evidence, and the report says how far down they lie rather than promising
what lower would cost.

Each matcher mode has its own scale and thresholds (`similar_threshold`, or
`semantic_similar_threshold` with matching by meaning on), so a report covers one mode's
scores and names that mode's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

TAKEN = frozenset({"followed", "answered_from_store"})
# The benchmark's target for suggestions (benchmarks/calibrate.py SIMILAR_PRECISION).
TARGET = 0.9
# Fewer answered suggestions than this at the current threshold and the report advises waiting.
MIN_RESOLVED = 30
# A raised threshold is only advised if at least this many answered suggestions are above it.
MIN_KEPT = 10
BAND = 5.0


@dataclass(frozen=True, slots=True)
class ScoreBand:
    low: float  # scores in [low, low + 5)
    taken: int
    declined: int
    merged: int  # pairs the expert merged by hand whose score fell in this band


@dataclass(frozen=True, slots=True)
class SuggestionReport:
    since: datetime | None
    scale: str  # "lexical" or "semantic": whose scores and thresholds these are
    similar_threshold: float
    bands: tuple[ScoreBand, ...]  # lowest score first, only bands with something in them
    taken: int
    declined: int
    merged_below: tuple[float, ...]  # merged pairs that scored under similar_threshold
    related_listed: int  # questions listed as related to a new question
    related_followed: tuple[float, ...]  # the scores of those the officer then followed
    advice: tuple[str, ...]

    @property
    def resolved(self) -> int:
        return self.taken + self.declined


def suggestion_report(
    outcomes: Sequence[tuple[float, str]],
    merge_scores: Sequence[float],
    *,
    similar_threshold: float,
    duplicate_threshold: float,
    since: datetime | None = None,
    related: Sequence[tuple[float, bool]] = (),
    scale: str = "lexical",
) -> SuggestionReport:
    """Count `outcomes` ((score, draft resolution)), `merge_scores` and `related`
    ((score, followed)) by band; advise on `scale`'s thresholds."""
    counts: dict[float, list[int]] = {}
    for score, resolution in outcomes:
        band = counts.setdefault(_band(score), [0, 0, 0])
        band[0 if resolution in TAKEN else 1] += 1
    for score in merge_scores:
        counts.setdefault(_band(score), [0, 0, 0])[2] += 1
    bands = tuple(ScoreBand(low, *counts[low]) for low in sorted(counts))
    taken = sum(resolution in TAKEN for _, resolution in outcomes)
    below = tuple(sorted(s for s in merge_scores if s < similar_threshold))
    followed = tuple(sorted(score for score, took in related if took))
    key = "similar_threshold" if scale == "lexical" else f"{scale}_similar_threshold"
    return SuggestionReport(
        since=since,
        scale=scale,
        similar_threshold=similar_threshold,
        bands=bands,
        taken=taken,
        declined=len(outcomes) - taken,
        merged_below=below,
        related_listed=len(related),
        related_followed=followed,
        advice=tuple(
            line.replace("similar_threshold", key).replace(
                "duplicate_threshold", key.replace("similar", "duplicate")
            )
            for line in (
                _threshold_advice(outcomes, similar_threshold, duplicate_threshold)
                + _merge_advice(below, similar_threshold)
                + _related_advice(len(related), followed, similar_threshold)
            )
        ),
    )


def _band(score: float) -> float:
    return min(math.floor(score / BAND) * BAND, 100.0 - BAND)


def _threshold_advice(
    outcomes: Sequence[tuple[float, str]], similar: float, duplicate: float
) -> tuple[str, ...]:
    # Only suggestions the current threshold would still show say anything about it (older
    # ones may come from a lower threshold).
    current = [o for o in outcomes if o[0] >= similar]
    if len(current) < MIN_RESOLVED:
        return (
            f"{len(current)} of the {len(outcomes)} suggestions answered so far scored at or "
            f"above similar_threshold ({similar:g}): keep the thresholds until at least "
            f"{MIN_RESOLVED} have, then look again.",
        )
    share = _taken_share(current)
    if share >= TARGET:
        return (
            f"Suggestions at or above similar_threshold were taken {share:.1%} of the time "
            f"(target {TARGET:.0%}): it is not too low.",
        )
    said = f"Suggestions at or above similar_threshold were taken {share:.1%} of the time, "
    said += f"under the {TARGET:.0%} target."
    for t in (x / 2 for x in range(math.floor(similar * 2) + 1, math.floor(duplicate * 2) + 1)):
        kept = [o for o in current if o[0] >= t]
        if len(kept) >= MIN_KEPT and _taken_share(kept) >= TARGET:
            return (
                said + f" Raising it to {t:g} would have kept {len(kept)} of the "
                f"{len(current)} and met the target.",
            )
    return (
        said + f" No threshold up to duplicate_threshold ({duplicate:g}) keeps {MIN_KEPT} "
        "suggestions and meets it; the matcher is offering the wrong questions, so look at "
        "which ones officers declined before moving the thresholds.",
    )


def _merge_advice(below: Sequence[float], similar: float) -> tuple[str, ...]:
    if not below:
        return ()
    quarter = below[len(below) // 4]
    offered = sum(s >= math.floor(quarter) for s in below)
    return (
        f"{len(below)} question{'s' if len(below) != 1 else ''} the expert merged by hand "
        f"scored under similar_threshold ({similar:g}), between {below[0]:g} and "
        f"{below[-1]:g}, so the officer was never offered the match. Lowering it to "
        f"{math.floor(quarter):g} would have offered {offered} of them; if you try it, watch "
        "the taken share here stay on target.",
    )


def _related_advice(listed: int, followed: Sequence[float], similar: float) -> tuple[str, ...]:
    if not listed:
        return ()
    if not followed:
        return (
            f"Officers followed none of the {listed} related questions listed under new "
            f"questions (scoring under similar_threshold, {similar:g}): no sign it is too high.",
        )
    return (
        f"Officers followed {len(followed)} of the {listed} related questions listed under "
        f"new questions, scoring {followed[0]:g} to {followed[-1]:g} (under "
        f"similar_threshold, {similar:g}): those were repeats the suggestions missed. If "
        f"they keep coming, lowering it towards {math.floor(followed[len(followed) // 2]):g} "
        "would offer them; watch the taken share above stay on target.",
    )


def _taken_share(outcomes: Sequence[tuple[float, str]]) -> float:
    return sum(resolution in TAKEN for _, resolution in outcomes) / len(outcomes)


def to_text(report: SuggestionReport) -> str:
    """The report as a plain-text table with its advice."""
    since = f" since {report.since:%Y-%m-%d %H:%M}" if report.since else ""
    key = "similar_threshold" if report.scale == "lexical" else "semantic_similar_threshold"
    lines = [
        f"Suggestions{since}, {report.scale} matching ({key} {report.similar_threshold:g})",
        "",
        f"{'score':<10}{'taken':>7}{'declined':>10}{'merged by the expert':>22}",
    ]
    for band in reversed(report.bands):
        label = f"{band.low:g}-{band.low + BAND:g}"
        lines.append(f"{label:<10}{band.taken:>7}{band.declined:>10}{band.merged:>22}")
    if not report.bands:
        lines.append("(nothing yet: no suggestion answered and no merge recorded)")
    lines += [
        "",
        f"Taken: {report.taken} of {report.resolved}. 'Taken' is followed or 'that answers it'; "
        "'declined' is asked anyway or followed another suggestion.",
        f"Related questions listed under new questions: {report.related_listed}, of which "
        f"{len(report.related_followed)} followed.",
        "",
        *(f"- {line}" for line in report.advice),
    ]
    return "\n".join(lines) + "\n"
