"""`psn-exchange`: the command line. Parses, calls the exchange, prints; nothing else.

Whoever can run these commands can open the database file, so the command line acts
with the expert's and the admin's rights.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge import text as texts
from knowledge.config import (
    DEFAULT_CONFIG,
    ConfigError,
    Settings,
    discord_token,
    load_settings,
)
from knowledge.errors import ExchangeError, InvalidInput
from knowledge.exchange import Exchange
from knowledge.importer import OPTIONAL, REQUIRED
from knowledge.models import Actor, Role, drafts_digest
from knowledge.text import discarded_message, plural, question_ref, unmerged_message, wait_on

if TYPE_CHECKING:
    from knowledge.importer import ImportReport

OPERATOR = Actor("cli:operator", "command line", frozenset({Role.OFFICER, Role.EXPERT, Role.ADMIN}))

log = logging.getLogger("knowledge.cli")


def _settings(args: argparse.Namespace) -> Settings:
    if args.config is None and not DEFAULT_CONFIG.exists():
        log.warning("no config.toml here and no --config: using the built-in defaults")
    settings = load_settings(args.config)
    if getattr(args, "db", None) is not None:
        database = settings.database.model_copy(update={"path": args.db})
        settings = settings.model_copy(update={"database": database})
    return settings


def _existing(settings: Settings) -> Path:
    """The database path, which must exist (commands that only read it never create one)."""
    path = settings.database.path
    if not path.exists():
        raise ExchangeError(
            f"There is no database at {path}. Check --db or database.path "
            "(the console or an import creates one)."
        )
    return path


@contextmanager
def _opened(
    args: argparse.Namespace, *, create: bool = True, reading: bool = False
) -> Iterator[Exchange]:
    """The exchange on the chosen database, closed after use; commands that only read it
    need it to exist, and (`reading`) still work where it may not be written."""
    settings = _settings(args)
    read_only = False
    if not create:
        path = _existing(settings)
        read_only = reading and not _can_write(path)
    shown = False

    def progress(line: str) -> None:  # on a terminal only: a log or a pipe gets no \r lines
        nonlocal shown
        if sys.stderr.isatty():
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
            shown = True

    exchange = Exchange.open(settings, progress=progress, read_only=read_only)
    if shown:
        print(file=sys.stderr)
    try:
        yield exchange
    finally:
        exchange.close()


def _can_write(path: Path) -> bool:
    """Whether this process may write the database (SQLite also writes beside it)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _in_zone(moment: datetime | None, zone: tzinfo) -> datetime | None:
    """A --since/--until value without a timezone is in the configured one."""
    return moment.replace(tzinfo=zone) if moment is not None and moment.tzinfo is None else moment


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("it needs a folder to write the site to")
    return Path(text)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: choose 1 to 65535")
    return value


MAX_COUNT = 1_000_000  # --top, --limit: more than any queue, far below SQLite's integers


def _count(text: str) -> int:
    """A --top or --limit value: a whole number from 1 to MAX_COUNT."""
    try:
        value = int(text)
    except ValueError:  # not a number, or one of more than 4,300 digits
        value = MAX_COUNT + 1 if text.strip().lstrip("+").isdecimal() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number of 1 or more")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is too large; use a whole number up to {MAX_COUNT:,}"
        )
    return value


def _text(text: str) -> str:
    """A text argument: it must be UTF-8 (a shell passes any other bytes on as they are)."""
    if not texts.is_text(text):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} has bytes that are not UTF-8 text; please type it again"
        )
    return text


def _shown(path: Path) -> str:
    """A path as it can be printed: bytes in its name that are not UTF-8 show as �."""
    return os.fsencode(path).decode("utf-8", "replace")


def cmd_console(args: argparse.Namespace) -> int:
    from knowledge.console import Console

    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())
    if isinstance(sys.stdin, io.TextIOWrapper):
        # A byte that is not UTF-8 reaches the console as a lone surrogate, which it refuses.
        sys.stdin.reconfigure(errors="surrogateescape")

    def lines(console: Console) -> object:
        while True:
            if interactive:
                try:
                    yield input(console.prompt)
                except EOFError:
                    print()
                    return
            else:
                line = sys.stdin.readline()
                if not line:
                    return
                yield line

    with _opened(args) as exchange:
        if interactive:
            print("PSN Exchange console — type /help for commands, /quit to leave.")
            print("Start with: /as YOUR NAME @ YOUR AUTHORITY")
        console = Console(exchange, sys.stdout, echo=not interactive)
        return console.run(lines(console))  # type: ignore[arg-type]


