# syntax=docker/dockerfile:1.7
#
# Image of ONE Dagster+ Hybrid code location, chosen by the build argument LOCATION: the directory
# name under code_locations/, which is also its uv package name and its dagster_cloud.yaml
# location_name; its module is that name with `-` -> `_` (hybrid-location -> hybrid_location).
# tests/test_deployment.py checks those conventions for every location.
#
# Build context: the REPOSITORY ROOT (libs/ must be inside it), e.g.
#   docker build --platform linux/amd64 --build-arg LOCATION=hybrid-location -t hybrid-location .
#   docker build --platform linux/amd64 --build-arg LOCATION=monitoring-location -t monitoring-location .
# CI builds it in .github/workflows/deploy-location.yml (docker/build-push-action, file: Dockerfile,
# build-args: LOCATION=<location_name>, GIT_URL=<repository URL>, GIT_SHA=<commit>). GIT_URL and
# GIT_SHA are optional (empty by default): they only link the assets' code references in the UI
# to the commit the image was built from (see the end of this file).
#
# Runtime contract with the Dagster+ agent:
#   * No ENTRYPOINT: the Kubernetes agent sets the container `args` and the Docker agent the
#     container `command` (`dagster api grpc ...` for the code server, `dagster api execute_run`
#     for runs); an ENTRYPOINT would be prepended to them. The python base image's CMD
#     (`python3`) is inherited and is always replaced by the agent.
#   * `dagster`, `dagster-cloud` and the location's module come from /opt/venv, first on PATH.
#   * WORKDIR /opt/dagster/app == `working_directory` in dagster_cloud.yaml; it is writable by
#     the run user (CatBoost writes catboost_info/ into the working directory).
#   * The image holds the location and the workspace libraries it depends on, exactly as pinned
#     by uv.lock, and nothing of the dev groups: not another location (monitoring-location's
#     end-to-end test uses hybrid-location as a dev dependency), not fraud-testing.
#
# GPUs (hybrid-location on a GPU agent): CatBoost's manylinux wheel already carries its CUDA
# kernels and needs only the NVIDIA driver libraries of the host, which the NVIDIA container
# runtime (nvidia-container-toolkit) mounts into the container. So the same image serves CPU and
# GPU agents: on Kubernetes the node needs the NVIDIA device plugin (or GPU operator) and the pod a
# `nvidia.com/gpu` limit; on Docker the agent passes `device_requests` (AGENT_SETUP.md).
# NVIDIA_DRIVER_CAPABILITIES below tells the runtime which driver libraries to inject WHEN a GPU is
# assigned to the container; it is set for every location because it is inert otherwise: without
# the runtime, or without an assigned GPU (monitoring-location never requests one, and
# NVIDIA_VISIBLE_DEVICES is unset in this base image), nothing is injected. One unconditional ENV
# keeps the file free of per-location branches.

# hadolint: DL3029 (--platform on FROM) is ignored on each FROM below, deliberately: the image is
# linux/amd64 by design (the agents' nodes are amd64 and CI builds with platforms: linux/amd64),
# so the file pins it instead of leaving it to whichever machine runs the build.

# ---------------------------------------------------------------------------------------------
# Only the pyproject.toml of EVERY workspace member. The root pyproject.toml globs its members
# (libs/*, code_locations/*) and names them in [tool.uv.sources]; without all their manifests uv
# cannot load the workspace ("The workspace does not have a member ...") unless --frozen lets it
# skip that check, so the dependency layer gets the complete set and also works with --locked.
# Filtering here instead of listing each member keeps new members working without editing this
# file; BuildKit caches COPY by content, so a source-only change leaves the dependency layer below
# cached. This stage does not depend on LOCATION: both locations share it.
# hadolint ignore=DL3029
FROM --platform=linux/amd64 python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS manifests
WORKDIR /src
COPY libs/ libs/
COPY code_locations/ code_locations/
RUN find /src -type f ! -name pyproject.toml -delete \
    && find /src -depth -type d -empty -delete

# ---------------------------------------------------------------------------------------------
# hadolint ignore=DL3029
FROM --platform=linux/amd64 python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder
# uv from its official image, pinned (the version that writes uv.lock).
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src

# Declared here, after the location-independent steps above, so that they stay shared.
ARG LOCATION

# 1) Third-party dependencies only, straight from uv.lock: one layer, reused until uv.lock or a
#    pyproject.toml changes. `${LOCATION:?...}` stops a build without --build-arg LOCATION here.
COPY uv.lock pyproject.toml ./
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-install-workspace \
      --package "${LOCATION:?build with --build-arg LOCATION=<directory under code_locations/>}"

# 2) The workspace libraries and the location itself, installed as regular (non-editable)
#    packages so the runtime stage needs /opt/venv only.
COPY libs/ libs/
COPY code_locations/${LOCATION}/ code_locations/${LOCATION}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${LOCATION}"

# ---------------------------------------------------------------------------------------------
# hadolint ignore=DL3029
FROM --platform=linux/amd64 python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid 10001 --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
    && mkdir -p /opt/dagster/app /opt/dagster/dagster_home \
    && chown -R 10001:10001 /opt/dagster

# The environment stays root-owned: the run user can import it but not modify it.
COPY --from=builder /opt/venv /opt/venv

WORKDIR /opt/dagster/app
USER 10001:10001

# Fail the build, not the deploy, if the agent's entry points or the location are missing.
# LOCATION is a build argument only (no ENV): it is not part of the running container.
ARG LOCATION
RUN dagster --version \
    && dagster-cloud --version \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1].replace('-', '_') + '.definitions') is None)" "${LOCATION}"

# Where the code came from, for the "open in GitHub" links of the assets' code references: the
# asset catalog reads FRAUD_GIT_URL + FRAUD_GIT_REF; Dagster+ sets its own DAGSTER_CLOUD_GIT_*
# variables in branch deployments only, so prod has links only through these. CI passes the
# repository URL and the commit SHA; a local build leaves them empty ("no links"), and a variable
# set on the container (ConfigMap, agent env file) overrides them. Declared LAST, after every RUN:
# GIT_SHA changes with every commit and a changed build argument invalidates the cache of the RUN
# steps after its ARG, so the dependency and venv layers above stay cached.
ARG GIT_URL=""
ARG GIT_SHA=""
ENV FRAUD_GIT_URL=${GIT_URL} \
    FRAUD_GIT_REF=${GIT_SHA}
