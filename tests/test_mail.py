"""The e-mail channel, against real SMTP: the exchange's receiver and the relay that takes
its outgoing mail are aiosmtpd servers on 127.0.0.1 (ports chosen by the OS), and officers
write with smtplib."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import smtplib
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from knowledge import mail
from knowledge.addresses import Address
from knowledge.cli import main
from knowledge.config import Settings
from knowledge.console import Console
from knowledge.exchange import Exchange
from knowledge.models import Actor, Delivery, Notice, Role
from knowledge.runner import ExchangeThread
from tests.botkit import DERBYSHIRE, Place, answer_and_publish, ask, deliver, run, running
from tests.conftest import EXPERT, STEERING, Clock
from tests.fakediscord import async_test

OWN = "questions@psn-exchange.test"
JO = "jo.bloggs@derbyshire.gov.uk"
CHAIR = "chair@steering.example"
QOS = "How is quality of service handled in PSN, and how many classes of service will there be?"
QOS_MAIL = "How will quality of service be handled on PSN and how many classes of service?"
COCO = "Will our GCSx Code of Connection compliance carry over when we move to PSN?"


class Loop:
    """An event loop on its own thread, for the servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def start(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class RelayServer:
    """The organisation's relay: keeps what it is given; can be told to refuse."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse
        self.received.append(mail.read(envelope.original_content or b""))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]


class World:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.loop = Loop()
        self.relay = RelayServer()

        async def relay_server() -> asyncio.Server:
            return await asyncio.get_running_loop().create_server(
                lambda: SMTP(self.relay), "127.0.0.1", 0
            )

        self.relay_server = self.loop.run(relay_server())
        relay_port = self.relay_server.sockets[0].getsockname()[1]
        email = settings.email.model_copy(
            update={
                "address": OWN,
                "domains": {
                    "derbyshire.gov.uk": "Derbyshire County Council",
                    "nottinghamcity.gov.uk": "Nottingham City Council",
                    "nhs.net": "",  # shared by many bodies: the authority is asked
                },
                "smtp_host": "127.0.0.1",
                "smtp_port": relay_port,
                "security": "none",
                "max_bytes": 5_000,
                "hourly_limit": 5,
                "steering_recipients": (CHAIR,),
            }
        )
        discord = settings.discord.model_copy(update={"steering_channel_id": 555})
        self.settings = settings.model_copy(update={"email": email, "discord": discord})
        self.thread = ExchangeThread(lambda: Exchange.open(self.settings, clock))
        self.sender = mail.Relay(email)
        self.receiver = mail.Receiver(self.thread, mail.MailDesk(self.settings), self.sender.send)
        ready = threading.Event()
        ports: list[int] = []

        def listening(port: int) -> None:
            ports.append(port)
            ready.set()

        self.serving = self.loop.start(mail.serve(self.receiver, "127.0.0.1", 0, listening))
        assert ready.wait(5)
        self.port = ports[0]

    def write(
        self,
        subject: str,
        body: str,
        sender: str = JO,
        *,
        mail_from: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> EmailMessage | None:
        """Send an e-mail to the exchange; the reply the relay received for it, if any."""
        message = EmailMessage()
        message["From"] = f"Jo Bloggs <{sender}>"
        message["To"] = OWN
        message["Subject"] = subject
        message["Message-ID"] = f"<m{len(self.relay.received)}.{id(message)}@derbyshire.gov.uk>"
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        before = len(self.relay.received)
        with smtplib.SMTP("127.0.0.1", self.port) as smtp:
            smtp.send_message(message, from_addr=sender if mail_from is None else mail_from)
        new = self.relay.received[before:]
        assert len(new) <= 1
        return new[0] if new else None

    def reply(self, to: EmailMessage, body: str, sender: str = JO) -> EmailMessage | None:
        return self.write(
            f"Re: {to['Subject']}",
            body,
            sender,
            headers={"In-Reply-To": to["Message-ID"], "References": to["Message-ID"]},
        )

    def send_owed(self) -> int:
        return int(
            self.loop.run(mail.send_owed(self.thread, self.settings.email, self.sender.send))
        )

    def close(self) -> None:
        self.serving.cancel()
        self.relay_server.close()
        self.thread.close()
        self.loop.close()


@pytest.fixture
def world(settings: Settings, clock: Clock) -> Iterator[World]:
    made = World(settings, clock)
    yield made
    made.close()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def on_console(exchange: Exchange, *lines: str) -> str:
    out = io.StringIO()
    assert Console(exchange, out, echo=True).run(lines) == 0
    return out.getvalue()


# -- asking by e-mail ---------------------------------------------------------------------


def test_an_email_is_an_ask_and_the_reply_says_its_id_and_queue_place(world: World) -> None:
    reply = world.write("Code of Connection", COCO + "\n\n-- \nJo Bloggs\nICT, Derbyshire")
    assert reply is not None
    assert reply["To"] == JO
    assert reply["In-Reply-To"].startswith("<m")
    assert reply["Auto-Submitted"] == "auto-replied"
    assert "Q-1" in text_of(reply)
    assert "position 1" in text_of(reply)
    assert reply.get_body(preferencelist=("html",)) is not None
    mine = world.thread.run_sync(Exchange.mine, mail_actor(JO))
    assert [m.question.text for m in mine] == [f"Code of Connection\n\n{COCO}"]
    assert world.thread.run_sync(Exchange.authority_of, mail_actor(JO)) == (
        "Derbyshire County Council"
    )


def questions(world: World) -> int:
    """How many questions the store holds (asked by any channel)."""

    def count(exchange: Exchange) -> int:
        return int(exchange.store.conn.execute("SELECT count(*) FROM questions").fetchone()[0])

    return world.thread.run_sync(count)


def mail_actor(address: str) -> Actor:
    return Actor(str(Address.email_user(address)), address)


def test_quoted_text_and_signatures_are_not_part_of_the_question() -> None:
    written = (
        "Will CoCo carry over?\nThanks\n\n-- \nJo\n01234 567890\n"
        "On Tue, 11 May 2010, Geoff wrote:\n> earlier text"
    )
    assert mail.own_words(written) == "Will CoCo carry over?\nThanks"
    assert mail.own_words("Yes\n> quoted\nmore") == "Yes\nmore"
    assert mail.own_words("FOLLOW\n\n-----Original Message-----\nFrom: x") == "FOLLOW"


@pytest.mark.parametrize(
    ("headers", "mail_from"),
    [
        ({"Auto-Submitted": "auto-replied"}, None),
        ({"Precedence": "bulk"}, None),
        ({"Precedence": "list"}, None),
        ({"Precedence": "junk"}, None),
        ({"List-Id": "<psn.lists.example>"}, None),
        ({}, ""),  # null sender: a bounce
    ],
)
def test_automatic_mail_is_never_answered_and_changes_nothing(
    world: World, headers: dict[str, str], mail_from: str | None
) -> None:
    assert world.write("Out of office", COCO, headers=headers, mail_from=mail_from) is None
    assert questions(world) == 0


def test_mail_from_an_unconfigured_domain_gets_nothing(world: World) -> None:
    assert world.write("CoCo", COCO, sender="someone@example.com") is None
    assert questions(world) == 0
    assert world.relay.received == []


def test_mail_for_another_mailbox_is_refused_at_rcpt(world: World) -> None:
    with (
        smtplib.SMTP("127.0.0.1", world.port) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        smtp.sendmail(JO, ["someone.else@psn-exchange.test"], b"Subject: x\r\n\r\nhello")


def test_too_big_an_email_is_refused_and_changes_nothing(world: World) -> None:
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        world.write("Big", "x " * 5_000)
    assert refused.value.smtp_code == 552
    assert questions(world) == 0


def test_a_sender_over_the_hourly_limit_is_dropped(world: World) -> None:
    for n in range(5):
        assert world.write(f"Question {n}", f"Is topic number {n} about PSN? {'x' * n}") is not None
    assert world.write("One more", "Will the sixth be answered at all?") is None


def test_bad_input_gets_a_kind_reply_and_changes_nothing(world: World) -> None:
    reply = world.write("", "")
    assert reply is not None
    assert "Q-" not in text_of(reply)
    assert questions(world) == 0


def test_a_header_cannot_be_injected_through_the_subject(world: World) -> None:
    # An encoded subject decodes to text with a line break and a Bcc "header" in it.
    raw = (
        f"From: Jo <{JO}>\r\nTo: {OWN}\r\nMessage-ID: <inj@derbyshire.gov.uk>\r\n"
        "Subject: =?utf-8?q?CoCo=0D=0ABcc:_victim@example.com?=\r\n\r\n"
        f"{COCO}\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", world.port) as smtp:
        smtp.sendmail(JO, [OWN], raw)
    (reply,) = world.relay.received
    again = mail.read(reply.as_bytes())
    assert again["Bcc"] is None
    assert "victim@example.com" in again["Subject"]  # kept as text, on the one line
    assert set(again.keys()) == {
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Auto-Submitted",
        "In-Reply-To",
        "References",
        "Content-Type",
        "MIME-Version",
    }


# -- the same conversation ------------------------------------------------------------------


def test_reply_ask_asks_anyway_and_withdraw_withdraws(world: World) -> None:
    world.thread.run_sync(
        Exchange.ask,
        mail_actor("pat@nottinghamcity.gov.uk"),
        QOS,
        authority="Nottingham City Council",
    )
    offer = world.write("QoS", QOS_MAIL)
    assert offer is not None
    assert "Reply FOLLOW" in text_of(offer)
    anyway = world.reply(offer, "ASK\n\n> quoted offer")
    assert anyway is not None
    assert "Q-2" in text_of(anyway)
    withdrawn = world.reply(anyway, "withdraw")
    assert withdrawn is not None
    assert "Q-2 is withdrawn" in text_of(withdrawn)
    again = world.reply(offer, "ASK")
    assert again is not None
    assert "already chosen" in text_of(again)


def test_a_shared_domains_sender_is_asked_their_authority_once_and_nothing_is_lost(
    world: World, clock: Clock
) -> None:
    nurse = "sam.lee@nhs.net"
    asked = world.write("Code of Connection", COCO, sender=nurse)
    assert asked is not None
    assert "please tell us which authority you work for" in text_of(asked)
    assert questions(world) == 0  # kept, not yet asked
    bad = world.reply(asked, "AUTHORITY " + "x" * 300, nurse)
    assert bad is not None
    assert questions(world) == 0  # a refused name changes nothing
    named = world.reply(asked, "AUTHORITY Derbyshire Community Health Services\n\n> quoted", nurse)
    assert named is not None
    assert "Your question is Q-1" in text_of(named)
    mine = world.thread.run_sync(Exchange.mine, mail_actor(nurse))
    assert [m.question.text for m in mine] == [f"Code of Connection\n\n{COCO}"]
    assert world.thread.run_sync(Exchange.authority_of, mail_actor(nurse)) == (
        "Derbyshire Community Health Services"
    )
    again = world.write("QoS", QOS_MAIL, sender=nurse)  # never asked twice
    assert again is not None
    assert "Your question is Q-2" in text_of(again)

    other = "kim.patel@nhs.net"
    world.write("Code of Connection", COCO, sender=other)
    clock.advance(days=8)
    late = world.write("Re: your question", "AUTHORITY Derby City PCT", sender=other)
    assert late is not None
    assert "Send your question in a new e-mail" in text_of(late)  # a week on, it is gone
    assert questions(world) == 2


def test_a_protectively_marked_email_is_refused_and_nothing_is_kept(world: World) -> None:
    refused = world.write("Gateway", "OFFICIAL-SENSITIVE: our firewall rule set for the PSN link")
    assert refused is not None
    assert "OFFICIAL-SENSITIVE" in text_of(refused)
    assert questions(world) == 0
    assert world.thread.run_sync(Exchange.mine, mail_actor(JO)) == []


def test_reply_shares_a_peer_reply_by_email_and_the_asker_is_sent_it(world: World) -> None:
    bob = mail_actor("pat@nottinghamcity.gov.uk")
    world.thread.run_sync(Exchange.ask, bob, QOS, authority="Nottingham City Council")
    offer = world.write("QoS", QOS_MAIL)
    assert offer is not None
    empty = world.reply(offer, "REPLY\n\n> the offer, quoted")
    assert empty is not None
    assert "Write your experience below REPLY" in text_of(empty)
    shared = world.reply(
        offer,
        "REPLY\nWe mark voice traffic EF at the edge and the PSN carrier honours it.\n"
        "https://www.gov.uk/guidance/psn-quality-of-service\n\n-- \nJo",
    )
    assert shared is not None
    assert "your reply is R-1 on Q-1" in text_of(shared)
    _, replies = world.thread.run_sync(Exchange.replies, "Q-1")
    assert [(r.text, r.links, r.authority) for r in replies] == [
        (
            "We mark voice traffic EF at the edge and the PSN carrier honours it.",
            ("https://www.gov.uk/guidance/psn-quality-of-service",),
            "Derbyshire County Council",
        )
    ]
    owed = world.thread.run_sync(Exchange.owed_deliveries, "email:")
    assert [(d.kind, d.recipient) for d in owed] == [("reply", "email:pat@nottinghamcity.gov.uk")]


def test_a_new_question_by_email_is_told_when_the_release_is_due(world: World) -> None:
    reply = world.write("Code of Connection", COCO)
    assert reply is not None
    assert "The next release of answers is due" in text_of(reply)


# -- an officer's own data ---------------------------------------------------------------


def code_in(message: EmailMessage) -> str:
    (line,) = [x for x in text_of(message).splitlines() if x.startswith("CONFIRM ")]
    return line.removeprefix("CONFIRM ")


def test_mydata_by_email_needs_the_code_sent_to_that_address(world: World) -> None:
    world.write("CoCo", COCO)
    asked = world.write("MYDATA", "")
    assert asked is not None
    assert asked["To"] == JO  # the code goes to the address, never to whoever sent it
    assert "Code of Connection" not in text_of(asked)
    code = code_in(asked)
    data = world.reply(asked, f"CONFIRM {code}")
    assert data is not None
    assert COCO in text_of(data)
    again = world.reply(asked, f"CONFIRM {code}")  # a code works once
    assert again is not None
    assert COCO not in text_of(again)
    assert "nothing was changed" in text_of(again)


def test_forget_me_by_email_erases_only_with_the_right_code_in_time(
    world: World, clock: Clock
) -> None:
    world.write("CoCo", COCO)
    asked = world.write("Please", "FORGET ME")
    assert asked is not None
    wrong = "00000000" if code_in(asked) != "00000000" else "11111111"
    refused = world.reply(asked, f"CONFIRM {wrong}")
    assert refused is not None
    assert "nothing was changed" in text_of(refused)
    assert world.thread.run_sync(Exchange.authority_of, mail_actor(JO)) is not None
    late = world.write("Please", "FORGET ME")
    assert late is not None
    clock.advance(hours=2)
    expired = world.reply(late, f"CONFIRM {code_in(late)}")
    assert expired is not None
    assert "nothing was changed" in text_of(expired)
    assert world.thread.run_sync(Exchange.is_known, mail_actor(JO))
    fresh = world.write("Please", "FORGET ME")
    assert fresh is not None
    done = world.reply(fresh, f"CONFIRM {code_in(fresh)}")
    assert done is not None
    assert "erased" in text_of(done)
    assert not world.thread.run_sync(Exchange.is_known, mail_actor(JO))
    assert questions(world) == 1  # the question stays, anonymised


# -- sending what is owed ------------------------------------------------------------------


def answered(world: World, ref: int, body: str) -> None:
    world.thread.run_sync(Exchange.set_authority, EXPERT, "Cabinet Office")
    world.thread.run_sync(Exchange.answer, EXPERT, ref, body)
    world.thread.run_sync(Exchange.publish, EXPERT)


def test_an_answer_owed_by_email_is_sent_once_with_a_stable_message_id(world: World) -> None:
    world.write("CoCo", COCO)
    answered(world, 1, "Yes, for the transition period.")
    assert world.send_owed() == 1
    assert world.send_owed() == 0
    (answer,) = [m for m in world.relay.to(JO) if "answered" in m["Subject"]]
    assert "Yes, for the transition period." in text_of(answer)
    assert answer["Message-ID"].startswith("<psnx.delivery.q1.")


SEND_THEN_DIE = """
import asyncio, os, signal, sys
from pathlib import Path
from knowledge import mail
from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.runner import ExchangeThread

settings = Settings.model_validate_json(Path(sys.argv[1]).read_text(encoding="utf-8"))
thread = ExchangeThread(lambda: Exchange.open(settings))
relay = mail.Relay(settings.email)

def send_then_die(message):
    relay.send(message)  # the relay has it; the outbox has not yet marked it sent
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(mail.send_owed(thread, settings.email, send_then_die))
"""


def test_a_sender_killed_between_send_and_mark_resends_with_the_same_message_id(
    world: World, tmp_path: Path
) -> None:
    world.write("CoCo", COCO)
    answered(world, 1, "Yes.")
    saved = tmp_path / "settings.json"
    saved.write_text(world.settings.model_dump_json(), encoding="utf-8")

    killed = subprocess.run(
        [sys.executable, "-c", SEND_THEN_DIE, str(saved)], capture_output=True, timeout=60
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert len([m for m in world.relay.to(JO) if "answered" in m["Subject"]]) == 1
    assert world.send_owed() == 1  # still owed: sent again
    first, second = [m for m in world.relay.to(JO) if "answered" in m["Subject"]]
    assert first["Message-ID"] == second["Message-ID"]
    assert world.send_owed() == 0


def test_a_fault_while_reading_an_email_is_a_temporary_failure_and_says_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(world.receiver.desk, "receive", broken)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        world.write("CoCo", COCO)
    assert refused.value.smtp_code == 451
    assert b"secret" not in refused.value.smtp_error
    assert questions(world) == 0


def test_a_temporary_refusal_is_retried_and_a_permanent_one_given_up(
    world: World, clock: Clock
) -> None:
    world.write("CoCo", COCO)
    answered(world, 1, "Yes.")
    world.relay.refuse = "451 4.3.0 try later"
    assert world.send_owed() == 0
    world.relay.refuse = None
    assert world.send_owed() == 0  # backing off
    clock.advance(hours=1)
    assert world.send_owed() == 1

    world.write("Another", "How many classes of service will the PSN carry?")
    answered(world, 2, "Four.")
    world.relay.refuse = "550 5.1.1 no such user"
    assert world.send_owed() == 0
    world.relay.refuse = None
    clock.advance(days=2)
    assert world.send_owed() == 0  # given up: an admin retries it
    admin = Actor("test:ada", "Ada", frozenset({Role.OFFICER, Role.ADMIN}))
    (failing,) = world.thread.run_sync(Exchange.failing_messages, admin)
    assert "SMTPDataError" in str(failing)
    assert world.thread.run_sync(Exchange.retry_given_up, admin) == 1
    assert world.send_owed() == 1


def test_delivery_message_ids_differ_per_delivery_and_repeat_for_the_same(
    world: World,
) -> None:
    world.write("CoCo", COCO)
    answered(world, 1, "Yes.")
    owed = world.thread.run_sync(Exchange.owed_deliveries, "email:")
    (delivery,) = owed
    assert isinstance(delivery, Delivery)
    one = mail.delivery_message(world.settings.email, delivery)
    two = mail.delivery_message(world.settings.email, delivery)
    assert one["Message-ID"] == two["Message-ID"]


def test_the_digest_goes_to_steering_recipients_by_email_and_to_discord_too(
    world: World,
) -> None:
    world.write("CoCo", COCO)
    world.thread.run_sync(Exchange.send_digest, STEERING)
    assert (
        world.loop.run(mail.send_owed_notices(world.thread, world.settings, world.sender.send)) == 1
    )
    assert (
        world.loop.run(mail.send_owed_notices(world.thread, world.settings, world.sender.send)) == 0
    )
    (digest,) = world.relay.to(CHAIR)
    assert digest["Subject"] == "PSN Exchange: steering group digest"
    assert digest["Message-ID"].startswith("<psnx.notice.")
    assert "**1 ask** in this period" in text_of(digest)
    assert "Derbyshire County Council" in text_of(digest)
    owed = world.thread.run_sync(Exchange.owed_messages, None, ("steering",))
    assert [n.place for n in owed if isinstance(n, Notice)] == ["discord:channel:555"]


# -- the story -----------------------------------------------------------------------------


def test_story_an_email_officer_follows_a_console_officers_question(world: World) -> None:
    asked = world.thread.run_sync(on_console, "/as Bob @ Nottingham City Council", f"/ask {QOS}")
    assert "Q-1" in asked
    offer = world.write("Quality of service", QOS_MAIL)
    assert offer is not None
    assert "Q-1" in text_of(offer)
    assert "Reply FOLLOW" in text_of(offer)
    followed = world.reply(offer, "FOLLOW\n\nJo\n\nOn Tue, the exchange wrote:\n> ...")
    assert followed is not None
    assert "You now follow Q-1" in text_of(followed)
    assert offer["Message-ID"] in followed["References"].split()  # threaded

    answered(world, 1, "Four classes of service: EF, AF, BE and scavenger.")
    assert world.send_owed() == 1
    assert world.send_owed() == 0
    answers = [m for m in world.relay.to(JO) if "answered" in m["Subject"]]
    assert len(answers) == 1
    assert "Four classes of service" in text_of(answers[0])
    seen = world.thread.run_sync(on_console, "/as Bob @ Nottingham City Council", "/mine")
    again = world.thread.run_sync(on_console, "/as Bob @ Nottingham City Council", "/mine")
    assert seen.count("📬 to Bob: answer to Q-1 ") == 1
    assert "📬" not in again


def test_mail_from_several_addresses_at_once_is_dropped(world: World) -> None:
    message = EmailMessage()
    message["From"] = f"{JO}, other@derbyshire.gov.uk"
    message["To"] = OWN
    message["Subject"] = "CoCo"
    message.set_content(COCO)
    with smtplib.SMTP("127.0.0.1", world.port) as smtp:
        smtp.send_message(message, from_addr=JO)
    assert world.relay.received == []
    assert questions(world) == 0


def test_when_the_reply_cannot_be_sent_the_ask_is_kept(world: World) -> None:
    world.relay.refuse = "451 4.3.0 try later"
    assert world.write("CoCo", COCO) is None
    assert questions(world) == 1


def test_the_mail_command_stops_with_a_clear_message_when_email_is_off(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "x.db"}"\n', encoding="utf-8")
    assert main(["mail", "--config", str(config)]) == 2
    assert "[email] address" in capsys.readouterr().err
    config.write_text(
        f'[database]\npath = "{tmp_path / "x.db"}"\n[email]\naddress = "{OWN}"\n'
        '[email.domains]\n"derbyshire.gov.uk" = "Derbyshire County Council"\n',
        encoding="utf-8",
    )
    assert main(["mail", "--config", str(config)]) == 2
    assert "smtp_host" in capsys.readouterr().err


def test_peer_replies_and_unmerges_reach_an_e_mail_officer_as_mail(
    settings: Settings, clock: Clock
) -> None:
    exchange = Exchange.open(settings, clock)
    try:
        rita = Actor(str(Address.email_user("rita@rutland.gov.uk")), "rita@rutland.gov.uk")
        exchange.set_authority(rita, "Rutland County Council")
        hana = Actor("test:hana", "Hana")
        exchange.set_authority(hana, "Hampshire County Council")
        exchange.set_authority(EXPERT, "Cabinet Office")
        asked = exchange.ask(rita, "Will our GCSx Code of Connection compliance carry over?")
        other = exchange.ask(hana, "How is quality of service handled in the PSN?")
        q1, q2 = asked.question, other.question  # type: ignore[union-attr]
        exchange.reply(hana, q1.ref, "We carried ours across with the last submission.")
        exchange.merge(EXPERT, q1.ref, q2.ref)
        exchange.unmerge(EXPERT, q1.ref)

        owed = exchange.owed_deliveries("email:")
        mails = {d.kind: mail.delivery_message(settings.email, d) for d in owed}
        assert set(mails) == {"reply", "merged", "unmerged"}
        reply = mails["reply"]
        assert reply["Subject"] == f"{q1.ref}: a peer's experience"
        body = reply.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "A peer's experience on Q-1 (R-1, from Hampshire County Council)" in text
        assert "not the Cabinet Office answer" in text
        assert mails["unmerged"]["Subject"] == f"{q1.ref}: its own question again"
    finally:
        exchange.close()


@async_test
async def test_story_an_email_officer_follows_a_discord_officers_question(place: Place) -> None:
    """Issue 17's story: two officers, one on e-mail and one on Discord (fake), ask the same
    question in different words; the e-mail officer is offered the Discord officer's question
    and follows it by replying FOLLOW; the expert publishes; both receive the answer once."""
    from knowledge.unit_of_work import utc_now

    post = World(place.settings, utc_now)  # the e-mail channel, on the bot's own database
    pat = "pat.jones@nottinghamcity.gov.uk"
    try:
        async with running(place) as fake:
            alice = fake.member("Alice")
            geoff = fake.member("Geoff", roles=["PSN Expert"])
            await ask(fake, alice, QOS, channel=place.general, authority=DERBYSHIRE)

            offer = post.write("Quality of service", QOS_MAIL, sender=pat)
            assert offer is not None
            assert 'the same as Q-1, "How is quality of service handled' in text_of(offer)
            assert "Reply FOLLOW" in text_of(offer)
            followed = post.reply(offer, "FOLLOW\n\nPat\n\nOn Tue, the exchange wrote:\n> …", pat)
            assert followed is not None
            assert "You now follow Q-1" in text_of(followed)
            question, _ = run(fake, Exchange.question, "Q-1")
            assert question.authorities == 2  # one question, both authorities waiting

            await answer_and_publish(fake, geoff, "Q-1", place.general)
            await deliver(fake)
            await deliver(fake)
            on_discord = [m for m in fake.dms(alice) if "Answered: Q-1" in m.text]
            assert len(on_discord) == 1
            assert post.send_owed() == 1
            assert post.send_owed() == 0
            by_mail = [m for m in post.relay.to(pat) if m["Subject"] == "Q-1: answered"]
            assert len(by_mail) == 1
            assert "Asked by" not in text_of(by_mail[0])  # the answer, not the thread post
            assert "(release 1, version 1)" in text_of(by_mail[0])
            _keep_for_a_person(post.relay.to(pat))
    finally:
        post.close()


def _keep_for_a_person(mails: list[EmailMessage]) -> None:
    """With KEEP_MAILS=FILE, the e-mails as sent, for a person to read (the closing note)."""
    keep = os.environ.get("KEEP_MAILS")
    if keep:
        Path(keep).write_text("\n\n".join(m.as_string() for m in mails), encoding="utf-8")
