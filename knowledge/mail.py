"""The e-mail channel: an e-mail to the exchange is an ask; a reply to the exchange's own
message is a command (FOLLOW, ASK, THANKS, WITHDRAW, REPLY); answers owed to e-mail officers
are sent through the one outbox.

Every header is set through `email.message.EmailMessage` (never built as a string), so
nothing an officer writes can add a header. Message-IDs are derived from what they are
about, so the same reply or delivery sent twice carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import re
import secrets
import smtplib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from aiosmtpd.smtp import SMTP, Envelope, Session

from knowledge.addresses import Address, Channel
from knowledge.config import EmailSettings, Settings
from knowledge.errors import ExchangeError, InvalidInput, StoreError
from knowledge.exchange import Exchange
from knowledge.models import (
    Actor,
    Answer,
    AnsweredMatch,
    Delivery,
    Followed,
    NewQuestion,
    Notice,
    OpenMatch,
)
from knowledge.runner import ExchangeThread
from knowledge.text import (
    note_hidden_message,
    peer_reply_heading,
    question_ref,
    release_due,
    reply_hidden_message,
)
from knowledge.usecases.outbox import notice_places

log = logging.getLogger(__name__)

# Header values that mark mail no person wrote (RFC 3834, RFC 2919, common practice).
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
_AUTOMATIC_HEADERS = ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond")
_QUOTE_INTRO = re.compile(
    r"^(On .{3,200} wrote:|-+ ?Original Message ?-+|From: .+|_{10,})\s*$", re.IGNORECASE
)
_REF = re.compile(r"<psnx\.(?P<kind>[a-z]+)\.q(?P<question>\d+)(?:\.d(?P<draft>\d+))?\.")
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw)\s*:\s*)+", re.IGNORECASE)
COMMANDS = ("FOLLOW", "ASK", "THANKS", "SOLVED", "WITHDRAW", "REPLY")
_PRIVACY = re.compile(r"^\s*(?P<action>MY ?DATA|FORGET[ -]ME)\s*[.!]?\s*$", re.IGNORECASE)
_CONFIRM = re.compile(r"^\s*CONFIRM\s+(?P<code>\d{8})\s*$", re.IGNORECASE)
_AUTHORITY = re.compile(r"^\s*AUTHORITY\s*:?\s+(?P<name>\S.*?)\s*$", re.IGNORECASE)
# A question from a domain shared by many bodies waits this long for its sender to say
# which authority they work for; then it is forgotten.
PENDING_FOR = timedelta(days=7)
# How long a confirmation code for MYDATA or FORGET ME may be used (once).
CODE_VALID = timedelta(hours=1)


def read(raw: bytes) -> EmailMessage:
    """The e-mail in `raw`, parsed with the modern policy (headers decoded)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def automatic(message: EmailMessage, mail_from: str) -> str | None:
    """Why `message` must never be answered (a bounce, an auto-reply, list mail), or None."""
    if mail_from.strip() in ("", "<>"):
        return "null sender"
    submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    if submitted != "no":
        return "Auto-Submitted"
    if str(message.get("Precedence", "")).strip().lower() in _BULK_PRECEDENCE:
        return "Precedence"
    for header in _AUTOMATIC_HEADERS:
        if header in message:
            return header
    if message.get_content_type() == "multipart/report":
        return "delivery report"
    return None


def body_text(message: EmailMessage) -> str:
    """The plain-text body (or the HTML one, with its tags dropped)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    text = content if isinstance(content, str) else ""
    if part.get_content_type() == "text/html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return text


def own_words(text: str) -> str:
    """What the officer wrote: quoted replies and the signature cut off."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.rstrip() == "--" or _QUOTE_INTRO.match(line.strip()):
            break  # a signature ("-- ") or the quoted message below the reply
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def subject_words(subject: str) -> str:
    return _SUBJECT_PREFIX.sub("", subject).strip()


@dataclass(frozen=True, slots=True)
class Reference:
    """What an incoming reply refers to: one of the exchange's own messages."""

    question_id: int
    draft_id: int | None


