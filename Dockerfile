# syntax=docker/dockerfile:1
#
# The tfo image: `tfo daemon` and `tfo worker` with terraform and/or OpenTofu.
#
#   docker build -t tfo:local .                                              # terraform only
#   docker build --build-arg TERRAFORM_VERSION= --build-arg TOFU_VERSION=1.8.5 -t tfo:tofu .
#   docker build --build-arg TOFU_VERSION=1.8.5 -t tfo:both .                # both binaries
#
# terraform and OpenTofu are downloaded from their official release sites, and
# checked against the release's SHA256SUMS (and against TERRAFORM_SHA256 /
# TOFU_SHA256 when you pin them), only while the image is built. Build it on a
# machine or CI runner with internet access: the offline development machines of
# this project cannot reach those sites, so `docker build` is never part of `make test`.
#
# The image runs as uid/gid 10001 with a read-only root filesystem. Only these
# paths are written, so mount volumes there (docker-compose.yml and deploy/k8s do):
#   /var/lib/tfo  tfo's state dir (TFO_STATE_DIR); a worker's own --work-dir (TFO_WORK_DIR) in cluster mode
#   /infra        the infra repo: terraform writes .terraform/, lock files and local state in the workspaces
#   /tmp, /home/tfo  scratch space and HOME for terraform and its providers

# --- stage 1: tfo and its Python dependencies, in a venv that is copied as a whole --
FROM python:3.11-slim-bookworm AS python-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/tfo
COPY pyproject.toml README.md LICENSE ./
COPY tfo ./tfo
COPY config ./config
COPY activities ./activities
COPY workflows ./workflows
COPY daemon ./daemon
RUN /opt/tfo/bin/pip install . \
    && /opt/tfo/bin/python -m compileall -q /opt/tfo/lib

# --- stage 2: terraform and/or OpenTofu, downloaded and verified at build time ------
FROM debian:bookworm-slim AS iac-download
ARG TERRAFORM_VERSION=1.9.8
ARG TERRAFORM_SHA256=
ARG TOFU_VERSION=
ARG TOFU_SHA256=
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /download
RUN set -eux; \
    arch="${TARGETARCH:-amd64}"; \
    mkdir -p /out; \
    if [ -z "${TERRAFORM_VERSION}" ] && [ -z "${TOFU_VERSION}" ]; then \
        echo "set TERRAFORM_VERSION and/or TOFU_VERSION" >&2; exit 1; \
    fi; \
    if [ -n "${TERRAFORM_VERSION}" ]; then \
        zip="terraform_${TERRAFORM_VERSION}_linux_${arch}.zip"; \
        base="https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}"; \
        curl --proto '=https' --tlsv1.2 -fsSLO "${base}/${zip}"; \
        curl --proto '=https' --tlsv1.2 -fsSLO "${base}/terraform_${TERRAFORM_VERSION}_SHA256SUMS"; \
        grep " ${zip}\$" "terraform_${TERRAFORM_VERSION}_SHA256SUMS" | sha256sum -c -; \
        if [ -n "${TERRAFORM_SHA256}" ]; then echo "${TERRAFORM_SHA256}  ${zip}" | sha256sum -c -; fi; \
        unzip -o "${zip}" terraform -d /out; \
    fi; \
    if [ -n "${TOFU_VERSION}" ]; then \
        zip="tofu_${TOFU_VERSION}_linux_${arch}.zip"; \
        base="https://github.com/opentofu/opentofu/releases/download/v${TOFU_VERSION}"; \
        curl --proto '=https' --tlsv1.2 -fsSLO "${base}/${zip}"; \
        curl --proto '=https' --tlsv1.2 -fsSLO "${base}/tofu_${TOFU_VERSION}_SHA256SUMS"; \
        grep " ${zip}\$" "tofu_${TOFU_VERSION}_SHA256SUMS" | sha256sum -c -; \
        if [ -n "${TOFU_SHA256}" ]; then echo "${TOFU_SHA256}  ${zip}" | sha256sum -c -; fi; \
        unzip -o "${zip}" tofu -d /out; \
    fi; \
    chmod 0755 /out/*

# --- stage 3: the runtime image ------------------------------------------------------
FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="tfo" \
      org.opencontainers.image.description="Temporal Terraform Orchestrator: DAG runs of terraform workspaces and drift detection"
# git and ssh fetch terraform modules from git sources; tini reaps the terraform and
# sentinel processes tfo starts and forwards SIGTERM, so terraform gets its SIGINT.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 tfo \
    && useradd --uid 10001 --gid 10001 --home-dir /home/tfo --create-home --shell /usr/sbin/nologin tfo \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/tfo /infra
COPY --from=python-build /opt/tfo /opt/tfo
COPY --from=iac-download /out/ /usr/local/bin/
ENV PATH=/opt/tfo/bin:$PATH \
    HOME=/home/tfo \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TFO_STATE_DIR=/var/lib/tfo \
    TF_IN_AUTOMATION=1 \
    TF_INPUT=0 \
    CHECKPOINT_DISABLE=1
WORKDIR /infra
USER 10001:10001
# Writable paths: anonymous volumes unless the runtime mounts its own there, so the
# image also runs with `docker run --read-only`.
VOLUME ["/var/lib/tfo", "/tmp", "/home/tfo"]
EXPOSE 9464 9465
# /healthz on the default --metrics-port: the process is alive. Orchestrators use
# /readyz (connected to Temporal, workers polling) for readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tfo", "--help"]
