"""Settings: the shipped config.toml, typos, secrets, impossible values, env overrides."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from knowledge.config import (
    ENVIRONMENT_ONLY,
    Channels,
    ConfigError,
    Settings,
    discord_token,
    load_settings,
)
from tests.conftest import REPO

SHIPPED = REPO / "config.toml"
SECTIONS = sorted(Settings.model_fields)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no PSNX_* overrides and no token, whatever the shell had."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("PSNX_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    return str(raised.value)


# -- the shipped file ---------------------------------------------------------------


def test_shipped_config_loads_and_repeats_the_declared_defaults() -> None:
    shipped = load_settings(SHIPPED)
    declared = Settings()

    for section in SECTIONS:
        if section == "exchange":
            continue
        assert getattr(shipped, section) == getattr(declared, section), section
    # The one deliberate difference: the shipped file names the East Midlands authorities.
    assert shipped.exchange.model_copy(update={"authorities": ()}) == declared.exchange
    assert "Derbyshire County Council" in shipped.exchange.authorities


def test_every_setting_is_a_key_in_config_toml_with_a_comment_above_it() -> None:
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    undocumented = []
    for section in SECTIONS:
        model = Settings.model_fields[section].annotation
        assert model is not None
        for field in model.model_fields:
            if f"{section}.{field}" in ENVIRONMENT_ONLY:
                env = f"PSNX_{section}__{field}".upper()
                assert env in SHIPPED.read_text(encoding="utf-8"), env
            elif field not in data.get(section, {}):
                undocumented.append(f"{section}.{field}: not in config.toml")
            elif not _commented(lines, section, field):
                undocumented.append(f"{section}.{field}: no comment line above it")
    assert undocumented == []


def _commented(lines: list[str], section: str, field: str) -> bool:
    """The key's line (or its table header) sits under a comment; a run of keys may share one."""
    current = None
    for number, line in enumerate(lines):
        header = re.match(r"^\[([\w.]+)\]\s*$", line)
        if header:
            current = header[1]
            if current == f"{section}.{field}":
                return _comment_above(lines, number)
        elif current == section and re.match(rf"^{re.escape(field)}\s*=", line):
            return _comment_above(lines, number)
    return False


def _comment_above(lines: list[str], number: int) -> bool:
    above = number - 1
    while above >= 0 and re.match(r"^\w+\s*=\s*[^\[]*$", lines[above]):
        above -= 1  # e.g. min/max_question_chars share one comment
    return above >= 0 and lines[above].startswith("#")


# -- typos ----------------------------------------------------------------------------


def test_an_unknown_top_level_key_stops_start_up_naming_it(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, 'colour = "blue"\n[database]\npath = "x.db"\n'))
    assert "colour" in message
    assert "unknown setting" in message