def _site_folder(folder: Path) -> Path:
    """Where `web --build` may write: a new or empty folder, or an earlier build."""
    if folder.exists() and not folder.is_dir():
        raise ExchangeError(f"{_shown(folder)} is a file: --build needs a folder.")
    earlier = (folder / "static" / "site.css").exists() and (folder / "index.html").exists()
    if folder.is_dir() and any(folder.iterdir()) and not earlier:
        raise ExchangeError(
            f"{_shown(folder)} already holds other files. Choose a new or empty folder "
            "(or one an earlier --build wrote), so nothing else is overwritten."
        )
    return folder


def cmd_web(args: argparse.Namespace) -> int:
    from knowledge.store import Store

    settings = _settings(args)
    path = _existing(settings)
    if _can_write(path):
        Store.open(path).close()  # brought up to date after an upgrade; the site only reads
    Store.open(path, read_only=True).close()  # a database, readable
    if args.build is not None:
        from knowledge.web.build import build
        from knowledge.web.pages import Pages

        folder = _site_folder(args.build)
        exchange = Exchange.open(settings, read_only=True)
        try:
            count = build(
                Pages(exchange.site, settings, static=True),
                folder,
                lambda n: (
                    print(f"\r{n} pages written", end="", file=sys.stderr, flush=True)
                    if sys.stderr.isatty()
                    else None
                ),
            )
        except OSError as error:
            raise ExchangeError(
                f"Could not write the site to {_shown(folder)}: {error.strerror}. "
                "Choose a folder you can write to."
            ) from None
        finally:
            exchange.close()
        print(f"wrote {count} files to {_shown(folder)}")
        return 0
    from knowledge.web.app import serve

    host = args.host or settings.web.host
    port = args.port or settings.web.port
    print(f"serving the knowledge base read-only on http://{host}:{port}/", file=sys.stderr)
    serve(settings, host, port)
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    import asyncio

    from knowledge import mail
    from knowledge.runner import ExchangeThread

    settings = _settings(args)
    if not settings.email.address or not settings.email.domains:
        print(
            "error: the e-mail channel is off: set [email] address and at least one "
            "[email.domains] entry in config.toml",
            file=sys.stderr,
        )
        return 2
    if not settings.email.smtp_host:
        print("error: [email] smtp_host is not set: replies could not be sent", file=sys.stderr)
        return 2
    thread = ExchangeThread(lambda: Exchange.open(settings))
    relay = mail.Relay(settings.email)
    receiver = mail.Receiver(thread, mail.MailDesk(settings), relay.send)

    async def both() -> None:
        def ready(port: int) -> None:
            print(f"receiving e-mail on {args.host}:{port}", file=sys.stderr)

        await asyncio.gather(
            mail.serve(receiver, args.host, args.port, ready),
            mail.send_forever(thread, settings, relay.send),
        )

    try:
        asyncio.run(both())
    except KeyboardInterrupt:
        pass
    finally:
        thread.close()
    return 0


NO_TOKEN = """\
error: DISCORD_TOKEN is not set, so the bot cannot log in to Discord.
  1. Create an application at https://discord.com/developers/applications
  2. On its Bot page, reset and copy the token.
  3. export DISCORD_TOKEN=<the token>   (never put it in config.toml)
The README's "Running the Discord bot" section has the whole setup.
To try the exchange without Discord, run: psn-exchange console"""


def cmd_run(args: argparse.Namespace) -> int:
    """Start the Discord bot (the adapter lives in bot/; imported only here)."""
    token = discord_token()
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.app import run

    return run(_settings(args), token, sync=args.sync)


def _large(path: Path) -> bool:
    """A file of more than a few hundred rows (a helper process pays off)."""
    try:
        return path.stat().st_size > 100_000
    except OSError:
        return False


