"""The example pipelines in docs/ci/ stay runnable: valid YAML, and every option they give
pytest or the fleet command is one the suite has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fixtures.report.__main__ import fleet_main

DOCS = Path(__file__).parent.parent / "docs" / "ci"
PLUGIN = (Path(__file__).parent.parent / "fixtures" / "plugin.py").read_text()


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_example_pipeline_uses_only_options_the_suite_has(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DOCS / name).read_text()
    assert isinstance(yaml.safe_load(text), dict)
    commands = re.findall(r"pytest (.*?)(?:\n\s*(?:-|\w+:)|\Z)", text, flags=re.S)
    assert commands, "the example runs the suite"
    for command in commands:
        for option in re.findall(r"(--[a-z][a-z-]+)", command):
            assert f'"{option}"' in PLUGIN, f"{name}: pytest {option} is not an option of the suite"
    fleet = re.findall(r"python -m fixtures\.report fleet (.*)", text)
    assert fleet, "the example publishes the fleet page"
    with pytest.raises(SystemExit) as shown:
        fleet_main(["--help"])
    assert shown.value.code == 0
    usage = capsys.readouterr().out
    for option in re.findall(r"(--[a-z][a-z-]+)", fleet[0]):
        assert option in usage, f"{name}: fleet {option} is not an option of the fleet command"