def referenced(message: EmailMessage) -> Reference | None:
    """The exchange message this one replies to (In-Reply-To first, then References)."""
    for header in ("In-Reply-To", "References"):
        for found in _REF.finditer(str(message.get(header, ""))):
            draft = found.group("draft")
            return Reference(int(found.group("question")), int(draft) if draft else None)
    return None


def first_line_command(text: str) -> str | None:
    """FOLLOW, ASK, THANKS, SOLVED, WITHDRAW or REPLY, when the first line is just that
    word (after REPLY, the lines below are the officer's peer reply)."""
    first = text.strip().split("\n", 1)[0].strip().strip(".!").upper()
    return first if first in COMMANDS else None


def mail_domain(settings: EmailSettings) -> str:
    return settings.address.rpartition("@")[2] or "psn-exchange.invalid"


def message_id(settings: EmailSettings, kind: str, question_id: int, *parts: object) -> str:
    """A Message-ID that says what it is about; the same arguments give the same id."""
    draft = f".d{parts[0]}" if kind == "offer" and parts else ""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    return f"<psnx.{kind}.q{question_id}{draft}.{digest}@{mail_domain(settings)}>"


# -- what the replies say ----------------------------------------------------------------


def _answer_text(answer: Answer) -> str:
    lines = [answer.body, *(f"  - {link}" for link in answer.links)]
    if answer.release_number:
        lines.append(f"(release {answer.release_number}, version {answer.version})")
    return "\n".join(lines)


def _outcome_text(outcome: AnsweredMatch | OpenMatch | NewQuestion | Followed) -> str:
    if isinstance(outcome, AnsweredMatch):
        q = outcome.question
        return (
            f'Your question looks the same as {q.ref}, "{q.text}", which is answered:\n\n'
            f"{_answer_text(outcome.answer)}\n\n"
            "If this answers yours, reply THANKS. If not, reply ASK and we will put your "
            "question to the PSN expert."
        )
    if isinstance(outcome, OpenMatch):
        q = outcome.question
        return (
            f'Your question looks the same as {q.ref}, "{q.text}", which is waiting for '
            "the PSN expert.\n\nReply FOLLOW to wait on it and receive its answer, or reply "
            "ASK to ask yours as a new question anyway."
        )
    if isinstance(outcome, NewQuestion):
        q = outcome.question
        return (
            f"Thank you. Your question is {q.ref} and waits in the expert's queue at "
            f"position {outcome.position}. You will receive its answer by e-mail. "
            f"{release_due(outcome.next_release)}\n\n"
            "Reply WITHDRAW to withdraw it."
        )
    q = outcome.question
    if outcome.answer is not None:
        return f"You now follow {q.ref}. Its answer:\n\n{_answer_text(outcome.answer)}"
    return (
        f'You now follow {q.ref}, "{q.text}" (queue position {outcome.position}). '
        "You will receive its answer by e-mail."
    )


