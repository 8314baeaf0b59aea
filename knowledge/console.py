"""The console channel: the Discord conversation, typed in a terminal.

Commands are named like the slash commands. It reads lines from any text stream, so
`psn-exchange console < script.txt` runs unattended. The console is also the delivery
channel for console users: whatever the exchange owes them is printed when it falls due.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TextIO

from knowledge import text as texts
from knowledge.addresses import Address, Channel
from knowledge.errors import AuthorityNeeded, ExchangeError, InvalidInput
from knowledge.exchange import Exchange
from knowledge.models import (
    Actor,
    Answer,
    AnsweredMatch,
    Delivery,
    DraftAnswer,
    NewQuestion,
    Note,
    OpenMatch,
    Question,
    Role,
    Status,
)
from knowledge.text import plural, unmerged_message, wait_on

PLACE = str(Address.console_place("questions"))

HELP = """\
Commands (the same as in Discord):
  /as NAME @ AUTHORITY [expert|steering|admin]   speak as someone else
  /ask [TOPIC] TEXT        ask a question (TOPIC in brackets is optional, e.g. [technical])
  /ask-anyway              after a suggestion: ask yours as a new question anyway
  /accept                  after a suggestion: that answer answers my question
  /follow Q-ID             wait on an existing question instead of asking again
  /search TEXT             search questions and published answers
  /mine                    your questions, their status and queue position
  /withdraw Q-ID           withdraw your own question
  /queue                   (expert, steering) the ranked queue of unique questions
  /answer Q-ID TEXT [| LINK ...]   (expert) answer; links after a | (none: a draft
                           keeps its links; a | alone removes them)
  /merge Q-ID INTO-Q-ID    (expert) merge a duplicate into another question
  /distinct Q-ID Q-ID      (expert) two questions proposed for merging are different
  /unmerge Q-ID            (expert) undo a merge: the question waits again with its askers
  /reply Q-ID TEXT [| LINK ...]   share your authority's experience on a question
  /replies Q-ID            the peer replies to a question
  /questions [TOPIC] [open|answered|all] [page N]   browse the exchange's questions
  /share [TOPIC] TITLE | TEXT [| LINK ...]   share your authority's learning (not a question)
  /notes [TOPIC]           the shared notes, endorsed first
  /endorse-note N-ID       (expert) vouch for a shared note
  /hide-note N-ID REASON   (expert, admin) withdraw a shared note from view
  /endorse R-ID [TEXT]     (expert) a peer reply (or your edit of it) becomes the answer's
                           draft, credited to the authority that shared it
  /hide R-ID REASON        (expert, admin) withdraw a peer reply from view; its author is told
  /helpful R-ID            a peer reply to a question you wait on helped
  /solved R-ID             a peer reply answered your question (it leaves the expert's queue
                           for you)
  /notify replies off|on   whether you are sent peer replies to questions you wait on
  /reword Q-ID TEXT        a question's wording: the expert, any; you, your own while open
  /drafts                  (expert) the answers the next /publish will send
  /discard Q-ID            (expert) drop a draft answer
  /sensitive Q-ID [off]    (expert) mark an answer OFFICIAL-SENSITIVE (or lift the marking)
  /publish                 (expert) publish all new answers as a release
  /digest                  (steering, expert) where things stand since the last digest
  /mydata                  everything kept about you, as JSON
  /forget-me               erase your name; your questions stay, anonymised
  /help                    this list;  /quit  leave
Lines starting with # are comments."""

_AS = re.compile(
    r"^(?P<name>[^@]+?)\s*(?:@\s*(?P<authority>.+?))?"
    r"(?:\s+(?P<role>expert|steering|admin))?\s*$",
    re.IGNORECASE,
)
_TOPIC = re.compile(r"^\[(?P<topic>[^\]]{1,40})\]\s*(?P<text>.*)$", re.DOTALL)


def format_answer(answer: Answer) -> str:
    lines = [answer.body]
    lines += [f"  → {link}" for link in answer.links]
    release = f"release {answer.release_number}" if answer.release_number else "not yet published"
    version = f"version {answer.version}, " if answer.version > 1 else ""
    lines.append(f"  ({version}{release})")
    return "\n".join(lines)


