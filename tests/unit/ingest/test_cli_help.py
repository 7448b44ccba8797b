"""Every command and option of ``linetrace --help`` says what it is for."""

from __future__ import annotations

import argparse

from ingest.cli.commands import _parser


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            for name, sub in action.choices.items():
                if name not in helped:
                    found.append(f"{path} {name} (command)")
                found += _undocumented(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help:
            found.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return found


def test_every_command_and_option_has_a_help_text() -> None:
    assert _undocumented(_parser(), "linetrace") == []