def compose(
    settings: EmailSettings,
    to: str,
    subject: str,
    text: str,
    msg_id: str,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> EmailMessage:
    """One e-mail from the exchange: plain text and HTML alternatives, every header set
    through EmailMessage (a header value with a line break is refused, not folded in)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = settings.address
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # user text: no line breaks
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = " ".join(filter(None, [references, in_reply_to]))
    message.set_content(text)
    escaped = html.escape(text).replace("\n", "<br>\n")
    message.add_alternative(f"<html><body><p>{escaped}</p></body></html>", subtype="html")
    return message


# -- receiving ---------------------------------------------------------------------------


class MailDesk:
    """Turns one incoming e-mail into a use case and its reply (or into nothing: mail
    from unknown domains, automatic mail and senders over their hourly limit are dropped
    unanswered). Runs on the exchange's thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.email
        self._recent: dict[str, deque[datetime]] = {}
        # Confirmation codes by sender: (action, code, valid until). Kept in memory only,
        # so nothing about a request outlives it; a restart means asking again.
        self._codes: dict[str, tuple[str, str, datetime]] = {}

    def receive(self, exchange: Exchange, raw: bytes, mail_from: str) -> EmailMessage | None:
        message = read(raw)
        why = automatic(message, mail_from)
        if why is not None:
            log.info("dropped an automatic e-mail (%s)", why)
            return None
        name, sender = parseaddr(str(message.get("From", "")))
        sender = sender.strip().lower()
        domain = sender.rpartition("@")[2]
        if not sender or "@" not in sender or domain not in self.settings.domains:
            log.info("dropped an e-mail from an unconfigured domain")
            return None
        if len(getaddresses([str(message.get("From", ""))])) != 1:
            return None
        if not self._within_limit(sender, exchange.clock()):
            log.info("dropped an e-mail over the hourly limit")
            return None
        actor = Actor(str(Address.email_user(sender)), name or sender)
        incoming_id = str(message.get("Message-ID", "")).strip()
        subject = subject_words(str(message.get("Subject", "")))
        words = own_words(body_text(message))
        ref = referenced(message)
        command = first_line_command(words) if ref else None
        offer: str | None = None
        first = words.split("\n", 1)[0] if words else subject
        private = self._own_data(exchange, actor, sender, first)
        try:
            if private is not None:
                text, question_id = private, 0
            else:
                text, question_id, offer = self._act(
                    exchange, actor, ref, command, subject, words, domain
                )
        except ExchangeError as refusal:
            # Refusals speak of slash commands; by e-mail the same thing is a new e-mail.
            text = str(refusal).replace("/ask", "a new e-mail").replace("/mine", "WITHDRAW")
            question_id = ref.question_id if ref else 0
        msg_id = offer or message_id(self.settings, "reply", question_id, incoming_id or raw)
        return compose(
            self.settings,
            sender,
            f"Re: {subject or 'your question'}",
            text,
            msg_id,
            in_reply_to=incoming_id or None,
            references=str(message.get("References", "")) or None,
        )

    def _own_data(self, exchange: Exchange, actor: Actor, sender: str, first: str) -> str | None:
        """MYDATA and FORGET ME, each only after a code sent to the sender's own address
        comes back (CONFIRM 12345678), so a forged From can neither export nor erase
        anyone. None when the e-mail is not about the sender's own data."""
        now = exchange.clock()
        asked = _PRIVACY.match(first)
        if asked:
            action = "forget" if asked["action"].upper().startswith("FORGET") else "export"
            code = f"{secrets.randbelow(10**8):08d}"
            self._codes[sender] = (action, code, now + CODE_VALID)
            what = (
                "erase your name and e-mail address from the PSN Exchange (your questions stay, "
                "anonymised)"
                if action == "forget"
                else "receive everything the PSN Exchange keeps about you"
            )
            return (
                f"To {what}, reply to this e-mail with this line alone:\n\nCONFIRM {code}\n\n"
                "The code works once, for an hour. If you did not ask for this, ignore this "
                "e-mail: nothing changes."
            )
        confirmed = _CONFIRM.match(first)
        if not confirmed:
            return None
        pending = self._codes.pop(sender, None)  # one try per code
        if (
            pending is None
            or pending[2] < now
            or not secrets.compare_digest(pending[1], confirmed["code"])
        ):
            return (
                "That code is not right, or has expired, or was used already; nothing was "
                "changed. Send MYDATA or FORGET ME again for a new code."
            )
        if pending[0] == "export":
            data = exchange.my_data(actor)
            return "Everything the PSN Exchange keeps about you:\n\n" + json.dumps(
                data, indent=2, ensure_ascii=False, default=str
            )
        self._take_pending(exchange, actor)  # a question still kept for them goes too
        kept = exchange.forget_me(actor)
        return (
            "Done: your name and e-mail address are erased. "
            f"{kept} question(s) you asked stay, anonymised, so their answers keep helping others."
        )

    def _within_limit(self, sender: str, now: datetime) -> bool:
        times = self._recent.setdefault(sender, deque())
        while times and times[0] <= now - timedelta(hours=1):
            times.popleft()
        if len(times) >= self.settings.hourly_limit:
            return False
        times.append(now)
        return True

    def _act(
        self,
        exchange: Exchange,
        actor: Actor,
        ref: Reference | None,
        command: str | None,
        subject: str,
        words: str,
        domain: str,
    ) -> tuple[str, int, str | None]:
        """What the e-mail asks for, done: the reply's text, the question it is about,
        and the Message-ID of an offer (a match the officer may FOLLOW or ASK past)."""
        if ref is not None and command == "FOLLOW":
            followed = exchange.follow(actor, ref.question_id, ref.draft_id)
            return _outcome_text(followed), followed.question.id, None
        if ref is not None and command == "ASK":
            new = exchange.ask_anyway(actor, ref.draft_id)
            return _outcome_text(new), new.question.id, None
        if ref is not None and command in ("THANKS", "SOLVED"):
            question = exchange.accept_answer(actor, ref.draft_id)
            return f"Thank you. {question.ref} is kept with your questions.", question.id, None
        if ref is not None and command == "REPLY":
            return self._peer_reply(exchange, actor, ref.question_id, words, domain)
        if ref is not None and command == "WITHDRAW":
            withdrawn = exchange.withdraw(actor, ref.question_id)
            return f"Your question {withdrawn.ref} is withdrawn.", withdrawn.id, None
        text = "\n\n".join(part for part in (subject, words) if part)
        authority = self.settings.domains[domain] or None
        if authority is None and exchange.authority_of(actor) is None:
            named = _AUTHORITY.match(words.split("\n", 1)[0] if words else "")
            if named is None:
                self._keep_pending(exchange, actor, text)
                return ASK_AUTHORITY, 0, None
            exchange.set_authority(actor, named["name"])
            pending = self._take_pending(exchange, actor)
            if pending is None:
                return (
                    f"Thank you: you are recorded as working for {named['name']}. "
                    "Send your question in a new e-mail.",
                    0,
                    None,
                )
            text = pending
        outcome = exchange.ask(actor, text, authority=authority)
        reply = _outcome_text(outcome)
        if isinstance(outcome, AnsweredMatch | OpenMatch):
            offer = message_id(self.settings, "offer", outcome.question.id, outcome.draft_id)
            return reply, outcome.question.id, offer
        return reply, outcome.question.id, None

    @staticmethod
    def _pending_key(actor: Actor) -> str:
        return f"email:pending:{actor.user_key}"

    def _keep_pending(self, exchange: Exchange, actor: Actor, text: str) -> None:
        """Keep a question until its sender names their authority (one per sender)."""
        kept = {"text": text, "at": exchange.clock().isoformat()}
        exchange.remember_front_end_fact(self._pending_key(actor), json.dumps(kept))

    def _take_pending(self, exchange: Exchange, actor: Actor) -> str | None:
        """The sender's kept question, if one is and it is recent; it is kept no more."""
        key = self._pending_key(actor)
        raw = exchange.front_end_fact(key)
        if not raw:
            return None
        exchange.remember_front_end_fact(key, "")
        kept = json.loads(raw)
        if datetime.fromisoformat(kept["at"]) < exchange.clock() - PENDING_FOR:
            return None
        return str(kept["text"])

    def _peer_reply(
        self, exchange: Exchange, actor: Actor, question_id: int, words: str, domain: str
    ) -> tuple[str, int, str | None]:
        """REPLY, then the officer's experience on the question the e-mail answers; lines
        that are only a web address are its links."""
        lines = words.strip().split("\n")[1:]
        links = [line.strip() for line in lines if re.fullmatch(r"https?://\S+", line.strip())]
        text = "\n".join(line for line in lines if line.strip() not in links).strip()
        if not text:
            raise InvalidInput(
                "Write your experience below REPLY (REPLY alone on the first line, then your "
                "text, then any links on lines of their own). Nothing was shared."
            )
        if exchange.authority_of(actor) is None:
            exchange.set_authority(actor, self.settings.domains[domain])
        shared = exchange.reply(actor, question_id, text, links)
        return (
            f"Thank you: your reply is {shared.ref} on {question_ref(question_id)}. The "
            "officers waiting on it are sent it, as a peer's experience.",
            question_id,
            None,
        )


ASK_AUTHORITY = (
    "Thank you for your question. Your e-mail domain is shared by several organisations, so "
    "please tell us which authority you work for: reply to this e-mail with a first line "
    "such as\n\nAUTHORITY Derbyshire Community Health Services NHS Foundation Trust\n\n"
    "Your question is kept for a week and asked as soon as we know; we ask only once."
)


# -- sending what the outbox owes --------------------------------------------------------


def delivery_message(settings: EmailSettings, delivery: Delivery, site: str = "") -> EmailMessage:
    """The e-mail for one owed delivery; its Message-ID depends only on the delivery's id,
    so a resend after a crash is recognisably the same message. An answer ends with its
    page on the web site, where `site` (web.base_url) is set."""
    to = Address.parse(delivery.recipient).id
    if delivery.kind == "note_hidden" and delivery.note is not None:
        note = delivery.note
        text = note_hidden_message(note.ref, note.title, note.hidden_reason)
        note_id = message_id(settings, "delivery", 0, delivery.id)
        return compose(settings, to, f"{note.ref}: your note was withdrawn", text, note_id)
    question = delivery.question
    assert question is not None  # every other delivery is about a question
    msg_id = message_id(settings, "delivery", question.id, delivery.id)
    if delivery.kind == "merged":
        text = (
            f"Your question Q-{delivery.merged_from} was the same as {question.ref}, "
            f'"{question.text}", so the expert merged them. You now wait on {question.ref} '
            "and will receive its answer."
        )
        return compose(settings, to, f"{question.ref}: merged", text, msg_id)
    if delivery.kind == "unmerged":
        text = (
            f'The expert found your question {question.ref}, "{question.text}", is not the '
            f"same as Q-{delivery.merged_from} after all, so it waits again in the queue on "
            "its own, and you will receive its answer."
        )
        return compose(settings, to, f"{question.ref}: its own question again", text, msg_id)
    if delivery.kind == "reply" and delivery.reply is not None:
        reply = delivery.reply
        links = "".join(f"\n{link}" for link in reply.links)
        text = (
            peer_reply_heading(question.ref, reply.ref, reply.authority)
            + f':\n\n{reply.text}{links}\n\n(The question: "{question.text}")'
        )
        return compose(settings, to, f"{question.ref}: a peer's experience", text, msg_id)
    if delivery.kind == "reply_hidden" and delivery.reply is not None:
        text = reply_hidden_message(question.ref, delivery.reply.ref, delivery.reply.hidden_reason)
        return compose(settings, to, f"{question.ref}: your reply was withdrawn", text, msg_id)
    assert delivery.answer is not None
    text = f'The answer to {question.ref}, "{question.text}":\n\n{_answer_text(delivery.answer)}'
    if site:
        text += f"\n\nOn the web, with its history and related questions: {site}/q/{question.ref}"
    return compose(settings, to, f"{question.ref}: answered", text, msg_id)


class Relay:
    """The organisation's mail relay, reached by SMTP as `[email]` says."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, context=context, timeout=30)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.smtp_user and s.smtp_password is not None:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def _permanent(error: Exception) -> bool:
    """Whether the relay refused for good (a 5xx reply): retrying cannot help."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", 0)
    return isinstance(code, int) and code >= 500


