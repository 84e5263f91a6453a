"""The command line reads as one tool: groups, hidden aliases of the flat names, help in paragraphs."""

import inspect

import pytest

from helpers import run_cli
from vidlab.apps.cli import command
from vidlab.apps.clitools import rewrap_help


def test_groups_and_hidden_aliases():
    root = command()
    visible = {name for name, c in root.commands.items() if not c.hidden}
    hidden = {name for name, c in root.commands.items() if c.hidden}
    assert {"detect", "cartoon", "lfb", "data"} <= visible
    assert hidden == {"detect-data", "detect-train", "detect-eval", "cartoonize", "cartoon-export"}
    assert set(root.commands["detect"].commands) == {"run", "train", "eval", "data"}
    assert set(root.commands["cartoon"].commands) == {"run", "export"}
    # an alias runs the very function of its grouped command
    def fn(cmd):
        return inspect.unwrap(cmd.callback)

    assert fn(root.commands["detect-train"]) is fn(root.commands["detect"].commands["train"])
    assert fn(root.commands["cartoonize"]) is fn(root.commands["cartoon"].commands["run"])
    assert fn(root.commands["cartoon-export"]) is fn(root.commands["cartoon"].commands["export"])


@pytest.mark.parametrize("argv", [["detect", "run", "--help"], ["detect-train", "--help"], ["cartoon", "--help"],
                                  ["cartoonize", "--help"], ["detect", "--help"]])
def test_help_of_groups_and_aliases(argv, capsys):
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "Usage: vidlab" in out and not err


def test_the_group_runs_its_main_command_without_the_word_run(tmp_path, capsys):
    missing = str(tmp_path / "missing.mp4")
    old = run_cli(["detect", missing, "-c", str(tmp_path / "ck")], capsys)
    new = run_cli(["detect", "run", missing, "-c", str(tmp_path / "ck")], capsys)
    options_first = run_cli(["detect", "-c", str(tmp_path / "ck"), missing], capsys)
    assert old == new == options_first
    assert old[0] == 2 and old[2] == f"vidlab: error: {missing}: video not found\n"


def test_help_paragraphs_are_rewrapped():
    text = "First line of a\nsentence that goes on.\n\nSecond paragraph\nhere.\n- a bullet\n- another\n  indented"
    assert rewrap_help(text) == ("First line of a sentence that goes on.\n\nSecond paragraph here.\n- a bullet\n"
                                 "- another\n  indented")
    assert rewrap_help("\bkept\nas is") == "\bkept\nas is"

    def walk(cmd):
        yield cmd
        for sub in (getattr(cmd, "commands", None) or {}).values():
            yield from walk(sub)

    for cmd in walk(command()):
        for para in (cmd.help or "").split("\n\n"):
            lines = para.split("\n")
            # every line after a paragraph's first is a list item or indented, never a broken sentence
            assert all(ln[:1] in ("-", " ", "*") or ln[:1].isdigit() for ln in lines[1:]), (cmd.name, para)


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {arch: i3d_r10_tiny}\n")
    code, _, err = run_cli(["train", "--config", str(cfg), "data.batch_size=eight"], capsys)
    assert code == 2 and err == "vidlab: error: data.batch_size: expected an integer, got 'eight'\n"
    from vidlab.engine.config import ConfigError

    with pytest.raises(ConfigError, match="data.batch_size"):
        run_cli(["train", "--debug", "--config", str(cfg), "data.batch_size=eight"], capsys)