def format_drafts(drafts: list[DraftAnswer]) -> list[str]:
    """What the next release will publish, for the expert (console and command line)."""
    if not drafts:
        return ["No draft answers: the next release has nothing to publish."]
    lines = [f"The next release will publish {plural(len(drafts), 'answer')}:"]
    for draft in drafts:
        question, answer = draft.question, draft.answer
        links = f", {plural(len(answer.links), 'link')}" if answer.links else ""
        lines.append(f'  {question.ref} (version {answer.version}{links}) "{question.text}"')
        lines.append("    " + format_answer(answer).replace("\n", "\n    "))
    return lines


def replacing(draft: Answer | None, links_given: bool) -> str:
    """What answering again does to an earlier draft, said before it is replaced."""
    if draft is None:
        return ""
    kept = "; its links are kept" if draft.links and not links_given else ""
    preview = draft.body if len(draft.body) <= 120 else draft.body[:119] + "…"
    return f'This replaces your draft (version {draft.version}): "{preview}"{kept}.'


def format_delivery(delivery: Delivery, page: str | None = None) -> str:
    """What the console prints for a delivery; an answer ends with its web page, if any."""
    who = delivery.recipient_name or Address.parse(delivery.recipient).id
    if delivery.kind == "note_hidden" and delivery.note is not None:
        note = delivery.note
        return f"📬 to {who}: " + texts.note_hidden_message(
            note.ref, note.title, note.hidden_reason
        )
    question = delivery.question
    assert question is not None  # every other delivery is about a question
    if delivery.kind == "reply" and delivery.reply is not None:
        reply = delivery.reply
        links = "".join(f"\n  → {link}" for link in reply.links)
        return (
            f"📬 to {who}: "
            + texts.peer_reply_heading(question.ref, reply.ref, reply.authority)
            + f'\n  "{reply.text}"{links}\n  (/notify replies off stops these)'
        )
    if delivery.kind == "reply_hidden" and delivery.reply is not None:
        return f"📬 to {who}: " + texts.reply_hidden_message(
            question.ref, delivery.reply.ref, delivery.reply.hidden_reason
        )
    if delivery.kind == "unmerged":
        return (
            f"📬 to {who}: the expert found your question {question.ref} "
            f'"{question.text}" is not the same as Q-{delivery.merged_from} after all, so it '
            "waits again in the queue on its own, and you will receive its answer."
        )
    if delivery.kind == "merged":
        return (
            f"📬 to {who}: your question Q-{delivery.merged_from} was the same as "
            f'{question.ref} "{question.text}", so the expert merged them. '
            f"You now wait on {question.ref} and will receive its answer."
        )
    assert delivery.answer is not None
    asked_by = (
        f"\n  Asked by: {', '.join(delivery.authority_names)}" if delivery.authority_names else ""
    )
    return (
        f'📬 to {who}: answer to {question.ref} "{question.text}"{asked_by}\n'
        f"  {format_answer(delivery.answer)}" + (f"\n  On the web: {page}" if page else "")
    )