def test_a_misspelt_section_stops_start_up_naming_it(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[databse]\npath = "x.db"\n'))
    assert "databse" in message


@pytest.mark.parametrize(
    ("section", "typo"),
    [
        ("database", 'paht = "x.db"'),
        ("exchange", 'topic = "technical"'),
        ("matching", "duplicate_treshold = 90"),
        ("roles", 'experts = "PSN Expert"'),
        ("schedule", 'time_zone = "Europe/London"'),
        ("discord", "guild_id = [1]"),
    ],
)
def test_an_unknown_key_inside_any_section_is_named_with_its_section(
    tmp_path: Path, section: str, typo: str
) -> None:
    message = refusal(write(tmp_path, f"[{section}]\n{typo}\n"))
    key = typo.split("=")[0].strip()
    assert f"{section}.{key}" in message
    assert "unknown setting" in message


def test_invalid_toml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[database\npath = "x.db"\n')
    message = refusal(path)
    assert "not valid TOML" in message
    assert str(path) in message


def test_a_missing_config_file_named_explicitly_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path / "nowhere.toml")
    assert "does not exist" in message


# -- secrets --------------------------------------------------------------------------


def test_a_token_written_in_the_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[discord]\ntoken = "MTA.secret-value.xyz"\n'))
    assert "discord.token" in message
    assert "DISCORD_TOKEN" in message
    assert "MTA.secret-value.xyz" not in message


def test_a_token_in_the_environment_under_the_psnx_prefix_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PSNX_DISCORD__TOKEN", "MTA.secret-value.xyz")
    message = refusal(SHIPPED)
    assert "PSNX_DISCORD__TOKEN" in message
    assert "DISCORD_TOKEN" in message
    assert "MTA.secret-value.xyz" not in message


def test_the_discord_token_comes_only_from_discord_token(monkeypatch: pytest.MonkeyPatch) -> None:
    assert discord_token() is None
    monkeypatch.setenv("PSNX_DISCORD__TOKEN", "wrong-place")
    monkeypatch.setenv("PSNX_TOKEN", "wrong-place")
    assert discord_token() is None
    monkeypatch.setenv("DISCORD_TOKEN", "  right-place  ")
    assert discord_token() == "right-place"
    monkeypatch.setenv("DISCORD_TOKEN", "   ")
    assert discord_token() is None


# -- impossible values ----------------------------------------------------------------


def test_a_bad_timezone_is_named(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[schedule]\ntimezone = "Europe/Londn"\n'))
    assert "schedule.timezone" in message
    assert "Europe/Londn" in message


@pytest.mark.parametrize("key", ["release_cron", "digest_cron"])
@pytest.mark.parametrize("cron", ["0 25 * * fri", "every monday", "0 9 * *"])
def test_a_bad_cron_string_is_named(tmp_path: Path, key: str, cron: str) -> None:
    message = refusal(write(tmp_path, f'[schedule]\n{key} = "{cron}"\n'))
    assert f"schedule.{key}" in message
    assert "cron" in message


def test_similar_threshold_above_duplicate_threshold_is_refused(tmp_path: Path) -> None:
    message = refusal(
        write(tmp_path, "[matching]\nduplicate_threshold = 70\nsimilar_threshold = 80\n")
    )
    assert "similar_threshold" in message
    assert "duplicate_threshold" in message


def test_a_thesaurus_form_in_two_lines_is_refused_naming_it(tmp_path: Path) -> None:
    message = refusal(
        write(
            tmp_path,
            '[matching.synonyms]\ncouncillor = ["member"]\nassociate = ["member", "partner"]\n',
        )
    )
    assert "matching.synonyms" in message
    assert "'member'" in message


def test_a_thesaurus_line_without_other_forms_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[matching.synonyms]\ncouncillor = [" "]\n'))
    assert "matching.synonyms" in message
    assert "councillor" in message


def test_a_threshold_outside_0_to_100_is_named(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "[matching]\nduplicate_threshold = 186\n"))
    assert "matching.duplicate_threshold" in message


def test_a_default_topic_that_is_not_a_topic_is_refused(tmp_path: Path) -> None:
    message = refusal(
        write(tmp_path, '[exchange]\ntopics = ["technical"]\ndefault_topic = "other"\n')
    )
    assert "default_topic" in message
    assert "'other'" in message


def test_two_spellings_of_one_authority_in_the_list_are_refused(tmp_path: Path) -> None:
    message = refusal(
        write(tmp_path, '[exchange]\nauthorities = ["Ynys Môn", "Conwy", "YNYS MÔN"]\n')
    )
    assert "exchange.authorities" in message
    assert "'Ynys Môn' and 'YNYS MÔN'" in message


def test_a_wrongly_typed_value_is_named(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[database]\nbusy_timeout_ms = "soon"\n'))
    assert "database.busy_timeout_ms" in message


# -- roles ----------------------------------------------------------------------------


def test_a_role_is_a_name_an_id_or_a_list_of_both(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[roles]\nexpert = 112233445566778899\nsteering = ["Steering Group", 998877]\n',
        )
    )
    assert settings.roles.refs("expert") == (112233445566778899,)
    assert settings.roles.refs("steering") == ("Steering Group", 998877)
    assert settings.roles.refs("admin") == ("Exchange Admin",)  # the default, a name


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('expert = "112233445566778899"', "write ids as numbers, without quotes"),
        ("expert = true", "a role name (text), a role id (a number)"),
        ("expert = 1.5", "a role name (text), a role id (a number)"),
        ("expert = 0", "not a role id"),
        ('expert = ""', "cannot be empty"),
        ("expert = []", "at least one role"),
    ],
)
def test_a_role_that_cannot_be_one_is_named(tmp_path: Path, line: str, words: str) -> None:
    message = refusal(write(tmp_path, f"[roles]\n{line}\n"))
    assert "roles.expert" in message
    assert words in message


def test_a_role_name_in_the_environment_needs_no_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSNX_ROLES__EXPERT", "Cabinet Office PSN")
    monkeypatch.setenv("PSNX_ROLES__ADMIN", '["Exchange Admin", 42]')
    settings = load_settings(SHIPPED)
    assert settings.roles.refs("expert") == ("Cabinet Office PSN",)
    assert settings.roles.refs("admin") == ("Exchange Admin", 42)


# -- servers ----------------------------------------------------------------------------

TWO_SERVERS = """
[discord]
guild_ids = [111, 222]
questions_channel_id = 10
steering_channel_id = 30
expert_channel_id = 40

[discord.servers.222]
questions_channel_id = 20
forum_channel_id = 25
steering_channel_id = 35
"""


