"""Exporting the published knowledge base as Markdown, HTML, JSON or CSV."""

from __future__ import annotations

import csv
import html
import io
import json
import unicodedata
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from knowledge.models import AuditEntry, Note, PublishedEntry
from knowledge.text import inert, inert_lines, is_web_link


def _record(entry: PublishedEntry, site: str = "") -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": entry.question.ref,
        "topic": entry.question.topic,
        "question": entry.question.text,
        "answer": entry.answer.body,
        "links": list(entry.answer.links),
        "version": entry.answer.version,
        "release": entry.answer.release_number,
        "written_at": entry.answer.created_at.isoformat(),
        "authorities": list(entry.authority_names),
    }
    if site:
        record["url"] = f"{site}/q/{entry.question.ref}"
    if entry.asker_names:
        record["askers"] = list(entry.asker_names)
    record["peer_replies"] = [
        {"id": r.ref, "text": r.text, "links": list(r.links), "authority": r.authority}
        for r in entry.replies
    ]
    return {"kind": "answer", **record}


def _note_record(note: Note) -> dict[str, Any]:
    """A shared note as an export record: never its author, only the authority (if named)."""
    return {
        "kind": "note",
        "id": note.ref,
        "topic": note.topic,
        "title": note.title,
        "text": note.text,
        "links": list(note.links),
        "shared_at": note.created_at.isoformat(),
        "authority": note.authority,
        "endorsed": note.endorsed,
    }


def _byline(entry: PublishedEntry, escape: Callable[[str], str] = str) -> str:
    """Release, version and (where configured) who asked; names typed by people escaped."""
    line = f"Release {entry.answer.release_number}, version {entry.answer.version}"
    if entry.authority_names:
        line += " · asked by " + ", ".join(escape(n) for n in entry.authority_names)
    if entry.asker_names:
        line += " · askers: " + ", ".join(escape(n) for n in entry.asker_names)
    return line


def to_json(entries: list[PublishedEntry], notes: Sequence[Note] = (), site: str = "") -> str:
    """One record per answered question (`"kind": "answer"`), then one per shared note
    (`"kind": "note"`), so a reader can tell the Cabinet Office's answers from peers' learning."""
    records = [_record(e, site) for e in entries] + [_note_record(n) for n in notes]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting like a formula is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(entries: list[PublishedEntry], notes: Sequence[Note] = (), site: str = "") -> str:
    """One row per answered question, then one per shared note; the `kind` column tells them
    apart, and a note's title and text sit in the question and answer columns."""
    buffer = io.StringIO()
    columns = [
        "kind",
        "id",
        "topic",
        "question",
        "answer",
        "links",
        "version",
        "release",
        "written_at",
        "authorities",
        "askers",
        "peer_replies",
        "endorsed",
        "url",
    ]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        record = _record(entry, site)
        record["links"] = " ".join(record["links"])
        record["authorities"] = "; ".join(record["authorities"])
        record["askers"] = "; ".join(record.get("askers", []))
        record["peer_replies"] = "\n\n".join(
            f"{r['id']} ({r['authority'] or 'another authority'}): {r['text']}"
            for r in record["peer_replies"]
        )
        writer.writerow({k: _cell(v) for k, v in record.items()})
    for note in notes:
        row = {
            "kind": "note",
            "id": note.ref,
            "topic": note.topic,
            "question": note.title,
            "answer": note.text,
            "links": " ".join(note.links),
            "written_at": note.created_at.isoformat(),
            "authorities": note.authority or "",
            "endorsed": "yes" if note.endorsed else "no",
        }
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _md_escape(text: str) -> str:
    # Questions are shown as text: markdown typed by an officer must not format the page.
    return inert(text)


def _md_link(link: str) -> str:
    """An autolink, which shows its own target; a link stored before links were checked as
    strictly (one that could end the autolink early) is shown as text."""
    return f"<{link}>" if is_web_link(link) else inert(link)


def _html_link(link: str) -> str:
    if not is_web_link(link):
        return html.escape(link)
    return f'<a href="{html.escape(link)}">{html.escape(link)}</a>'


def _html_paragraphs(body: str) -> list[str]:
    """The answer's paragraphs, its line breaks kept, every character escaped."""
    return [
        "<p>" + "<br>\n".join(html.escape(line) for line in paragraph.split("\n")) + "</p>"
        for paragraph in body.split("\n\n")
        if paragraph.strip()
    ]


def _notes_markdown(notes: Sequence[Note]) -> str:
    """Shared notes as a Markdown section (appended to the Markdown export)."""
    if not notes:
        return ""
    lines = ["# Shared notes (authorities' learning, not Cabinet Office answers)", ""]
    for note in notes:
        by = _md_escape(note.authority) if note.authority else "another authority"
        endorsed = " · endorsed by the PSN expert" if note.endorsed else ""
        lines += [f"## {note.ref} · {_md_escape(note.title)}", ""]
        lines += [f"*{note.topic} · shared by {by}{endorsed}*", "", inert_lines(note.text), ""]
        lines += [f"- {_md_link(link)}" for link in note.links]
        if note.links:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _notes_html(notes: Sequence[Note]) -> str:
    """Shared notes as an HTML section (inserted before the export's closing tags)."""
    if not notes:
        return ""
    esc = html.escape
    parts = ["<h1>Shared notes (authorities' learning, not Cabinet Office answers)</h1>"]
    for note in notes:
        by = esc(note.authority) if note.authority else "another authority"
        endorsed = " · endorsed by the PSN expert" if note.endorsed else ""
        parts.append(f'<section id="{esc(note.ref)}"><h2>{esc(note.ref)} · {esc(note.title)}</h2>')
        parts.append(f"<p><em>{esc(note.topic)} · shared by {by}{endorsed}</em></p>")
        parts += _html_paragraphs(note.text)
        if note.links:
            parts.append("<ul>")
            parts += [f"<li>{_html_link(link)}</li>" for link in note.links]
            parts.append("</ul>")
        parts.append("</section>")
    return "\n".join(parts) + "\n"


