"""The layers, read from the imports: knowledge/ never imports discord; bot/ has no cycle.

`knowledge/` is the core: it takes ids and strings. In `bot/`, shared modules sit below
the cogs and the launcher (bot/app.py) on top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests.conftest import REPO


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


PACKAGE = REPO / "knowledge"
MODULES = sorted(module_name(path) for path in PACKAGE.rglob("*.py"))


def imported_names(
    source: str, module: str = "", *, package: bool = False
) -> list[tuple[int, str]]:
    """Every name the source imports, with its line, at any depth (inside functions and
    TYPE_CHECKING blocks too). `from a import b` gives `a.b` (b may be a module or a name
    in a); relative imports are resolved against `module` (a `package`'s __init__ if so),
    and skipped without it."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if package else module.split(".")[:-1]
                parent = here[: len(here) - node.level + 1] if module else []
                base = ".".join([*parent, base] if base else parent)
            if base:
                names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            callee = node.func
            called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [str(first.value)]
        found += [(node.lineno, name) for name in names]
    return found


def discord_imports(source: str) -> list[str]:
    """Every place the source imports discord, at any depth (inside functions too)."""
    return [f"line {n}: {name}" for n, name in imported_names(source) if is_in(name, "discord")]


def is_in(name: str, module: str) -> bool:
    return name == module or name.startswith(f"{module}.")


def test_the_import_walker_finds_discord_wherever_it_hides() -> None:
    hidden = """
import os
def later():
    from discord.ext import commands
    import discord as d
    return importlib.import_module("discord.ui"), __import__("discord")
"""
    assert len(discord_imports(hidden)) == 4
    assert discord_imports("import discordant\nfrom bot import discord_view\n") == []


def test_every_knowledge_module_is_walked() -> None:
    assert {"knowledge.exchange", "knowledge.store", "knowledge.cli", "knowledge.console"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_no_knowledge_module_imports_discord(module: str) -> None:
    path = REPO / Path(*module.split("."))
    source_file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    assert discord_imports(source_file.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_knowledge_module_does_not_load_discord(module: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'discord' "
            "or m.startswith('discord.')))",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_whole_console_session_never_loads_discord(tmp_path: Path) -> None:
    """Lazy imports inside commands count too: run the example end to end."""
    program = f"""
import io, sys
from knowledge.cli import main
sys.stdin = open({str(REPO / "examples" / "two-officers.txt")!r}, encoding="utf-8")
sys.stdout = io.StringIO()
code = main(["console", "--db", {str(tmp_path / "x.db")!r}, "--config",
             {str(REPO / "config.toml")!r}])
code |= main(["db", "check", "--db", {str(tmp_path / "x.db")!r}])
sys.stdout = sys.__stdout__
print(code, sorted(m for m in sys.modules if m.split(".")[0] == "discord"))
"""
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 []"


# ---- bot/: shared pieces below the cogs, the launcher on top, no cycle ------------------

LAUNCHER = "bot.app"
COGS = frozenset({"bot.officers", "bot.expert", "bot.forum", "bot.notices", "bot.delivery"})
# The package itself runs first whenever any bot module is imported: it is the lowest layer.
SHARED = frozenset(
    {"bot", "bot.client", "bot.interactions", "bot.markdown", "bot.render", "bot.suggestions"}
)
BOT_SOURCES = {
    module_name(path): path.read_text(encoding="utf-8") for path in (REPO / "bot").rglob("*.py")
}


def bot_imports(sources: dict[str, str]) -> dict[str, list[tuple[int, str]]]:
    """For each module in `sources`, the other modules of `sources` it imports, by line."""
    longest_first = sorted(sources, key=len, reverse=True)
    found: dict[str, list[tuple[int, str]]] = {}
    for module, source in sources.items():
        edges = set()
        package = any(other.startswith(f"{module}.") for other in sources)
        for line, name in imported_names(source, module, package=package):
            target = next((m for m in longest_first if is_in(name, m)), None)
            if target is not None and target != module:
                edges.add((line, target))
        found[module] = sorted(edges)
    return found


def layer_violations(sources: dict[str, str]) -> list[str]:
    """The imports that break the bot's layers: only the launcher imports bot.app, and only
    the launcher imports a cog (no cog imports another; the shared modules import none)."""
    found = []
    for module, imports in bot_imports(sources).items():
        for line, target in imports:
            if target == LAUNCHER:
                found.append(f"{module} line {line}: imports {target}, the launcher")
            elif target in COGS and module in COGS:
                found.append(f"{module} line {line}: imports {target}, another cog")
            elif target in COGS and module != LAUNCHER:
                found.append(f"{module} line {line}: imports {target}, a cog, from below the cogs")
    return sorted(found)


def import_cycle(sources: dict[str, str]) -> list[str]:
    """One cycle among the modules' imports, or [] if there is none."""
    graph = {m: {target for _, target in imports} for m, imports in bot_imports(sources).items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return list(error.args[1])
    return []


def test_the_layer_check_flags_each_way_of_breaking_the_layers() -> None:
    broken = {
        "bot.app": "from bot.officers import OfficersCog\nfrom bot.client import ExchangeBot\n",
        "bot.client": "def later():\n    from bot import forum\n",
        "bot.forum": "from bot.officers import suggestion_view\n",
        "bot.officers": "if TYPE_CHECKING:\n    from bot.app import ExchangeBot\n",
        "bot.render": "import bot.expert\nfrom .notices import markdown_embeds\n",
        "bot.expert": "from bot.client import ExchangeBot\n",
        "bot.notices": "",
    }
    assert layer_violations(broken) == [
        "bot.client line 2: imports bot.forum, a cog, from below the cogs",
        "bot.forum line 1: imports bot.officers, another cog",
        "bot.officers line 2: imports bot.app, the launcher",
        "bot.render line 1: imports bot.expert, a cog, from below the cogs",
        "bot.render line 2: imports bot.notices, a cog, from below the cogs",
    ]


def test_the_cycle_check_finds_a_cycle_hidden_behind_type_checking() -> None:
    cycle = {
        "bot.client": "from bot.interactions import ExchangeTree\n",
        "bot.interactions": "if TYPE_CHECKING:\n    from bot.client import ExchangeBot\n",
    }
    assert sorted(set(import_cycle(cycle))) == ["bot.client", "bot.interactions"]


def test_relative_imports_are_read_from_where_they_are_written() -> None:
    assert imported_names("from . import a\nfrom ..b import c\n", "p.q.m") == [
        (1, "p.q.a"),
        (2, "p.b.c"),
    ]
    assert imported_names("from . import a\n", "p.q", package=True) == [(1, "p.q.a")]
    assert imported_names("from . import a\n") == []


def test_every_bot_module_has_a_layer() -> None:
    assert set(BOT_SOURCES) == COGS | SHARED | {LAUNCHER}


def test_the_bot_keeps_its_layers() -> None:
    assert layer_violations(BOT_SOURCES) == []


def test_the_bot_modules_import_each_other_without_a_cycle() -> None:
    assert import_cycle(BOT_SOURCES) == []


def test_the_import_reader_sees_the_real_bot_imports() -> None:
    """So that finding no violation above means something."""
    imports = {m: {target for _, target in found} for m, found in bot_imports(BOT_SOURCES).items()}
    assert imports[LAUNCHER] >= COGS | {"bot.client"}
    assert imports["bot.forum"] >= {"bot.client", "bot.interactions", "bot.suggestions"}
