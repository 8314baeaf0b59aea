"""Typed settings: `config.toml`, overridden by `PSNX_*` environment variables.

Every setting is declared here with its default; `config.toml` repeats them with a
comment each. Unknown keys stop start-up (a typo must never be dropped silently), and
the Discord token is read only from the `DISCORD_TOKEN` environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from knowledge.normalise import Normaliser
from knowledge.text import authority_key

DEFAULT_CONFIG = Path("config.toml")

DEFAULT_GLOSSARY = {
    "psn": "public sector network",
    "gcsx": "government connect secure extranet",
    "gsi": "government secure intranet",
    "coco": "code of connection",
    "gcn": "government conveyance network",
    "dnsp": "directly connected network service provider",
    "sp": "service provider",
    "qos": "quality of service",
    "cos": "class of service",
    "ef": "expedited forwarding",
    "voip": "voice over ip",
    "dscp": "differentiated services code point",
    "embc": "east midlands broadband consortium",
    "riep": "regional improvement and efficiency partnership",
    "emiep": "east midlands improvement and efficiency partnership",
    "espo": "eastern shires purchasing organisation",
    "pct": "primary care trust",
    "ipsec": "internet protocol security",
    "vpn": "virtual private network",
    "dns": "domain name system",
    "psit": "public sector infrastructure team",
    "roi": "return on investment",
    "ipr": "intellectual property rights",
    "cio": "chief information officer",
    "cto": "chief technology officer",
    "cex": "chief executive",
    "ceo": "chief executive officer",
    "smt": "senior management team",
    "cmt": "corporate management team",
    "siro": "senior information risk owner",
    "ig": "information governance",
    "la": "local authority",
}

# Words officers use for the same thing; each head is matched as all of its forms.
DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    # Not bare "member": member authorities and members of staff are not councillors.
    "councillor": ("elected member", "ward member", "cllr"),
    "member of the public": ("resident", "citizen", "general public"),
    "chief executive": ("chief exec", "chief executive officer", "head of paid service"),
    "senior manager": (
        "senior management",
        "senior management team",
        "corporate management team",
        "senior leadership",
        "senior leadership team",
        "leadership team",
        "management team",
    ),
    # Not bare "authority": certificate and design authorities are not councils.
    "council": ("local authority",),
    "summary": ("overview", "synopsis"),
    "timetable": ("timescale", "timeline"),
    "switch off": ("turn off", "shut down", "close down"),
    "equipment": ("kit", "hardware"),
    "supplier": ("vendor",),
    "cost": ("price", "expense"),
    "approval": ("sign off", "authorisation"),
    "email": ("e mail",),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the fix."""


class Section(BaseModel):
    # Nested models need their own extra="forbid", or a typo in a section is dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    path: Path = Path("psn-exchange.db")
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000)


class ExchangeSettings(Section):
    topics: tuple[str, ...] = ("technical", "procurement", "governance", "other")
    default_topic: str = "other"
    authorities: tuple[str, ...] = ()
    allow_other_authorities: bool = True
    min_question_chars: int = Field(10, ge=1, le=200)
    max_question_chars: int = Field(2000, ge=50, le=20_000)
    max_answer_chars: int = Field(6000, ge=100, le=100_000)
    max_links: int = Field(10, ge=0, le=50)
    name_authorities_in_answers: bool = True
    name_authorities_in_replies: bool = True
    name_askers_in_exports: bool = False
    name_authorities_in_digests: bool = True
    asks_per_hour: int = Field(20, ge=1, le=10_000)
    max_open_questions_per_officer: int = Field(15, ge=1, le=10_000)

    @model_validator(mode="after")
    def _default_topic_is_a_topic(self) -> Self:
        if not self.topics:
            raise ValueError("exchange.topics must name at least one topic")
        if self.default_topic not in self.topics:
            raise ValueError(
                f"exchange.default_topic {self.default_topic!r} is not one of exchange.topics"
            )
        if self.min_question_chars >= self.max_question_chars:
            raise ValueError("exchange.min_question_chars must be below max_question_chars")
        seen: dict[str, str] = {}
        for name in self.authorities:
            other = seen.setdefault(authority_key(name), name)
            if other != name:
                raise ValueError(
                    f"exchange.authorities lists {other!r} and {name!r}, which read as the "
                    "same authority; keep one spelling"
                )
        return self


# UK Government Security Classifications (2014) and the older GPMS markings an officer may
# still meet, with descriptors and handling instructions; matched as knowledge/text.py says.
DEFAULT_MARKINGS = (
    "OFFICIAL-SENSITIVE",
    "OFFICIAL SENSITIVE",
    "TOP SECRET",
    "SECRET",
    "RESTRICTED",
    "PROTECT",
    "CONFIDENTIAL",
    "UK EYES ONLY",
    "HANDLING INSTRUCTIONS",
)


