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
    {
        "bot",
        "bot.budget",
        "bot.client",
        "bot.interactions",
        "bot.markdown",
        "bot.render",
        "bot.suggestions",
        "bot.threads",
    }
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


# -- knowledge/'s layers ----------------------------------------------------------------
#
#   front ends    cli, console, importer, export, batchmatch, runner   (and bot/)
#   facade        exchange (Exchange.open is the composition root)
#   use cases     usecases.*, unit_of_work
#   store         store.*                     below them all: models, errors, text, …

STORE = frozenset(m for m in MODULES if is_in(m, "knowledge.store"))
USE_CASES = frozenset(
    m for m in MODULES if is_in(m, "knowledge.usecases") or m == "knowledge.unit_of_work"
)
FRONT_ENDS = frozenset(
    f"knowledge.{name}" for name in ("cli", "console", "importer", "export", "batchmatch", "runner")
)
FACADE = "knowledge.exchange"


def knowledge_source(module: str) -> str:
    path = REPO / Path(*module.split("."))
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text(
        encoding="utf-8"
    )


def knowledge_layer_violations(module: str, source: str) -> list[str]:
    """What `module` imports from a layer above its own (bot/ only lazily, in the CLI's run)."""
    tree = ast.parse(source)
    lazy_run_lines = {
        node.lineno
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef) and function.name == "cmd_run"
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }
    above: set[str] = set()
    if module in STORE:
        above = {*USE_CASES, FACADE, *FRONT_ENDS}
    elif module in USE_CASES:
        above = {FACADE, *FRONT_ENDS}
    found = []
    package = (REPO / Path(*module.split("."))).is_dir()
    for line, name in imported_names(source, module, package=package):
        if is_in(name, "bot") and not (module == "knowledge.cli" and line in lazy_run_lines):
            found.append(f"line {line}: imports {name}, the Discord adapter")
        elif any(is_in(name, upper) for upper in above):
            found.append(f"line {line}: imports {name}, a layer above {module}")
    return found


def test_every_knowledge_module_has_a_layer() -> None:
    assert {"knowledge.store", "knowledge.store.database", "knowledge.store.outbox"} <= STORE
    assert {"knowledge.usecases.officers", "knowledge.unit_of_work"} <= USE_CASES
    assert set(MODULES) >= FRONT_ENDS
    assert FACADE in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_knowledge_modules_import_only_from_their_layer_or_below(module: str) -> None:
    assert knowledge_layer_violations(module, knowledge_source(module)) == []


def test_the_layer_check_catches_each_kind_of_violation() -> None:
    check = knowledge_layer_violations
    assert check("knowledge.store.questions", "from knowledge.usecases import rules") == [
        "line 1: imports knowledge.usecases.rules, a layer above knowledge.store.questions"
    ]
    assert check("knowledge.store.outbox", "import knowledge.exchange") != []
    assert check("knowledge.usecases.officers", "from knowledge.console import x") != []
    assert check("knowledge.unit_of_work", "from knowledge.exchange import Exchange") != []
    assert check("knowledge.console", "from bot.client import ExchangeBot") != []
    at_top = "from bot.app import run\ndef cmd_run():\n    pass\n"
    assert check("knowledge.cli", at_top) == ["line 1: imports bot.app.run, the Discord adapter"]
    lazily = "def cmd_run():\n    from bot.app import run\n"
    assert check("knowledge.cli", lazily) == []
    assert check("knowledge.console", lazily) != []  # only the CLI may


# -- docstrings point at files that exist ---------------------------------------------------

DOC_REFERENCE = __import__("re").compile(r"\b((?:[\w.-]+/)*[\w-]+\.(?:md|py|toml))\b")


def missing_references(source: str) -> list[str]:
    """Files a module's docstrings and comments name that are not in this repository."""
    names = set(DOC_REFERENCE.findall(source))
    return sorted(
        name for name in names if not (REPO / name).exists() and not list(REPO.glob(f"**/{name}"))
    )


@pytest.mark.parametrize("module", MODULES)
def test_files_named_in_knowledge_point_at_this_repository(module: str) -> None:
    assert missing_references(knowledge_source(module)) == []


def test_a_reference_to_a_file_elsewhere_is_caught() -> None:
    assert missing_references('"""See DESIGN.md §5 and knowledge/service.py."""') == [
        "DESIGN.md",
        "knowledge/service.py",
    ]
    assert missing_references('"""See docs/architecture.md and store/outbox.py."""') == []