def to_markdown(entries: list[PublishedEntry], notes: Sequence[Note] = (), site: str = "") -> str:
    lines = ["# PSN Exchange — published answers", ""]
    if not entries:
        lines.append("No answers have been published yet.")
    for entry in entries:
        record = _record(entry)
        lines += [
            f"## {record['id']} · {record['topic']}",
            "",
            f"**Q:** {_md_escape(entry.question.text)}",
            "",
        ]
        lines += [inert_lines(entry.answer.body), ""]
        lines += [f"- {_md_link(link)}" for link in entry.answer.links]
        if entry.answer.links:
            lines.append("")
        lines += [f"*{_byline(entry, _md_escape)}*", ""]
        if site:
            lines += [f"On the web: <{site}/q/{entry.question.ref}>", ""]
        if entry.replies:
            lines += ["### Peer experience (not the Cabinet Office answer)", ""]
            for reply in entry.replies:
                by = _md_escape(reply.authority) if reply.authority else "another authority"
                lines += [f"**{reply.ref}**, from {by}:", "", inert_lines(reply.text), ""]
                lines += [f"- {_md_link(link)}" for link in reply.links]
                if reply.links:
                    lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    return text + "\n" + _notes_markdown(notes) if notes else text


def to_html(entries: list[PublishedEntry], notes: Sequence[Note] = (), site: str = "") -> str:
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>PSN Exchange — published answers</title></head><body>",
        "<h1>PSN Exchange — published answers</h1>",
    ]
    if not entries:
        parts.append("<p>No answers have been published yet.</p>")
    for entry in entries:
        record = _record(entry)
        parts.append(f'<section id="{esc(record["id"])}">')
        parts.append(f"<h2>{esc(record['id'])} · {esc(record['topic'])}</h2>")
        parts.append(f"<p><strong>Q:</strong> {esc(entry.question.text)}</p>")
        parts += _html_paragraphs(entry.answer.body)
        if entry.answer.links:
            parts.append("<ul>")
            parts += [f"<li>{_html_link(link)}</li>" for link in entry.answer.links]
            parts.append("</ul>")
        parts.append(f"<p><em>{esc(_byline(entry))}</em></p>")
        if site:
            page = esc(f"{site}/q/{entry.question.ref}")
            parts.append(f'<p>On the web: <a href="{page}">{page}</a></p>')
        if entry.replies:
            parts.append("<h3>Peer experience (not the Cabinet Office answer)</h3>")
        for reply in entry.replies:
            by = esc(reply.authority) if reply.authority else "another authority"
            parts.append(f"<h4>{esc(reply.ref)}, from {by}</h4>")
            parts += _html_paragraphs(reply.text)
            if reply.links:
                parts.append("<ul>")
                parts += [f"<li>{_html_link(link)}</li>" for link in reply.links]
                parts.append("</ul>")
        parts.append("</section>")
    if notes:
        parts.append(_notes_html(notes).rstrip("\n"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# -- the audit trail (psn-exchange audit, /audit) ---------------------------------------


def _detail(detail: dict[str, object]) -> str:
    return "; ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(detail.items())
    )


def _audit_row(entry: AuditEntry, zone: tzinfo) -> dict[str, object]:
    return {
        "at": entry.at.astimezone(zone).isoformat(timespec="seconds"),
        "who": entry.who,
        "action": entry.action,
        "question": entry.question_ref,
        "detail": entry.detail,
    }


def audit_table(entries: list[AuditEntry], zone: tzinfo) -> str:
    """One line per entry, for a terminal: every value shown as text, none acted on."""
    if not entries:
        return "No recorded actions match.\n"
    lines = []
    for entry in entries:
        when = entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        detail = f"  [{_detail(entry.detail)}]" if entry.detail else ""
        # No control character reaches the terminal (a name could carry an escape sequence).
        line = f"{when}  {entry.action:<20} {entry.question_ref:<7} {entry.who}{detail}"
        lines.append("".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in line))
    return "\n".join(lines) + "\n"


def audit_json(entries: list[AuditEntry], zone: tzinfo) -> str:
    rows = [_audit_row(e, zone) for e in entries]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def audit_csv(entries: list[AuditEntry], zone: tzinfo) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["at", "who", "action", "question", "detail"])
    for entry in entries:
        row = _audit_row(entry, zone)
        row["detail"] = _detail(entry.detail)
        writer.writerow([_cell(value) for value in row.values()])
    return buffer.getvalue()


AUDIT_RENDERERS: dict[str, Callable[[list[AuditEntry], tzinfo], str]] = {
    "table": audit_table,
    "csv": audit_csv,
    "json": audit_json,
}

RENDERERS: dict[str, Callable[[list[PublishedEntry], Sequence[Note], str], str]] = {
    "md": to_markdown,
    "html": to_html,
    "json": to_json,
    "csv": to_csv,
}