class MarkingSettings(Section):
    """Protective markings: text carrying one is refused wherever it enters the exchange,
    and nothing of it is stored. The exchange holds OFFICIAL material only."""

    refused: tuple[str, ...] = DEFAULT_MARKINGS
    where_instead: str = (
        "The exchange is for OFFICIAL information only. Send a question or answer carrying "
        "OFFICIAL-SENSITIVE or higher material to the PSN team through your authority's "
        "secure (PSN-connected) e-mail instead."
    )

    # What officers are sent instead of an answer the expert marked OFFICIAL-SENSITIVE.
    sensitive_answer: str = (
        "This answer is marked OFFICIAL-SENSITIVE, so the exchange does not hold or send it. "
        "Ask the PSN team for it through your authority's secure (PSN-connected) e-mail, "
        "quoting the question's number."
    )

    @field_validator("refused")
    @classmethod
    def _markings_have_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for marking in value:
            if not re.search(r"[A-Za-z]", marking):
                raise ValueError(f"marking.refused: {marking!r} has no letters")
        return value


class MatchingSettings(Section):
    duplicate_threshold: float = Field(default=81.0, ge=0, le=100)
    similar_threshold: float = Field(default=47.5, ge=0, le=100)
    candidates: int = Field(default=40, ge=1, le=1000)
    semantic: Literal["auto", "on", "off"] = "auto"
    model: str = ""
    semantic_weight: float = Field(default=0.5, ge=0, le=1)
    semantic_candidates: int = Field(default=20, ge=1, le=1000)
    semantic_duplicate_threshold: float = Field(default=86.0, ge=0, le=100)
    semantic_similar_threshold: float = Field(default=56.5, ge=0, le=100)
    related_threshold: float = Field(default=35.0, ge=0, le=100)
    semantic_related_threshold: float = Field(default=47.5, ge=0, le=100)
    suggestions: int = Field(default=3, ge=1, le=25)
    glossary: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_GLOSSARY))
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_SYNONYMS))

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Self:
        for prefix in ("", "semantic_"):
            similar = getattr(self, f"{prefix}similar_threshold")
            duplicate = getattr(self, f"{prefix}duplicate_threshold")
            if similar > duplicate:
                raise ValueError(
                    f"matching.{prefix}similar_threshold ({similar}) must not be above "
                    f"matching.{prefix}duplicate_threshold ({duplicate})"
                )
            related = getattr(self, f"{prefix}related_threshold")
            if related > similar:
                raise ValueError(
                    f"matching.{prefix}related_threshold ({related}) must not be above "
                    f"matching.{prefix}similar_threshold ({similar})"
                )
        return self

    @model_validator(mode="after")
    def _each_form_has_one_meaning(self) -> Self:
        try:
            Normaliser(self.glossary, self.synonyms)
        except ValueError as exc:
            raise ValueError(f"matching.glossary / matching.synonyms: {exc}") from None
        return self

    @field_validator("glossary")
    @classmethod
    def _glossary_entries_are_words(cls, glossary: dict[str, str]) -> dict[str, str]:
        for short, long in glossary.items():
            if not short.strip() or not long.strip():
                raise ValueError(f"matching.glossary entry {short!r} needs both forms")
        return {k.strip().lower(): v.strip().lower() for k, v in glossary.items()}

    @field_validator("synonyms")
    @classmethod
    def _synonym_groups_have_forms(
        cls, synonyms: dict[str, tuple[str, ...]]
    ) -> dict[str, tuple[str, ...]]:
        cleaned: dict[str, tuple[str, ...]] = {}
        for head, forms in synonyms.items():
            kept = tuple(f.strip().lower() for f in forms if f.strip())
            if not head.strip() or not kept:
                raise ValueError(
                    f"matching.synonyms entry {head!r} needs a word and at least one other "
                    'form, e.g. councillor = ["member", "elected member"]'
                )
            cleaned[head.strip().lower()] = kept
        return cleaned


# A Discord role, by name (text) or by id (a number).
RoleRef = str | int


