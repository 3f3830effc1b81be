"""Servers started as the README says listen on 127.0.0.1: nothing is exposed unless the user asks."""

from __future__ import annotations

import re

SERVER = re.compile(r"\b(trl vllm-serve|vllm serve|mlflow server|mlflow ui)\b")


def shell_lines(markdown: str) -> list[str]:
    """The lines of the ```bash blocks."""
    return [line for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S) for line in block.splitlines()]


def test_readme_server_commands_bind_localhost(repo_root):
    commands = [line for line in shell_lines((repo_root / "README.md").read_text()) if SERVER.search(line)]
    assert commands, "README starts no server: this test has nothing to check"
    for command in commands:
        assert "--host 127.0.0.1" in command, command


def test_the_trainer_connects_to_localhost_by_default(repo_root):
    from dayplan.config import load_params

    assert load_params(repo_root / "params.yaml").train.grpo["vllm_server_host"] == "127.0.0.1"
