"""Guarantee 8 (docs/reliability.md): every uv command that installs or runs uses uv.lock as is.

Workflow permissions, action pinning, fork secrets and non-root images are checked in
tests/test_deployment.py; this file adds the one supply-chain rule checked nowhere else: no
``uv`` invocation in CI, the CI entry point or an image may re-resolve the lock (``--frozen`` or
``--locked`` on the command, or ``UV_FROZEN``/``UV_LOCKED`` in force where it runs).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FROZEN_FLAGS = ("--frozen", "--locked")
FROZEN_ENV = ("UV_FROZEN", "UV_LOCKED")
# uv subcommands that resolve or install from the lock (``uv lock --check`` only compares).
RESOLVING = re.compile(r"\buv\s+(?:--\S+\s+)*(sync|run|export|add|remove|tree|pip\s+install)\b")


def uv_commands(script: str) -> list[str]:
    """The shell lines of ``script`` that run a resolving uv subcommand (continuations joined)."""
    joined = re.sub(r"\s*\\\n\s*", " ", script)
    lines = (line.split("#", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if RESOLVING.search(line)]


def frozen(command: str) -> bool:
    return any(flag in command.split() for flag in FROZEN_FLAGS)


def env_frozen(env: dict[str, Any] | None) -> bool:
    return any(str((env or {}).get(name, "")).lower() in ("1", "true") for name in FROZEN_ENV)


def workflow_files() -> list[Path]:
    return sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def dockerfiles() -> list[Path]:
    """The root Dockerfile (every location's image) and any Dockerfile a member carries."""
    members = [*ROOT.glob("code_locations/*/Dockerfile"), *ROOT.glob("libs/*/Dockerfile")]
    return [ROOT / "Dockerfile", *sorted(members)]


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_uv_command_in_a_workflow_uses_the_lock_as_is(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    unfrozen = []
    for job_name, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            in_force = env_frozen(workflow.get("env")) or env_frozen(job.get("env"))
            in_force = in_force or env_frozen(step.get("env"))
            for command in uv_commands(step.get("run", "")):
                if not (in_force or frozen(command)):
                    unfrozen.append(f"{job_name}: {command}")
    assert unfrozen == []


def test_the_ci_entry_point_freezes_the_lock_before_any_install() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv lock --check" in script  # the lock matches every pyproject.toml
    export = re.search(r"^export UV_FROZEN=1\b", script, flags=re.M)
    assert export is not None
    before = uv_commands(script[: export.start()])
    assert [c for c in before if not frozen(c)] == []
    assert uv_commands(script[export.start() :])  # the installs and tests come after it


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_uv_command_in_an_image_uses_the_lock_as_is(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    env_set = re.search(r"^ENV\s+.*\bUV_(FROZEN|LOCKED)=1", text, flags=re.M) is not None
    commands = uv_commands(text)
    assert commands, "the image installs nothing with uv?"
    assert env_set or all(frozen(c) for c in commands), commands


def test_ci_workflows_and_images_install_one_uv_version() -> None:
    """A uv bootstrapped by .ci/run is the version CI and the images use, never "latest"."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pinned = re.search(r"^UV_VERSION=(\S+)", script, flags=re.M)
    assert pinned is not None
    assert '"uv==${UV_VERSION}"' in script
    versions = {pinned.group(1)}
    for path in workflow_files():
        versions |= set(re.findall(r'(?:version|default): "(\d+\.\d+\.\d+)"', path.read_text()))
    for path in dockerfiles():
        versions |= set(re.findall(r"ghcr\.io/astral-sh/uv:(\S+)", path.read_text()))
    assert versions == {pinned.group(1)}


def test_the_checker_catches_an_unfrozen_command() -> None:
    """The rule itself can fail: an unfrozen install is found, a frozen one is not."""
    assert uv_commands("uv sync --no-dev") == ["uv sync --no-dev"]
    assert not frozen("uv sync --no-dev")
    assert uv_commands("RUN uv \\\n    sync --locked") == ["RUN uv sync --locked"]
    assert uv_commands("uv lock --check\necho uv") == []
    assert env_frozen({"UV_FROZEN": "1"})
    assert not env_frozen({"UV_FROZEN": "0"})