def cmd_import(args: argparse.Namespace) -> int:
    from knowledge.helper import ImportHelper
    from knowledge.importer import import_file

    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show and (done == total or done % 25 == 0):
            print(f"\rimporting {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    created = _writable(args.report) if args.report else False
    settings = _settings(args)
    database = settings.database.path
    fresh = not database.exists()
    helped = _large(args.file) and ImportHelper.worth_it(settings) and not args.one_process
    helper = None
    try:
        if helped and not fresh:
            # Another process decides a share of each batch; it builds its matcher while
            # this one builds its own and reads the file. (A database that needs upgrading
            # first is one it cannot open: this process then decides every row.)
            helper = ImportHelper(settings)
        with _opened(args) as exchange:
            if helped and helper is None:  # it opens the database this one has just made
                helper = ImportHelper(settings)
            report = import_file(
                exchange,
                OPERATOR,
                args.file,
                skip_bad=args.skip_bad,
                progress=progress,
                each_row=args.report is not None,
                helper=helper,
            )
    except BaseException:
        if created:  # nothing was imported: leave no empty report behind
            args.report.unlink(missing_ok=True)
        if fresh:  # nor an empty database made only for it
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        if helper is not None:
            helper.close()
    if show:
        print(file=sys.stderr)
    new = report.new + report.proposed
    summary = f"{plural(new, 'new question')}"
    if report.proposed:
        summary += (
            f" ({report.proposed} likely the same as an existing question, in other words: "
            "merges proposed to the expert, see `psn-exchange queue`)"
        )
    summary += f", {report.joined} joined an existing question in the same words"
    if report.present:
        summary += f", {report.present} already there (skipped)"
    print(summary + ".")
    if args.report:
        _write_report(args.report, report)
        print(f"what became of each row: {_shown(args.report)}")
    if report.answered:
        print(
            f"{plural(report.answered, 'answer')} imported and published as release "
            f"{report.release}."
        )
    for problem in report.skipped:
        print(f"skipped {problem}")
    return 0


def _writable(path: Path) -> bool:
    """Refuse, before anything is imported, a report file that cannot be written; True if
    the check created it (so a failed import can remove it again)."""
    existed = path.exists()
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise InvalidInput(
            f"Cannot write the report to {_shown(path)} ({error.strerror or error}); "
            "nothing was imported. Choose a file in a folder you can write to."
        ) from None
    return not existed


def _write_report(path: Path, report: ImportReport) -> None:
    lines = (
        json.dumps(
            {
                "line": row.line,
                "outcome": row.outcome,
                "question": question_ref(row.question_id),
                "best_match": None if row.best is None else question_ref(row.best),
                "score": None if row.score is None else round(row.score, 2),
                "differs": row.differs,
            }
        )
        for row in report.rows
    )
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def cmd_export(args: argparse.Namespace) -> int:
    from knowledge.export import RENDERERS

    with _opened(args, create=False, reading=True) as exchange:
        # Every format carries the shared notes after the answers, labelled as peers' learning.
        text = RENDERERS[args.format](
            exchange.knowledge_base(),
            exchange.notes(limit=10_000),
            exchange.settings.web.base_url,  # each answer links to its page, where set
        )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(args.output)}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from knowledge.export import AUDIT_RENDERERS

    with _opened(args, create=False, reading=True) as exchange:
        zone = exchange.settings.schedule.zone
        entries = exchange.audit(
            OPERATOR,
            since=_in_zone(args.since, zone),
            until=_in_zone(args.until, zone),
            question=args.question,
            actor_key=args.actor,
        )
    text = AUDIT_RENDERERS[args.format](entries, zone)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(args.output)} ({plural(len(entries), 'entry')})")
    else:
        sys.stdout.write(text)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from knowledge.batchmatch import run_batch_match

    settings = _settings(args)
    run_batch_match(args.corpus, args.queries, args.top, settings.matching, sys.stdout, sys.stderr)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from knowledge.calibration import to_text

    with _opened(args, create=False, reading=True) as exchange:
        since = _in_zone(args.since, exchange.settings.schedule.zone)
        report = exchange.suggestion_report(OPERATOR, since, args.mode)
    sys.stdout.write(to_text(report))
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    with _opened(args, create=False, reading=not args.retry) as exchange:
        if args.retry:
            retried = exchange.retry_given_up(OPERATOR)
            print(
                f"{plural(retried, 'message')} given a fresh round of attempts; "
                "the running bot picks them up at its next poll."
                if retried
                else "Nothing had been given up on."
            )
            return 0
        failing = exchange.failing_messages(OPERATOR)
    if not failing:
        print("Every owed message is going out: none has failed.")
        return 0
    for message in failing:
        state = "GAVE UP" if message.given_up else "retrying"
        print(
            f"{message.table} {message.id}: {message.what} for {message.recipient}, "
            f"{plural(message.attempts, 'failed attempt')} ({state}), owed since "
            f"{message.created_at:%Y-%m-%d %H:%M}\n    last error: {message.last_error}"
        )
    given_up = sum(m.given_up for m in failing)
    if given_up:
        print(
            f"\n{plural(given_up, 'message')} given up on. Fix the cause (the last error says "
            "what Discord refused), then run `psn-exchange deliveries --retry`."
        )
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    with _opened(args, create=False, reading=True) as exchange:
        entries = exchange.queue(OPERATOR, limit=args.limit)
    if not entries:
        print("The queue is empty.")
    for entry in entries:
        q = entry.question
        print(
            f"{entry.position:>4}. {q.ref:<7} {plural(len(entry.authority_names), 'authority')}, "
            f"{plural(q.asks, 'ask')}, waiting {entry.waiting_days:.1f} days [{q.topic}]\n"
            f"       {q.text}"
        )
        for proposal in entry.proposals:
            print(
                f"       {proposal.explain()}: psn-exchange merge {q.ref} "
                f"{proposal.target_ref}, or psn-exchange distinct {q.ref} {proposal.target_ref}"
            )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        target = exchange.merge(OPERATOR, args.question, args.into)
    print(
        f"Merged {args.question.upper()} into {target.ref}: "
        f"{wait_on(target.authorities, 'authority')} on it now, and the askers are told."
    )
    return 0


