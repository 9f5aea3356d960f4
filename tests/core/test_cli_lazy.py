"""The plain GUI start parses no command line: studio.cli imports no command module (nor the core
modules they bring: datasets, training) on the way to the window. Commands still all register."""

from __future__ import annotations

import importlib
import subprocess
import sys

import studio.cli as cli

COMMAND_PARTS = ("studio.cli.chat", "studio.cli.models", "studio.cli.dataset", "studio.cli.train",
                 "studio.cli.inspect", "studio.core.datasets", "studio.core.training")


def test_gui_start_imports_no_command_module():
    code = (
        "import sys, studio.cli as cli\n"
        "seen = []\n"
        "cli.gui_main = lambda files=None: seen.append(list(files)) or 0\n"
        "assert cli.main([]) == 0 and cli.main(['gui', 'a.gguf']) == 0 and cli.main(['b.jsonl']) == 0\n"
        f"loaded = [m for m in sys.modules if m.startswith({COMMAND_PARTS!r})]\n"
        "print(seen, loaded); sys.exit(1 if loaded or len(seen) != 3 else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_is_routed_to_the_module_that_registers_it():
    for path in set(cli.COMMAND_MODULES.values()):
        module = importlib.import_module(path)
        assert module.COMMANDS
        for command in module.COMMANDS:
            assert cli.COMMAND_MODULES[command] == path
    parser = cli._parser()  # registers every command once (a duplicate would raise)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"gui", *cli.COMMAND_MODULES}


def test_help_lists_commands_in_table_order(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "{gui," + ",".join(cli.COMMAND_MODULES) + "}" in out


def test_opens_app_directly_only_for_the_app(tmp_path):
    existing = tmp_path / "notes"
    existing.write_text("x")
    for argv in ([], ["gui"], ["gui", "a.gguf"], ["model.gguf"], ["data.jsonl", "b.csv"], [str(existing)]):
        assert cli.opens_app_directly(argv), argv
    for argv in (["chat"], ["train", "x.jsonl"], ["--help"], ["gui", "--help"], ["models", "list"]):
        assert not cli.opens_app_directly(argv), argv
