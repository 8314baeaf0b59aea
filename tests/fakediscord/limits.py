"""Discord's documented limits on what a bot sends, checked on the JSON payload itself.

Discord refuses a payload over any of these with 400 and error 50035 ("Invalid Form Body"),
its ``errors`` naming each offending field by path. The fake computes every length from the
payload it received (never from discord.py's own counts), so a bot that trusts discord.py's
arithmetic is still caught. Lengths are Python characters (code points), as discord.py counts.
"""

from __future__ import annotations

from typing import Any

from tests.fakediscord.records import _Fail

# https://discord.com/developers/docs/resources/message#create-message-jsonform-params
CONTENT_MAX = 2000
EMBEDS_MAX = 10
NONCE_MAX = 25
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000  # over every embed of one message
# https://discord.com/developers/docs/components/reference#action-row
ACTION_ROWS_MAX = 5
ROW_BUTTONS_MAX = 5
# https://discord.com/developers/docs/components/reference#button
BUTTON_LABEL_MAX = 80
# https://discord.com/developers/docs/components/reference#anatomy-of-a-component
CUSTOM_ID_MAX = 100
# https://discord.com/developers/docs/components/reference#string-select
SELECT_OPTIONS_MAX = 25
# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-autocomplete
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100  # https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-option-choice-structure
CHOICE_VALUE_MAX = 100
# https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal
MODAL_TITLE_MAX = 45
# https://discord.com/developers/docs/components/reference#text-input and #label
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_VALUE_MAX = 4000
# https://discord.com/developers/docs/resources/channel#start-thread-without-message
THREAD_NAME_MAX = 100

Errors = dict[str, Any]