def cmd_sensitive(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        answer = exchange.mark_sensitive(OPERATOR, args.question, sensitive=not args.off)
    print(texts.marked_message(f"Q-{answer.question_id}", answer.version, not args.off))
    return 0


def cmd_reword(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        question = exchange.reword(OPERATOR, args.question, args.text)
    print(texts.reworded_message(question.ref, question.text))
    return 0


def cmd_unmerge(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        question = exchange.unmerge(OPERATOR, args.question)
    print(unmerged_message(question.ref, question.authorities))
    return 0


def cmd_distinct(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        exchange.distinct(OPERATOR, args.question, args.other)
    print(
        f"Noted: {args.question.upper()} and {args.other.upper()} are different questions; "
        "the proposed merge is dropped."
    )
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    from knowledge.console import replacing

    # No --link: an earlier draft keeps its links; --no-links removes them.
    links = () if args.no_links else (args.link or None)
    with _opened(args, create=False) as exchange:
        earlier = exchange.draft(OPERATOR, args.question)
        answer = exchange.answer(OPERATOR, args.question, args.text, links)
    if earlier is not None:
        print(replacing(earlier, links is not None))
    print(
        f"Answer saved for Q-{answer.question_id} (version {answer.version}); "
        "`psn-exchange publish` releases it."
    )
    return 0


def cmd_drafts(args: argparse.Namespace) -> int:
    from knowledge.console import format_drafts

    with _opened(args, create=False, reading=True) as exchange:
        drafts = exchange.drafts(OPERATOR)
    print("\n".join(format_drafts(drafts)))
    return 0


def cmd_discard(args: argparse.Namespace) -> int:
    with _opened(args, create=False) as exchange:
        question = exchange.discard(OPERATOR, args.question)
    print(discarded_message(question.ref, question.status.value))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from knowledge.console import format_drafts

    with _opened(args, create=False) as exchange:
        drafts = exchange.drafts(OPERATOR)
        if not args.yes and drafts:
            print("\n".join(format_drafts(drafts)))
            print("Nothing is published yet: `psn-exchange publish --yes` publishes these.")
            return 0
        # Exactly the drafts listed (or, with none, the refusal that says so).
        release = exchange.publish(OPERATOR, expected=drafts_digest(d.answer for d in drafts))
    print(
        f"Release {release.number}: {plural(len(release.question_ids), 'answer')}, "
        f"{plural(release.deliveries_owed, 'delivery')} owed."
    )
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from knowledge.store import Store

    path = _existing(_settings(args))
    store = Store.open(path, migrate=False, read_only=not _can_write(path))
    try:
        problems = store.check()
        version = store.schema_version
    finally:
        store.close()
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return 1
    print(f"{_shown(path)}: ok (schema version {version}, integrity and full-text indexes checked)")
    print(f"matcher: {_matcher_mode(_settings(args))}")
    return 0


def _matcher_mode(settings: Settings) -> str:
    """Which matcher the exchange would run with, and why."""
    from knowledge import semantic

    matching = settings.matching
    try:
        embedder = semantic.chosen_embedder(matching.semantic, matching.model)
    except semantic.SemanticUnavailable as why:
        return f'none: [matching] semantic = "on", but {why}'
    if embedder is None:
        return f"lexical (rapidfuzz and BM25; [matching] semantic = {matching.semantic!r})"
    return f"semantic ({embedder.model_id}, blended with lexical)"


def _date(text: str) -> datetime:
    """A --since/--until value: a date (midnight, config timezone) or an ISO date-time."""
    try:
        return texts.moment(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    except InvalidInput as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_digest(args: argparse.Namespace) -> int:
    with _opened(args, create=False, reading=not args.send) as exchange:
        zone = exchange.settings.schedule.zone
        since, until = _in_zone(args.since, zone), _in_zone(args.until, zone)
        if args.send:
            digest = exchange.send_digest(OPERATOR, since, until)
        else:
            digest = exchange.digest(OPERATOR, since, until)
        sys.stdout.write(exchange.digest_markdown(digest))
    if args.send and exchange.settings.discord.channel_ids("steering"):
        print(
            "\n(recorded for the steering group's channel in each server; the bot posts it)",
            file=sys.stderr,
        )
    elif args.send:
        print(
            "\n(recorded, but no steering channel is set (discord.steering_channel_id, or in "
            "discord.servers): it will be posted once one is configured)",
            file=sys.stderr,
        )
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    from knowledge.store import Store

    source = _existing(_settings(args))
    target: Path = args.target
    if target.exists():
        print(f"error: {target} already exists; choose a new file name.", file=sys.stderr)
        return 1
    if not target.parent.exists():
        print(f"error: the folder {target.parent} does not exist.", file=sys.stderr)
        return 1
    store = Store.open(source, migrate=False)
    try:
        store.backup(target)
    finally:
        store.close()
    copy = Store.open(target, migrate=False)
    try:
        problems = copy.check()
    finally:
        copy.close()
    if problems:
        print(f"error: the copy at {target} failed its check: {problems[0]}", file=sys.stderr)
        return 1
    print(f"backed up {_shown(source)} to {_shown(target)} (checked)")
    return 0


def cmd_privacy_find(args: argparse.Namespace) -> int:
    with _opened(args, create=False, reading=True) as exchange:
        found = exchange.officers_named(OPERATOR, args.name)
    if not found:
        print(f"No officer's name, key or authority contains {args.name[:80]!r}.", file=sys.stderr)
        return 1
    for officer in found:
        print(f"{officer.user_key}\t{officer.display_name or '-'}\t{officer.authority or '-'}")
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    import json

    person = Actor(args.user_key, args.user_key)
    with _opened(args, create=False) as exchange:
        if not exchange.is_known(person):
            raise ExchangeError(
                f"No officer has the key {args.user_key!r}. Keys look like "
                "discord:80351110224678912 or console:alice "
                "(`psn-exchange privacy find NAME` finds one)."
            )
        if args.privacy_command == "export":
            print(json.dumps(exchange.my_data(person), indent=2, ensure_ascii=False))
        else:
            kept = exchange.forget_me(person)
            print(f"erased {args.user_key}; {plural(kept, 'ask')} kept anonymously")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("psn-exchange")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, refusing a value it would lose: Python 3.11's drops a value that is
    exactly "--" (`--db=--`, or `--` as a positional after `--`), leaving an empty list."""

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        value = super()._get_values(action, arg_strings)
        if action.nargs is None and isinstance(value, list):  # one value, so never a list
            name = "/".join(action.option_strings) or action.dest
            self.error(f"argument {name}: expected one argument ('--' alone is not a value)")
        return value


def parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--db", type=Path, help="SQLite database file (default: from the config)")
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: ./config.toml if present)",
    )

    top = _Parser(
        prog="psn-exchange",
        description="PSN Exchange: ask once, de-duplicate, answer in releases, deliver.",
    )
    top.add_argument("--version", action="version", version=f"psn-exchange {_version()}")
    config_only = _Parser(add_help=False)
    config_only.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: ./config.toml if present)",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help: str,
        *,
        parents: list[_Parser] | None = None,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(
            name, parents=parents or [common], help=help, description=help, epilog=epilog
        )
        command.set_defaults(handler=handler)
        return command

    add("console", cmd_console, "talk to the exchange in this terminal (no Discord needed)")
    mailing = add(
        "mail", cmd_mail, "receive questions by e-mail and send what e-mail officers are owed"
    )
    mailing.add_argument("--host", default="127.0.0.1", help="address to listen on")
    mailing.add_argument("--port", type=int, default=8025, help="port to listen on")
    web = add("web", cmd_web, "serve the published knowledge base read-only as a web site")
    web.add_argument("--host", default=None, help="address to listen on (default: web.host)")
    web.add_argument(
        "--port", type=_port, default=None, help="port to listen on (default: web.port)"
    )
    web.add_argument(
        "--build", type=_folder, default=None, metavar="DIR", help="write the site as static files"
    )
    running = add("run", cmd_run, "run the Discord bot (needs DISCORD_TOKEN)")
    running.add_argument(
        "--sync", action="store_true", help="sync slash commands with Discord even if unchanged"
    )

    importing = add(
        "import",
        cmd_import,
        "import questions from a CSV or JSONL file",
        epilog=(
            f"Columns (CSV header, or JSON keys): {', '.join(REQUIRED)} (required); "
            f"{', '.join(OPTIONAL)} (optional). asked_at is a date such as "
            "2010-05-11T14:05:00+01:00; links, in CSV, are separated by spaces. A row that "
            "is the same question in the same words joins it; one likely the same in other "
            "words becomes a question of its own and a merge proposed to the expert."
        ),
    )
    importing.add_argument("file", type=Path)
    importing.add_argument(
        "--skip-bad", action="store_true", help="import the good rows and list the bad ones"
    )
    importing.add_argument(
        "--one-process",
        action="store_true",
        help="decide every row in this process (no helper process on a second core)",
    )
    importing.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write what became of each row, with its best match and score (JSON lines)",
    )

    exporting = add("export", cmd_export, "export the published knowledge base")
    exporting.add_argument("--format", choices=["md", "html", "json", "csv"], default="md")
    exporting.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")

    auditing = add(
        "audit",
        cmd_audit,
        "the audit trail: who did what to which question, when, and what changed",
    )
    auditing.add_argument("--since", type=_date, help="from this date (default: the start)")
    auditing.add_argument("--until", type=_date, help="before this date (default: now)")
    auditing.add_argument("--question", type=_text, help="only this question, e.g. Q-3")
    auditing.add_argument("--actor", type=_text, help="only this officer's key (privacy find)")
    auditing.add_argument("--format", choices=["table", "csv", "json"], default="table")
    auditing.add_argument("-o", "--output", type=Path, help="write to this file")

    matching = add(
        "match",
        cmd_match,
        "match queries against a corpus (JSONL in, JSONL out)",
        parents=[config_only],  # it reads no database
    )
    matching.add_argument("--corpus", type=Path, required=True)
    matching.add_argument("--queries", type=Path, required=True)
    matching.add_argument("--top", type=_count, default=5)

    calibrating = add(
        "calibrate",
        cmd_calibrate,
        "how officers took the matcher's suggestions, and whether to move the thresholds",
    )
    calibrating.add_argument("--since", type=_date, help="count from this date (default: all)")
    calibrating.add_argument(
        "--mode",
        choices=["lexical", "semantic"],
        help="whose scores and thresholds (default: the matcher [matching] semantic selects)",
    )

    deliveries = add(
        "deliveries", cmd_deliveries, "owed messages that failed to send, and why; retry them"
    )
    deliveries.add_argument(
        "--retry",
        action="store_true",
        help="give the messages the bot gave up on a fresh round of attempts",
    )

    queue = add("queue", cmd_queue, "show the expert's ranked queue")
    queue.add_argument("--limit", type=_count, default=None, help="show the first N only")

    answering = add("answer", cmd_answer, "answer a question as the expert")
    answering.add_argument("question", type=_text, help="question id, e.g. Q-3")
    answering.add_argument("text", type=_text)
    answering.add_argument(
        "--link",
        type=_text,
        action="append",
        default=[],
        help="resource link (repeatable; none given: a draft keeps its links)",
    )
    answering.add_argument(
        "--no-links", action="store_true", help="remove the links of an earlier draft"
    )
    add("drafts", cmd_drafts, "the answers the next release will publish, as the expert")
    discarding = add("discard", cmd_discard, "drop a draft answer, as the expert")
    discarding.add_argument("question", type=_text, help="question id, e.g. Q-3")

    merging = add("merge", cmd_merge, "merge a duplicate question into another, as the expert")
    merging.add_argument("question", type=_text, help="the duplicate, e.g. Q-7")
    merging.add_argument("into", type=_text, help="the question it joins, e.g. Q-3")

    marking = add(
        "sensitive",
        cmd_sensitive,
        "mark a question's latest answer OFFICIAL-SENSITIVE, as the expert",
    )
    marking.add_argument("question", type=_text, help="question id, e.g. Q-3")
    marking.add_argument("--off", action="store_true", help="lift the marking")

    rewording = add("reword", cmd_reword, "give a question a new canonical wording, as the expert")
    rewording.add_argument("question", type=_text, help="question id, e.g. Q-3")
    rewording.add_argument("text", type=_text, help="the new wording")

    unmerging = add(
        "unmerge", cmd_unmerge, "undo a merge: the question waits again with its own askers"
    )
    unmerging.add_argument("question", type=_text, help="the merged question, e.g. Q-7")

    distinct = add("distinct", cmd_distinct, "say two questions proposed for merging are different")
    distinct.add_argument("question", type=_text, help="e.g. Q-7")
    distinct.add_argument("other", type=_text, help="e.g. Q-3")

    publishing = add(
        "publish", cmd_publish, "show the draft answers; with --yes, publish them as a release"
    )
    publishing.add_argument("--yes", action="store_true", help="publish (without: only show)")

    digest = add("digest", cmd_digest, "the steering group's digest (Markdown)")
    mode = digest.add_mutually_exclusive_group()
    mode.add_argument("--preview", action="store_true", help="print it only (the default)")
    mode.add_argument("--send", action="store_true", help="record it for the steering channel")
    digest.add_argument("--since", type=_date, help="start (default: end of the last digest)")
    digest.add_argument("--until", type=_date, help="end (default: now)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    check = db_sub.add_parser("check", parents=[common], help="check integrity and search indexes")
    check.set_defaults(handler=cmd_db_check)
    backup = db_sub.add_parser(
        "backup", parents=[common], help="consistent copy of the database, safe while it runs"
    )
    backup.add_argument("target", type=Path, help="new file to write the copy to")
    backup.set_defaults(handler=cmd_db_backup)

    privacy = sub.add_parser("privacy", help="an officer's data: export it or erase it")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    for action, text in (
        ("export", "print everything kept about an officer, as JSON"),
        ("forget", "erase an officer's identity; their asks stay anonymised"),
    ):
        command = privacy_sub.add_parser(action, parents=[common], help=text)
        command.add_argument(
            "user_key", type=_text, help="the officer's key, e.g. discord:80351110224678912"
        )
        command.set_defaults(handler=cmd_privacy)
    finding = privacy_sub.add_parser(
        "find",
        parents=[common],
        help="the keys of officers whose name, key or authority contains NAME",
    )
    finding.add_argument("name", type=_text, help="part of a name or authority, e.g. Cartwright")
    finding.set_defaults(handler=cmd_privacy_find)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ExchangeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file or folder named on the command line
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
