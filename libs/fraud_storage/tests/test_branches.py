"""The one name that isolates a branch deployment: collision-free, stable, a valid identifier and
path segment (issue 15: ``feature-a``, ``feature_a`` and ``Feature.A`` all gave ``FEATURE_A``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_storage.branches import MAX_BRANCH_NAME_LENGTH, branch_identifier
from fraud_storage.identifiers import InvalidIdentifierError, TableName, validate_identifier
from fraud_storage.tables import TableNames

COLLIDING = [
    "feature-a",
    "feature_a",
    "Feature.A",
    "FEATURE_A",
    "feature--a",
    "feature/a",
    "feature a",
    "feature-a ",
    "f\u00e9ature-a",
]
ODD = [
    "feature/new-model#42",
    "x" * 500,
    "X" * 41,
    "123",
    "///",
    ".",
    "..",
    "../../prod",
    "caf\u00e9 \u2013 fix",
    "\u65e5\u672c\u8a9e",
    "a\nb",
    "a\x00b",
    "PR_12345678",  # shaped like a hashed name: hashed itself, so no plain name can mimic one
    "bad\udcffbytes",  # an undecodable byte in an environment variable (surrogate escape)
]
SHAPE = re.compile(r"[A-Z][A-Z0-9_]*")


def test_names_that_sanitise_alike_stay_apart() -> None:
    names = [branch_identifier(branch) for branch in COLLIDING]
    assert len(set(names)) == len(COLLIDING), dict(zip(COLLIDING, names, strict=True))
    # and stay readable: the sanitised branch name, then a short hash of the raw one
    assert all(name.startswith("FEATURE_A") or name.startswith("F_ATURE_A") for name in names)


def test_a_plain_upper_case_name_is_kept_and_every_other_is_hashed() -> None:
    assert branch_identifier("PR_42") == "PR_42"  # pull requests: FRAUD_PR_42, branches/PR_42
    assert branch_identifier("FEATURE_A") == "FEATURE_A"
    assert re.fullmatch(r"FEATURE_A_[0-9A-F]{8}", branch_identifier("feature-a"))
    assert re.fullmatch(r"PR_42_[0-9A-F]{8}", branch_identifier("pr_42"))  # case matters
    hash_shaped = branch_identifier("PR_12345678")
    assert hash_shaped != "PR_12345678"
    assert hash_shaped.startswith("PR_12345678_")


@pytest.mark.parametrize("branch", COLLIDING + ODD)
def test_the_name_is_a_valid_identifier_and_path_segment(branch: str, tmp_path: Path) -> None:
    name = branch_identifier(branch)
    assert SHAPE.fullmatch(name), name
    assert len(name) <= MAX_BRANCH_NAME_LENGTH
    assert validate_identifier(name) == name  # a whole identifier on its own
    schema = TableNames().for_branch(branch).scores.schema
    assert schema == f"FRAUD_{name}"
    assert TableName(table="T", schema=schema).quoted("snowflake") == f'"{schema}"."T"'
    directory = tmp_path / "branches" / name
    directory.mkdir(parents=True)
    assert directory.parent == tmp_path / "branches"  # one segment, never a way out
    assert [p.name for p in (tmp_path / "branches").iterdir()] == [name]


def test_the_name_is_stable_across_processes_and_releases() -> None:
    """Existing branch schemas and model prefixes must keep their name: pinned values, and the same
    in a fresh interpreter with another hash seed (no ``hash()``, no per-process salt)."""
    pinned = {
        "PR_42": "PR_42",
        "feature-a": "FEATURE_A_0A5491ED",
        "feature_a": "FEATURE_A_14D425A9",
        "Feature.A": "FEATURE_A_459A1DEA",
    }
    assert {branch: branch_identifier(branch) for branch in pinned} == pinned
    code = (
        "import json, sys; from fraud_storage.branches import branch_identifier; "
        "print(json.dumps([branch_identifier(b) for b in json.loads(sys.argv[1])]))"
    )
    branches = COLLIDING + ODD[:-1]  # argv cannot carry a lone surrogate
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(branches)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        assert json.loads(out) == [branch_identifier(b) for b in branches]


@pytest.mark.parametrize("branch", ["", "   ", "\n"])
def test_no_name_is_refused(branch: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="branch"):
        branch_identifier(branch)
    with pytest.raises(InvalidIdentifierError):
        TableNames().for_branch(branch)
