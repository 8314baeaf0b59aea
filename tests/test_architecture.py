"""`knowledge/` is the core: it takes ids and strings and never imports discord."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "knowledge"
MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py")
)


def discord_imports(source: str) -> list[str]:
    """Every place the source imports discord, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            callee = node.func
            called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [str(first.value)]
        found += [f"line {node.lineno}: {n}" for n in names if n.split(".")[0] == "discord"]
    return found


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