def _add(errors: Errors, path: tuple[str | int, ...], code: str, message: str) -> None:
    """Record one error at `path`, nested as Discord nests them ({"embeds": {"0": ...}})."""
    node = errors
    for key in path:
        node = node.setdefault(str(key), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _max_length(errors: Errors, path: tuple[str | int, ...], value: Any, limit: int) -> int:
    """Check one string's length; returns it (0 when absent) for running totals."""
    if not isinstance(value, str):
        return 0
    if len(value) > limit:
        _add(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(value)


def _max_items(errors: Errors, path: tuple[str | int, ...], items: Any, limit: int) -> list[Any]:
    items = list(items or [])
    if len(items) > limit:
        _add(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return items


def _refuse(errors: Errors) -> None:
    if errors:
        raise _Fail(400, 50035, "Invalid Form Body", errors=errors)


def check_message(body: Any, at: tuple[str | int, ...] = ()) -> None:
    """A message create/edit body (channel, DM, interaction response, followup, thread
    starter): refused with 400/50035 if over any limit."""
    errors: Errors = {}
    _message_errors(errors, body or {}, at)
    _refuse(errors)


def _message_errors(errors: Errors, body: dict[str, Any], at: tuple[str | int, ...]) -> None:
    _max_length(errors, (*at, "content"), body.get("content"), CONTENT_MAX)
    _max_length(errors, (*at, "nonce"), body.get("nonce"), NONCE_MAX)
    embeds = _max_items(errors, (*at, "embeds"), body.get("embeds"), EMBEDS_MAX)
    total = sum(_embed_length(errors, e, (*at, "embeds", i)) for i, e in enumerate(embeds))
    if total > EMBED_TOTAL_MAX:
        _add(
            errors,
            (*at, "embeds"),
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
        )
    rows = _max_items(errors, (*at, "components"), body.get("components"), ACTION_ROWS_MAX)
    for r, row in enumerate(rows):
        _row_errors(errors, row, (*at, "components", r))


def _embed_length(errors: Errors, embed: dict[str, Any], at: tuple[str | int, ...]) -> int:
    """Check one embed; returns the characters it counts toward the message's total
    (title, description, field names and values, footer text, author name)."""
    total = _max_length(errors, (*at, "title"), embed.get("title"), EMBED_TITLE_MAX)
    total += _max_length(
        errors, (*at, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX
    )
    fields = _max_items(errors, (*at, "fields"), embed.get("fields"), EMBED_FIELDS_MAX)
    for f, field in enumerate(fields):
        where = (*at, "fields", f)
        total += _max_length(errors, (*where, "name"), field.get("name"), EMBED_FIELD_NAME_MAX)
        total += _max_length(errors, (*where, "value"), field.get("value"), EMBED_FIELD_VALUE_MAX)
    footer, author = embed.get("footer") or {}, embed.get("author") or {}
    total += _max_length(errors, (*at, "footer", "text"), footer.get("text"), EMBED_FOOTER_MAX)
    total += _max_length(errors, (*at, "author", "name"), author.get("name"), EMBED_AUTHOR_MAX)
    return total


def _row_errors(errors: Errors, row: dict[str, Any], at: tuple[str | int, ...]) -> None:
    children = row.get("components") or []
    buttons = [c for c in children if c.get("type") == 2]
    if len(buttons) > ROW_BUTTONS_MAX:
        _add(
            errors,
            (*at, "components"),
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {ROW_BUTTONS_MAX} or fewer in length.",
        )
    for c, child in enumerate(children):
        where = (*at, "components", c)
        _max_length(errors, (*where, "custom_id"), child.get("custom_id"), CUSTOM_ID_MAX)
        if child.get("type") == 2:
            _max_length(errors, (*where, "label"), child.get("label"), BUTTON_LABEL_MAX)
        if "options" in child:
            _max_items(errors, (*where, "options"), child["options"], SELECT_OPTIONS_MAX)
        if child.get("type") == 4:  # a text input in a modal's action row
            _text_input_errors(errors, child, where, label=True)


def _text_input_errors(
    errors: Errors, text_input: dict[str, Any], at: tuple[str | int, ...], *, label: bool
) -> None:
    if label:
        _max_length(errors, (*at, "label"), text_input.get("label"), TEXT_INPUT_LABEL_MAX)
    longest = text_input.get("max_length", TEXT_INPUT_VALUE_MAX)
    if longest > TEXT_INPUT_VALUE_MAX:
        _add(
            errors,
            (*at, "max_length"),
            "NUMBER_TYPE_MAX",
            f"int value should be less than or equal to {TEXT_INPUT_VALUE_MAX}.",
        )
    _max_length(errors, (*at, "value"), text_input.get("value"), min(longest, TEXT_INPUT_VALUE_MAX))


def checked(body: Any) -> Any:
    """The message body, once `check_message` has let it through (for edits)."""
    check_message(body)
    return body


def check_callback(rtype: int, data: Any) -> None:
    """An interaction callback's data, by response type: a message (4, 7), autocomplete
    choices (8) or a modal (9); a defer (5, 6) carries nothing to check."""
    if rtype in (4, 7):
        check_message(data, ("data",))
    elif rtype == 8:
        _check_choices(data)
    elif rtype == 9:
        _check_modal(data)


def _check_choices(data: Any) -> None:
    """An autocomplete response's choices."""
    errors: Errors = {}
    choices = _max_items(errors, ("data", "choices"), (data or {}).get("choices"), CHOICES_MAX)
    for c, choice in enumerate(choices):
        where = ("data", "choices", c)
        _max_length(errors, (*where, "name"), choice.get("name"), CHOICE_NAME_MAX)
        _max_length(errors, (*where, "value"), choice.get("value"), CHOICE_VALUE_MAX)
    _refuse(errors)


def _check_modal(data: Any) -> None:
    """A modal: its title, labels, and text inputs."""
    errors: Errors = {}
    data = data or {}
    _max_length(errors, ("data", "title"), data.get("title"), MODAL_TITLE_MAX)
    for n, top in enumerate(data.get("components") or []):
        where = ("data", "components", n)
        _max_length(errors, (*where, "custom_id"), top.get("custom_id"), CUSTOM_ID_MAX)
        if top.get("type") == 18:  # a Label around one component: the label is the Label's
            _max_length(errors, (*where, "label"), top.get("label"), TEXT_INPUT_LABEL_MAX)
            inner = top.get("component") or {}
            _max_length(
                errors, (*where, "component", "custom_id"), inner.get("custom_id"), CUSTOM_ID_MAX
            )
            if inner.get("type") == 4:
                _text_input_errors(errors, inner, (*where, "component"), label=False)
        else:
            _row_errors(errors, top, where)
    _refuse(errors)


def check_thread(body: Any) -> None:
    """A new thread's name (and a forum post's starter message, if any)."""
    errors: Errors = {}
    body = body or {}
    _max_length(errors, ("name",), body.get("name"), THREAD_NAME_MAX)
    if isinstance(body.get("message"), dict):
        _message_errors(errors, body["message"], ("message",))
    _refuse(errors)