class Console:
    """Reads commands, calls the exchange, prints what a chat user would see."""

    def __init__(self, exchange: Exchange, out: TextIO, *, echo: bool) -> None:
        self.exchange = exchange
        self.out = out
        self.echo = echo
        self.actor = Actor(str(Address.console_user("officer")), "officer")
        self.offered: dict[int, int] = {}  # question id -> suggestion (draft) it was offered in
        self.held_back = False  # deliveries could not be printed: the database was busy
        self.commands: dict[str, Callable[[str], None]] = {
            "as": self.cmd_as,
            "ask": self.cmd_ask,
            "ask-anyway": self.cmd_ask_anyway,
            "accept": self.cmd_accept,
            "follow": self.cmd_follow,
            "search": self.cmd_search,
            "mine": self.cmd_mine,
            "withdraw": self.cmd_withdraw,
            "queue": self.cmd_queue,
            "answer": self.cmd_answer,
            "merge": self.cmd_merge,
            "distinct": self.cmd_distinct,
            "unmerge": self.cmd_unmerge,
            "reword": self.cmd_reword,
            "reply": self.cmd_reply,
            "replies": self.cmd_replies,
            "questions": self.cmd_questions,
            "share": self.cmd_share,
            "notes": self.cmd_notes,
            "endorse-note": self.cmd_endorse_note,
            "hide-note": self.cmd_hide_note,
            "notify": self.cmd_notify,
            "helpful": self.cmd_helpful,
            "endorse": self.cmd_endorse,
            "hide": self.cmd_hide,
            "solved": self.cmd_solved,
            "sensitive": self.cmd_sensitive,
            "drafts": self.cmd_drafts,
            "discard": self.cmd_discard,
            "publish": self.cmd_publish,
            "digest": self.cmd_digest,
            "mydata": self.cmd_mydata,
            "forget-me": self.cmd_forget_me,
            "help": lambda _: self.say(HELP),
        }

    def say(self, text: str) -> None:
        print(text, file=self.out)

    @staticmethod
    def release_due(moment: datetime | None) -> str:
        return texts.release_due(moment)

    @property
    def prompt(self) -> str:
        authority = self.exchange.authority_of(self.actor) or "no authority yet"
        roles = "".join(f" [{r.value}]" for r in sorted(self.actor.roles) if r is not Role.OFFICER)
        return f"{self.actor.display_name} @ {authority}{roles}> "

    def run(self, lines: Iterable[str]) -> int:
        """Handle every line; returns the exit status (0 at end of input or /quit)."""
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if not texts.is_text(line):
                if self.echo:
                    self.say(self.prompt + line.encode("utf-8", "replace").decode())
                self.say(
                    "⚠ That line has bytes that are not UTF-8 text, so it was not read. "
                    "Please type it again (or save the script as UTF-8)."
                )
                continue
            if line.startswith("#"):
                if self.echo:
                    self.say(line)
                continue
            if self.echo:
                self.say(self.prompt + line)
            if line in ("/quit", "/exit"):
                break
            self.handle(line)
            self.deliver()
        return 0

    def handle(self, line: str) -> None:
        if not line.startswith("/"):
            self.say("Commands start with / (for example /ask or /help).")
            return
        name, _, rest = line[1:].partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            self.say(f"There is no command /{name}. Type /help for the list.")
            return
        try:
            command(rest.strip())
        except AuthorityNeeded as error:
            self.say(f"⚠ {error} In the console: /as YOUR NAME @ YOUR AUTHORITY")
        except ExchangeError as error:
            self.say(f"⚠ {error}")

    def deliver(self) -> None:
        """Print everything owed to console users, each marked sent just before, so it is
        printed once: while the database is busy it stays owed, and is printed after a
        later command (nor can a second console on the same database print it too)."""
        try:
            for delivery in self.exchange.owed_deliveries(Channel.CONSOLE.prefix):
                if not self.exchange.mark_sent(delivery.id):
                    continue  # another console printed it first
                question = delivery.question
                page = self.exchange.settings.web.url(f"/q/{question.ref}") if question else None
                text = format_delivery(delivery, page)
                if delivery.recipient_is_place:
                    self.say(f"[#questions] {text.split(': ', 1)[1]}")
                else:
                    self.say(text)
        except ExchangeError as error:
            if not self.held_back:  # said once, not after every command while it lasts
                self.say(f"⚠ {error} (Answers owed here are printed after a later command.)")
            self.held_back = True
        else:
            self.held_back = False

    # -- commands ---------------------------------------------------------------------

    def cmd_as(self, rest: str) -> None:
        found = _AS.match(rest)
        if not rest or not found:
            raise InvalidInput(
                "Use /as NAME @ AUTHORITY, optionally followed by expert, steering or admin."
            )
        name = found["name"].strip()
        roles = {Role.OFFICER}
        if found["role"]:
            roles.add(Role(found["role"].lower()))
        actor = Actor(str(Address.console_user(name)), name, frozenset(roles))
        # All or nothing: a refused authority leaves the console as whoever it was.
        authority = (
            self.exchange.set_authority(actor, found["authority"]) if found["authority"] else None
        )
        self.actor, self.offered = actor, {}
        self.say(f"You are now {name} from {authority}." if authority else f"You are now {name}.")

    def cmd_ask(self, rest: str) -> None:
        topic = None
        found = _TOPIC.match(rest)
        if found:
            topic, rest = found["topic"], found["text"]
        outcome = self.exchange.ask(self.actor, rest, topic=topic, place=PLACE)
        self.offered = {}
        if isinstance(outcome, AnsweredMatch | OpenMatch):
            self.offered = {
                q.id: outcome.draft_id
                for q in [outcome.question, *(o.question for o in outcome.others)]
            }
        if isinstance(outcome, AnsweredMatch):
            self.say(
                f"This looks already answered — {outcome.question.ref} "
                f'"{outcome.question.text}" ({outcome.match.explain()}):\n'
                f"  {format_answer(outcome.answer)}\n"
                "If that answers it, type /accept. If not, type /ask-anyway."
            )
        elif isinstance(outcome, OpenMatch):
            waiting = outcome.question.authorities
            self.say(
                f'This looks like {outcome.question.ref} "{outcome.question.text}" '
                f"({outcome.match.explain()}), already waiting for the expert "
                f"with {plural(waiting, 'authority')} behind it.\n"
                f"Type /follow {outcome.question.ref} to wait for its answer too, "
                "or /ask-anyway if yours is a different question."
            )
        else:
            self.say_new(outcome)
            return
        for other in outcome.others:
            state = "answered" if other.answer is not None else "waiting"
            self.say(
                f'  Also possibly the same: {other.question.ref} "{other.question.text}" '
                f"({state}, {other.match.score:.0f}% alike) — /follow {other.question.ref}"
            )

    def say_new(self, outcome: NewQuestion) -> None:
        self.say(
            f"Thank you — your question is {outcome.question.ref}, number "
            f"{outcome.position} in the expert's queue. You will receive the answer here. "
            + self.release_due(outcome.next_release)
        )
        if outcome.related:
            self.say("  Related questions, in case one of them is yours after all:")
        for related in outcome.related:
            state = "answered" if related.answered else "waiting"
            self.say(
                f'  {related.question.ref} "{related.question.text}" ({state}) — '
                f"/follow {related.question.ref}, then /withdraw {outcome.question.ref}"
            )

    def cmd_ask_anyway(self, rest: str) -> None:
        outcome = self.exchange.ask_anyway(self.actor)
        self.say(f'Asked as a new question: "{outcome.question.text}"')
        self.say_new(outcome)

    def cmd_accept(self, rest: str) -> None:
        question = self.exchange.accept_answer(self.actor)
        self.say(f"Glad {question.ref} answered it. Nothing was added to the queue.")

    def cmd_follow(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /follow Q-ID, for example /follow Q-3.")
        target = texts.question_id(rest)
        followed = self.exchange.follow(self.actor, target, self.offered.pop(target, None))
        self.offered.clear()
        ref = followed.question.ref
        if followed.answer is not None:
            self.say(
                f"You now follow {ref}. Its answer so far:\n  " + format_answer(followed.answer)
            )
        elif followed.position is not None:
            self.say(
                f"You now follow {ref}: {wait_on(followed.question.authorities, 'authority')} "
                f"on it, number {followed.position} in the queue. "
                "You will receive its answer."
            )
        else:
            self.say(
                f"You now follow {ref}; its answer is written and waits for the next "
                "release. You will receive it."
            )

    def cmd_search(self, rest: str) -> None:
        hits = self.exchange.search(rest)
        notes = self.exchange.search_notes(rest)
        if not hits and not notes:
            self.say("Nothing in the knowledge store matches that yet. You could /ask it.")
            return
        for hit in hits:
            self.say(self.line(hit.question))
            if hit.answer is not None:
                self.say("    " + format_answer(hit.answer).replace("\n", "\n    "))
        if notes:
            self.say("  Shared notes:")
        for note in notes:
            self.say("  " + self.note_line(note))

    @staticmethod
    def note_line(note: Note) -> str:
        return texts.note_line(note.ref, note.title, note.topic, note.authority, note.endorsed)

    @staticmethod
    def line(question: Question, position: int | None = None) -> str:
        status = texts.status_phrase(question.status.value, position)
        return f"  {question.ref} [{question.topic}, {status}] {question.text}"

    def cmd_mine(self, rest: str) -> None:
        mine = self.exchange.mine(self.actor)
        if not mine:
            self.say("You have no questions yet. Ask one with /ask.")
            return
        for item in mine:
            self.say(self.line(item.question, item.position))
            if item.answer is not None:
                self.say("    " + format_answer(item.answer).replace("\n", "\n    "))
        if any(item.answer is None for item in mine):
            self.say(self.release_due(self.exchange.next_release()))

    def cmd_withdraw(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /withdraw Q-ID; /mine lists your questions.")
        question = self.exchange.withdraw(self.actor, rest)
        if question.status is Status.WITHDRAWN:
            still = " and, as nobody else waits on it, it has left the expert's queue"
        elif question.status is Status.ANSWERED:
            still = "; you will not be sent later versions of its answer"
        else:
            still = f"; {wait_on(question.asks, 'other officer', still=True)} on it"
        self.say(f"You withdrew from {question.ref}{still}.")

    def cmd_queue(self, rest: str) -> None:
        entries = self.exchange.queue(self.actor)
        if not entries:
            self.say("The queue is empty: every question has an answer.")
            return
        self.say(f"{plural(len(entries), 'question')} waiting, most authorities first:")
        for entry in entries:
            question = entry.question
            self.say(
                f"  {entry.position}. {question.ref} [{question.topic}] {question.text}\n"
                f"     {plural(len(entry.authority_names), 'authority')} "
                f"({', '.join(entry.authority_names)}), {plural(question.asks, 'ask')}, "
                f"waiting {entry.waiting_days:.1f} days"
            )
            if help_ := entry.peer_help():
                self.say(f"     {help_}")
            for proposal in entry.proposals:
                self.say(
                    f"     {proposal.explain()}: /merge {question.ref} {proposal.target_ref}, "
                    f"or /distinct {question.ref} {proposal.target_ref}"
                )

    def cmd_answer(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /answer Q-ID TEXT, with any links after a |.")
        ref, _, text = rest.partition(" ")
        body, bar, link_text = text.partition(" | ")
        if not bar and text.rstrip().endswith(" |"):
            body, bar = text.rstrip()[:-2], "|"
        # No "|": an earlier draft keeps its links; a "|" with none after it removes them.
        links = link_text.split() if bar else None
        # (Refused before this for anyone but the expert, by `answer`, with its own reason.)
        earlier = self.exchange.draft(self.actor, ref) if self.actor.has(Role.EXPERT) else None
        answer = self.exchange.answer(self.actor, ref, body.strip(), links)
        if earlier is not None:
            self.say(replacing(earlier, links is not None))
        self.say(
            f"Answer saved for Q-{answer.question_id} (version {answer.version}); "
            "it goes out with the next /publish."
        )

    def cmd_merge(self, rest: str) -> None:
        try:
            words = [w for w in shlex.split(rest) if w.lower() != "into"]
        except ValueError:
            words = []
        if len(words) != 2:
            raise InvalidInput("Use /merge Q-ID INTO-Q-ID, for example /merge Q-7 Q-3.")
        target = self.exchange.merge(self.actor, words[0], words[1])
        self.say(
            f"Merged {words[0].upper()} into {target.ref}: "
            f"{wait_on(target.authorities, 'authority')} on it now, and the askers are told."
        )

    def cmd_distinct(self, rest: str) -> None:
        words = rest.split()
        if len(words) != 2:
            raise InvalidInput("Use /distinct Q-ID Q-ID, for example /distinct Q-7 Q-3.")
        self.exchange.distinct(self.actor, words[0], words[1])
        self.say(
            f"Noted: {words[0].upper()} and {words[1].upper()} are different questions; "
            "the proposed merge is dropped."
        )

    def cmd_sensitive(self, rest: str) -> None:
        words = rest.split()
        if len(words) not in (1, 2) or (len(words) == 2 and words[1].lower() != "off"):
            raise InvalidInput(
                "Use /sensitive Q-ID to mark an answer, /sensitive Q-ID off to lift it."
            )
        lift = len(words) == 2
        answer = self.exchange.mark_sensitive(self.actor, words[0], sensitive=not lift)
        self.say(texts.marked_message(f"Q-{answer.question_id}", answer.version, not lift))

    def cmd_reply(self, rest: str) -> None:
        ref, _, text = rest.strip().partition(" ")
        body, _, link_text = text.partition(" | ")
        if not ref or not body.strip():
            raise InvalidInput("Use /reply Q-ID TEXT, with any links after a |.")
        reply = self.exchange.reply(self.actor, ref, body, link_text.split())
        self.say(
            f"Thank you — your reply is {reply.ref} on Q-{reply.question_id}; "
            "the officers waiting on it are sent it, as a peer's experience."
        )

    def cmd_questions(self, rest: str) -> None:
        words = rest.split()
        page = 1
        if len(words) >= 2 and words[-2].lower() == "page":
            if not words[-1].isdigit() or int(words[-1]) < 1:
                raise InvalidInput("Pages are numbered from 1, for example /questions page 2.")
            page, words = int(words[-1]), words[:-2]
        which = "open"
        if words and words[-1].lower() in ("open", "answered", "all"):
            which, words = words[-1].lower(), words[:-1]
        topic = " ".join(words) or None
        size = 20
        listed, total = self.exchange.questions(topic, which, limit=size, offset=(page - 1) * size)
        if not listed:
            self.say("No questions match." if page == 1 else f"There is no page {page}.")
            return
        last = -(-total // size)
        self.say(f"{plural(total, 'question')} ({which}), page {page} of {last}:")
        for item in listed:
            q = item.question
            self.say(
                "  "
                + texts.listed_line(q.ref, q.topic, q.status.value, q.authorities, item.replies)
            )
            self.say(f"    {q.text}")

    def cmd_share(self, rest: str) -> None:
        topic = None
        found = _TOPIC.match(rest.strip())
        if found:
            topic, rest = found["topic"], found["text"]
        parts = [p.strip() for p in rest.split(" | ")]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise InvalidInput(
                "Use /share TITLE | TEXT, with any links after another |, and a [topic] first "
                "if you like: /share [procurement] Our PSN framework | What we learned ..."
            )
        links = " ".join(parts[2:]).split()
        note = self.exchange.share_note(self.actor, parts[0], parts[1], links, topic)
        self.say(f"Thank you — shared as {note.ref} under {note.topic}; /notes lists it.")

    def cmd_notes(self, rest: str) -> None:
        notes = self.exchange.notes(rest.strip() or None)
        if not notes:
            self.say("No shared notes yet. /share adds yours.")
            return
        for note in notes:
            self.say(self.note_line(note))
            self.say(f"  {note.text}" + "".join(f"\n  → {link}" for link in note.links))

    def cmd_endorse_note(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /endorse-note N-ID.")
        note = self.exchange.endorse_note(self.actor, rest.strip())
        self.say(f"{note.ref} is endorsed: it is listed first, marked as vouched for.")

    def cmd_hide_note(self, rest: str) -> None:
        ref, _, reason = rest.strip().partition(" ")
        if not ref or not reason.strip():
            raise InvalidInput("Use /hide-note N-ID REASON.")
        note = self.exchange.hide_note(self.actor, ref, reason)
        self.say(f"{note.ref} is hidden; the audit trail keeps why.")

    def cmd_replies(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /replies Q-ID.")
        question, replies = self.exchange.replies(rest.strip())
        if not replies:
            self.say(f"No peer replies to {question.ref} yet. /reply {question.ref} shares yours.")
            return
        for reply in replies:
            self.say(texts.peer_reply_heading(question.ref, reply.ref, reply.authority) + ":")
            self.say(f'  "{reply.text}"' + "".join(f"\n  → {link}" for link in reply.links))
            if marks := texts.reply_marks(reply.helpful, reply.solved):
                self.say(f"  ({marks})")

    def cmd_endorse(self, rest: str) -> None:
        ref, _, text = rest.strip().partition(" ")
        if not ref:
            raise InvalidInput("Use /endorse R-ID, or /endorse R-ID TEXT to edit it first.")
        answer = self.exchange.endorse(self.actor, ref, text.strip() or None)
        self.say(
            f"Endorsed: the answer to Q-{answer.question_id} (version {answer.version}) is now "
            "that reply, credited to its authority; it goes out with the next /publish."
        )

    def cmd_hide(self, rest: str) -> None:
        ref, _, reason = rest.strip().partition(" ")
        if not ref or not reason.strip():
            raise InvalidInput("Use /hide R-ID REASON (its author is told the reason).")
        reply = self.exchange.hide_reply(self.actor, ref, reason)
        self.say(f"{reply.ref} is hidden; its author is told why.")

    def cmd_helpful(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /helpful R-ID; /replies Q-ID lists the replies.")
        reply = self.exchange.mark_reply(self.actor, rest.strip())
        self.say(
            f"Noted: {reply.ref} helped you ({texts.reply_marks(reply.helpful, reply.solved)})."
        )

    def cmd_solved(self, rest: str) -> None:
        if not rest.strip():
            raise InvalidInput("Use /solved R-ID; /replies Q-ID lists the replies.")
        reply = self.exchange.mark_reply(self.actor, rest.strip(), solved=True)
        self.say(
            f"Noted: {reply.ref} answered your question, so your ask no longer waits in the "
            f"expert's queue. You still follow Q-{reply.question_id} and will get its answer."
        )

    def cmd_notify(self, rest: str) -> None:
        words = rest.lower().split()
        if words not in (["replies", "off"], ["replies", "on"]):
            raise InvalidInput("Use /notify replies off, or /notify replies on.")
        on = words[1] == "on"
        self.exchange.set_reply_notices(self.actor, on)
        self.say(
            "You will be sent peer replies to the questions you wait on."
            if on
            else "You will no longer be sent peer replies (/replies Q-ID still shows them)."
        )

    def cmd_reword(self, rest: str) -> None:
        ref, _, text = rest.strip().partition(" ")
        if not ref or not text.strip():
            raise InvalidInput("Use /reword Q-ID TEXT, for example /reword Q-7 How do we …?")
        question = self.exchange.reword(self.actor, ref, text)
        self.say(texts.reworded_message(question.ref, question.text))

    def cmd_unmerge(self, rest: str) -> None:
        words = rest.split()
        if len(words) != 1:
            raise InvalidInput("Use /unmerge Q-ID, for example /unmerge Q-7.")
        question = self.exchange.unmerge(self.actor, words[0])
        self.say(unmerged_message(question.ref, question.authorities))

    def cmd_digest(self, rest: str) -> None:
        self.say(self.exchange.digest_markdown(self.exchange.digest(self.actor)).rstrip())

    def cmd_mydata(self, rest: str) -> None:
        self.say(json.dumps(self.exchange.my_data(self.actor), indent=2, ensure_ascii=False))

    def cmd_forget_me(self, rest: str) -> None:
        kept = self.exchange.forget_me(self.actor)
        self.say(
            f"Done: your name and chat identity are erased. {plural(kept, 'question')} you asked "
            "stay in the exchange without your name, so their answers still help others."
        )

    def cmd_drafts(self, rest: str) -> None:
        for line in format_drafts(self.exchange.drafts(self.actor)):
            self.say(line)

    def cmd_discard(self, rest: str) -> None:
        words = rest.split()
        if len(words) != 1:
            raise InvalidInput("Use /discard Q-ID, for example /discard Q-7.")
        question = self.exchange.discard(self.actor, words[0])
        self.say(texts.discarded_message(question.ref, question.status.value))

    def cmd_publish(self, rest: str) -> None:
        release = self.exchange.publish(self.actor)
        self.say(
            f"Release {release.number} published: {plural(len(release.question_ids), 'answer')}, "
            f"{plural(release.deliveries_owed, 'delivery')} owed."
        )