async def send_owed(
    thread: ExchangeThread,
    settings: EmailSettings,
    send: Callable[[EmailMessage], None],
    limit: int = 50,
    site: str = "",
) -> int:
    """Send what the outbox owes e-mail officers. Each delivery was recorded before this
    runs and is marked sent only after the relay took it, so a crash in between sends it
    again with the same Message-ID; a temporary failure backs off and is retried, a
    permanent one (5xx) is given up at once. Returns how many were sent."""
    owed = await thread.run(Exchange.owed_messages, Channel.EMAIL.prefix, (), limit)
    sent = 0
    for delivery in owed:
        if not isinstance(delivery, Delivery):
            continue
        message = delivery_message(settings, delivery, site)
        if await _send_one(thread, delivery.id, message, send):
            sent += 1
    return sent


NOTICE_SUBJECTS = {
    "digest": "PSN Exchange: steering group digest",
    "overdue": "PSN Exchange: a question has waited past the limit",
}


def notice_message(settings: EmailSettings, notice: Notice) -> EmailMessage:
    """The e-mail for one notice owed at an e-mail place (a steering recipient); its
    Message-ID depends only on the notice row, so a resend is recognisable."""
    to = Address.parse(notice.place or "").id
    subject = NOTICE_SUBJECTS.get(notice.kind, "PSN Exchange notice")
    return compose(settings, to, subject, notice.body, message_id(settings, "notice", 0, notice.id))


