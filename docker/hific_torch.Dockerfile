# syntax=docker/dockerfile:1
# lic-hific: hific_torch (Mentzer et al. 2020, high-fidelity generative image compression) on PyTorch.
# Build from the repository root:   make docker-hific      (= docker build -f docker/hific_torch.Dockerfile -t lic-hific:latest .)
# CPU-only variant:                 docker build --build-arg VARIANT=cpu -f docker/hific_torch.Dockerfile -t lic-hific:cpu .
# The Python packages come from hific_torch/requirements.txt only; docker/tests checks that the CUDA below is
# the one the pinned torch wheel was built for (docker/README.md has the matrix and sources).
ARG VARIANT=gpu

# GPU: torch's PyPI wheel for Linux is the CUDA 13.0 build and brings the CUDA 13.0 libraries and cuDNN as
# exact-pinned pip dependencies, so the base supplies only the CUDA 13.0 driver layer (libcudart, the
# NVIDIA container variables); a cuDNN base image would add a second, unused cuDNN.
FROM nvidia/cuda:13.0.2-base-ubuntu22.04 AS os-gpu

# CPU: the same Ubuntu release without CUDA; pip takes torch's CPU build (torch==X matches X+cpu).
FROM ubuntu:jammy-20251001 AS os-cpu
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

# Common layer: Python 3.11 (Ubuntu 22.04's python3.11) and the unprivileged user. No compiler: hific_torch
# JIT-builds nothing (docker/tests fails if its requirements gain torchac without the toolchain here).
# Ubuntu's package versions move with security updates; the base images above are pinned by full tag.
# (os-${VARIANT} is one of the two stages above, each pinned by full tag; hadolint cannot resolve it.)
# hadolint ignore=DL3006
FROM os-${VARIANT} AS os
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 --shell /bin/bash lic

# Builder: the virtual environment at /opt/venv (pip's tooling and caches stay behind in this stage).
FROM os AS builder
ARG PIP_VERSION=24.3.1
ARG SETUPTOOLS_VERSION=80.9.0
ARG WHEEL_VERSION=0.45.1
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir "pip==${PIP_VERSION}" "setuptools==${SETUPTOOLS_VERSION}" "wheel==${WHEEL_VERSION}"
COPY hific_torch/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY shared_data /src/shared_data
COPY shared_eval /src/shared_eval
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src/shared_data /src/shared_eval

# Runtime image.
FROM os AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY hific_torch /work/hific_torch
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/lic-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    LIC_PROJECT_DIR=/work/hific_torch LIC_PACKAGE=hific \
    KODAK_DIR=/data/kodak TRAIN_DIR=/data/train-photos \
    MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib
RUN mkdir -p /work/runs && chown 1000:1000 /work/runs
# the user 'lic' created above
USER 1000:1000
WORKDIR /work/hific_torch
# Fail the build, not the first run, if the environment is broken.
RUN python -c "import torch, hific, shared_data, shared_eval"
ENTRYPOINT ["lic-entrypoint"]
CMD ["--help"]