class RoleSettings(Section):
    """Who holds each role: a role name, a role id, or a list of both (read as a tuple).

    Names are the simple case; ids survive a rename, and a list names the role in each
    server where it is called or numbered differently.
    """

    # A plain string stays a string in a PSNX_ROLES__* variable: the union keeps it from
    # having to be JSON.
    expert: RoleRef | tuple[RoleRef, ...] = ("PSN Expert",)
    steering: RoleRef | tuple[RoleRef, ...] = ("Steering Group",)
    admin: RoleRef | tuple[RoleRef, ...] = ("Exchange Admin",)

    @field_validator("expert", "steering", "admin", mode="before")
    @classmethod
    def _text_or_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        values = value if isinstance(value, list | tuple) else [value]
        # (A bool is an int to Python, and never a role.)
        if any(isinstance(v, bool) or not isinstance(v, str | int) for v in values):
            raise ValueError(
                f"roles.{info.field_name} takes a role name (text), a role id (a number) or a "
                f'list of them, e.g. {info.field_name} = ["PSN Expert", 112233445566778899]'
            )
        return value

    @field_validator("expert", "steering", "admin")
    @classmethod
    def _names_or_ids(
        cls, value: RoleRef | tuple[RoleRef, ...], info: ValidationInfo
    ) -> tuple[RoleRef, ...]:
        key = f"roles.{info.field_name}"
        refs = value if isinstance(value, tuple) else (value,)
        if not refs:
            raise ValueError(f"{key} must name at least one role")
        for ref in refs:
            if isinstance(ref, int) and ref <= 0:
                raise ValueError(f"{key}: {ref} is not a role id (ids are positive numbers)")
            if isinstance(ref, str) and not ref.strip():
                raise ValueError(f"{key}: a role name cannot be empty")
            if isinstance(ref, str) and ref.strip().isdigit():
                raise ValueError(
                    f"{key}: {ref!r} looks like a role id written as text; write ids as "
                    f"numbers, without quotes ({key.split('.')[1]} = {ref.strip()})"
                )
        return refs

    def refs(self, role: str) -> tuple[RoleRef, ...]:
        """The names and ids that give `role` ("expert", "steering" or "admin")."""
        value: RoleRef | tuple[RoleRef, ...] = getattr(self, role)
        return value if isinstance(value, tuple) else (value,)