async def send_owed_notices(
    thread: ExchangeThread,
    settings: Settings,
    send: Callable[[EmailMessage], None],
    limit: int = 20,
) -> int:
    """Send the steering group's digests and overdue flags owed at e-mail addresses. A
    notice not yet placed is placed at every channel's places first (notice_places), so
    the Discord steering channels get their own copies. Returns how many were sent."""
    owed = await thread.run(Exchange.owed_messages, None, ("steering",), limit)
    mine: list[Notice] = []
    for notice in owed:
        if not isinstance(notice, Notice):
            continue
        if notice.place is None:
            places = notice_places(settings, notice.audience)
            mine += await thread.run(Exchange.place_notice, notice.id, places)
        else:
            mine.append(notice)
    sent = 0
    for notice in mine:
        if notice.place is None or not notice.place.startswith(Channel.EMAIL.prefix):
            continue
        if await _send_one(thread, notice.id, notice_message(settings.email, notice), send):
            sent += 1
    return sent


async def _send_one(
    thread: ExchangeThread,
    message_id: int,
    message: EmailMessage,
    send: Callable[[EmailMessage], None],
) -> bool:
    """Send one owed message and record the outcome (sent, retried later, or given up)."""
    try:
        await asyncio.to_thread(send, message)
    except (smtplib.SMTPException, OSError) as error:
        reason = f"{type(error).__name__} from the mail relay"
        log.warning("message %s not sent: %s", message_id, reason)
        if _permanent(error):
            await thread.run(Exchange.mark_undeliverable, message_id, reason)
        else:
            await thread.run(Exchange.mark_failed, message_id, reason)
        return False
    await thread.run(Exchange.mark_sent, message_id)
    return True