def test_each_server_has_its_channels_and_the_flat_keys_fill_in_the_rest(tmp_path: Path) -> None:
    discord_settings = load_settings(write(tmp_path, TWO_SERVERS)).discord

    # 111 has no table: the [discord] channels. 222 has its own, and shares the expert's.
    assert discord_settings.channels(111) == Channels(10, 0, 30, 40)
    assert discord_settings.channels(222) == Channels(20, 25, 35, 40)
    assert discord_settings.channels(None) == Channels(10, 0, 30, 40)  # a DM
    assert discord_settings.channel_ids("steering") == (30, 35)
    assert discord_settings.channel_ids("expert") == (40,)
    assert discord_settings.channel_ids("forum") == (25,)


def test_the_flat_channel_keys_alone_still_configure_one_server(tmp_path: Path) -> None:
    one = "[discord]\nguild_ids = [111]\nquestions_channel_id = 10\nforum_channel_id = 15\n"
    discord_settings = load_settings(write(tmp_path, one)).discord
    assert discord_settings.channels(111) == Channels(10, 15, 0, 0)
    assert discord_settings.channel_ids("forum") == (15,)
    assert discord_settings.channel_ids("steering") == ()


def test_a_server_table_can_say_a_server_has_none_of_a_channel(tmp_path: Path) -> None:
    text = TWO_SERVERS.replace("forum_channel_id = 25", "expert_channel_id = 0")
    discord_settings = load_settings(write(tmp_path, text)).discord
    assert discord_settings.channels(222).expert == 0
    assert discord_settings.channel_ids("expert") == (40,)


def test_the_readmes_two_server_example_loads(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [example] = [
        block
        for block in re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
        if "[discord.servers." in block
    ]
    discord_settings = load_settings(write(tmp_path, textwrap.dedent(example))).discord
    first, second = discord_settings.guild_ids
    assert discord_settings.channels(second).expert == discord_settings.channels(first).expert
    assert discord_settings.channel_ids("steering") == (334455667788990011, 778899001122334455)


def test_a_server_table_for_a_server_not_in_guild_ids_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    message = refusal(write(tmp_path, TWO_SERVERS.replace("[111, 222]", "[111]")))
    assert "discord.servers.222" in message
    assert "not in discord.guild_ids" in message


def test_a_typo_in_a_server_table_is_named(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, TWO_SERVERS + "steering_channel = 36\n"))
    assert "discord.servers.222.steering_channel" in message
    assert "unknown setting" in message


# -- environment overrides ------------------------------------------------------------


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from_file = load_settings(SHIPPED)
    monkeypatch.setenv("PSNX_DATABASE__PATH", str(tmp_path / "elsewhere.db"))
    monkeypatch.setenv("PSNX_MATCHING__DUPLICATE_THRESHOLD", "91.5")

    settings = load_settings(SHIPPED)

    assert settings.database.path == tmp_path / "elsewhere.db"
    assert settings.matching.duplicate_threshold == 91.5
    # Everything not overridden still comes from the file.
    assert settings.database.busy_timeout_ms == from_file.database.busy_timeout_ms
    assert settings.matching.similar_threshold == from_file.matching.similar_threshold
    assert settings.matching.glossary == from_file.matching.glossary
    assert settings.exchange == from_file.exchange


def test_an_environment_override_is_validated_like_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PSNX_MATCHING__SIMILAR_THRESHOLD", "95")
    message = refusal(SHIPPED)
    assert "similar_threshold" in message


def test_an_unknown_key_in_an_environment_override_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PSNX_DATABASE__PAHT", "x.db")
    message = refusal(SHIPPED)
    assert "database.paht" in message


def test_a_misspelt_section_in_an_environment_override_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Dropped silently, this typo would send every write to the default database file.
    monkeypatch.setenv("PSNX_DATABSE__PATH", "/srv/psn/exchange.db")
    message = refusal(SHIPPED)
    assert "PSNX_DATABSE__PATH" in message


def test_the_smtp_password_comes_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = tmp_path / "config.toml"
    written.write_text('[email]\nsmtp_password = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"email\.smtp_password"):
        load_settings(written)
    written.write_text('[email]\nsmtp_user = "psnx"\n', encoding="utf-8")
    monkeypatch.setenv("PSNX_EMAIL__SMTP_PASSWORD", "hunter2")
    loaded = load_settings(written)
    assert loaded.email.smtp_password is not None
    assert loaded.email.smtp_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(loaded)


def test_email_domains_must_be_bare_lower_case(tmp_path: Path) -> None:
    written = tmp_path / "config.toml"
    written.write_text('[email.domains]\n"Derbyshire.gov.uk" = "Derbyshire"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="lower-case domain"):
        load_settings(written)