class ScheduleSettings(Section):
    timezone: str = "Europe/London"
    release_cron: str = "0 16 * * fri"
    release_reminder_hours: int = Field(24, ge=0, le=24 * 14)
    digest_cron: str = "0 9 * * mon"
    waiting_limit_days: int = Field(14, ge=1, le=365)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name such as 'Europe/London'"
            ) from None
        return value

    @field_validator("release_cron", "digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from datetime import UTC, datetime

        from knowledge.schedule import cron

        try:
            trigger = cron(value, ZoneInfo("Europe/London"))
        except ValueError as exc:
            raise ValueError(f"not a valid cron string {value!r}: {exc}") from None
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError(f"the cron string {value!r} never fires")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# What a server's channel is for (the field of `Channels`).
ChannelKind = Literal["questions", "forum", "steering", "expert"]


@dataclass(frozen=True, slots=True)
class Channels:
    """Where the bot posts and reads in one server; 0 for none."""

    questions: int = 0
    forum: int = 0
    steering: int = 0
    expert: int = 0


class ServerChannels(Section):
    """`[discord.servers.<guild id>]`: one server's own channels. A key left out takes the
    `[discord]` key of the same name; 0 means none in this server."""

    questions_channel_id: int | None = None
    forum_channel_id: int | None = None
    steering_channel_id: int | None = None
    expert_channel_id: int | None = None


class DiscordSettings(Section):
    guild_ids: tuple[int, ...] = ()
    # The channels of a server without a table of its own (the one server, if there is one).
    questions_channel_id: int = 0
    forum_channel_id: int = 0
    steering_channel_id: int = 0
    expert_channel_id: int = 0
    servers: dict[int, ServerChannels] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _servers_are_guilds(self) -> Self:
        for guild_id in self.servers:
            if guild_id not in self.guild_ids:
                raise ValueError(
                    f"discord.servers.{guild_id}: server {guild_id} is not in discord.guild_ids; "
                    f"add it there (guild_ids = [..., {guild_id}]) or remove its table"
                )
        return self

    def channels(self, guild_id: int | None) -> Channels:
        """The channels of server `guild_id`: its own table's, and for each key the table
        leaves out (or with no table, or no server: a DM) the `[discord]` one."""
        own = self.servers.get(guild_id) if guild_id is not None else None

        def pick(key: str) -> int:
            value = getattr(own, key) if own is not None else None
            return int(getattr(self, key) if value is None else value)

        return Channels(
            questions=pick("questions_channel_id"),
            forum=pick("forum_channel_id"),
            steering=pick("steering_channel_id"),
            expert=pick("expert_channel_id"),
        )

    def channel_ids(self, kind: ChannelKind) -> tuple[int, ...]:
        """Every server's channel for `kind`, each once (none for 0), the `[discord]` one
        first: every steering channel gets the digest, every forum is read."""
        servers = self.guild_ids or (None,)
        used = [getattr(self.channels(g), kind) for g in servers]
        default = getattr(self.channels(None), kind)
        ordered = [default, *used] if default in used else used
        return tuple(dict.fromkeys(c for c in ordered if c))


class EmailSettings(Section):
    """The e-mail channel: who may write in, and the relay that carries replies out."""

    # The exchange's own address (From of every reply); empty = the e-mail channel is off.
    address: str = ""
    # Sender domains accepted, each with the authority its officers work for.
    domains: dict[str, str] = Field(default_factory=dict)
    # Largest message accepted, in bytes (the SMTP receiver refuses bigger ones).
    max_bytes: int = Field(default=100_000, ge=1_000)
    # Most e-mails one sender may send in an hour; more are dropped unanswered.
    hourly_limit: int = Field(default=20, ge=1)
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str = ""
    # Read only from PSNX_EMAIL__SMTP_PASSWORD, never from the file.
    smtp_password: SecretStr | None = None
    steering_recipients: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _domains_are_lowercase(self) -> Self:
        for domain in self.domains:
            if domain != domain.strip().lower() or "@" in domain or not domain:
                raise ValueError(f"email.domains: write {domain!r} as a bare lower-case domain")
        return self


class WebSettings(Section):
    """The read-only web site (`psn-exchange web`)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Where the site is reached, e.g. "https://psn-exchange.example.gov.uk"; when set,
    # deliveries, exports and digests link to its pages. Empty: nothing links to it.
    base_url: str = ""
    # The name shown in every page's header and title.
    title: str = "PSN Exchange"

    def url(self, path: str) -> str | None:
        """The site's address for `path` ("/q/Q-12"), or None when no base_url is set."""
        return self.base_url + path if self.base_url else None

    @field_validator("base_url")
    @classmethod
    def _plain_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (
            not value.startswith(("https://", "http://"))
            or any(c in value for c in ' <>"\\?#')
        ):
            raise ValueError(
                f"web.base_url {value!r} must be a plain http(s) address with no query, "
                "such as https://psn-exchange.example.gov.uk"
            )
        return value


class Settings(BaseSettings):
    """Everything the exchange can be told; see config.toml for the commented defaults."""

    model_config = SettingsConfigDict(
        env_prefix="PSNX_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    exchange: ExchangeSettings = ExchangeSettings()
    marking: MarkingSettings = MarkingSettings()
    matching: MatchingSettings = MatchingSettings()
    roles: RoleSettings = RoleSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    discord: DiscordSettings = DiscordSettings()
    email: EmailSettings = EmailSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init arguments (see load_settings); the
        # environment wins over them.
        return env_settings, init_settings


# Settings read only from the environment (secrets): config.toml names them in a comment.
ENVIRONMENT_ONLY = frozenset({"email.smtp_password"})

_SECRET_KEYS = {"token", "discord_token", "bot_token", "secret", "password", "smtp_password"}


def _find_secrets(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if str(key).lower() in _SECRET_KEYS:
                found.append(dotted)
            found.extend(_find_secrets(value, dotted + "."))
    return found


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source} has settings that cannot be used:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown setting (a typo?); config.toml lists every setting")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Read `path` (default ./config.toml if present), apply `PSNX_*` overrides, validate.

    Raises ConfigError with a message naming every bad key.
    """
    explicit = path is not None
    path = path or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text") from None
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    secrets = _find_secrets(data)
    if secrets:
        raise ConfigError(
            f"{path} contains {', '.join(secrets)}: secrets must not be written in the file. "
            "Remove it and set the DISCORD_TOKEN environment variable instead."
        )
    sections = set(Settings.model_fields)
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith("PSNX_"):
            continue
        if upper.startswith("PSNX_DISCORD__TOKEN"):
            raise ConfigError(f"{name}: the Discord token is read only from DISCORD_TOKEN")
        section = upper.removeprefix("PSNX_").split("__")[0].lower()
        if section not in sections:
            raise ConfigError(
                f"{name}: there is no settings section '{section}' (a typo?); sections are "
                + ", ".join(sorted(sections))
            )
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path) + " (or PSNX_* variables)")) from None
    except SettingsError as exc:  # an environment value that cannot even be parsed
        raise ConfigError(
            f"A PSNX_* environment variable cannot be read: {exc}. Lists and tables are "
            'written as JSON, e.g. PSNX_EXCHANGE__TOPICS=\'["technical", "other"]\''
        ) from None


def discord_token() -> str | None:
    """The bot token, from the DISCORD_TOKEN environment variable only."""
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    return token or None