class Receiver:
    """The aiosmtpd handler: accepts mail for the exchange's own address only, hands each
    e-mail to the desk on the exchange's thread, and sends the desk's reply."""

    def __init__(
        self, thread: ExchangeThread, desk: MailDesk, send: Callable[[EmailMessage], None]
    ) -> None:
        self.thread = thread
        self.desk = desk
        self.send = send

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.strip().lower() != self.desk.settings.address.lower():
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            reply = await self.thread.run(self.desk.receive, raw, envelope.mail_from or "")
        except StoreError:
            return "451 4.3.0 The exchange is busy; please try again later"
        except Exception:  # a fault of ours: logged here, never told to the sender
            log.exception("an incoming e-mail could not be handled")
            return "451 4.3.0 Temporary failure; please try again later"
        if reply is not None:
            try:
                await asyncio.to_thread(self.send, reply)
            except (smtplib.SMTPException, OSError) as error:
                # The ask is kept (committed above); only this reply is lost.
                log.warning("reply not sent: %s", type(error).__name__)
        return "250 OK"


async def serve(
    receiver: Receiver,
    host: str,
    port: int,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Run the SMTP receiver until cancelled; `ready` hears the port it listens on."""
    limit = receiver.desk.settings.max_bytes
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(receiver, data_size_limit=limit, decode_data=False), host, port
    )
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


async def send_forever(
    thread: ExchangeThread,
    settings: Settings,
    send: Callable[[EmailMessage], None],
    every: float = 10.0,
) -> None:
    """Send what is owed now and every `every` seconds, until cancelled."""
    while True:
        try:
            await send_owed(thread, settings.email, send, site=settings.web.base_url)
            await send_owed_notices(thread, settings, send)
        except StoreError as error:
            log.warning("owed e-mail not read yet: %s", error)
        await asyncio.sleep(every)
