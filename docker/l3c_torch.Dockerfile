# syntax=docker/dockerfile:1
# lic-l3c: l3c_torch (Mentzer et al. 2019, practical full-resolution learned lossless compression) on PyTorch.
# Build from the repository root:   make docker-l3c      (= docker build -f docker/l3c_torch.Dockerfile -t lic-l3c:latest .)
# CPU-only variant:                 docker build --build-arg VARIANT=cpu -f docker/l3c_torch.Dockerfile -t lic-l3c:cpu .
# The Python packages come from l3c_torch/requirements.txt only; docker/tests checks that the CUDA below is
# the one the pinned torch wheel was built for (docker/README.md has the matrix and sources).
ARG VARIANT=gpu

# GPU: torch's PyPI wheel for Linux is the CUDA 13.0 build and brings the CUDA 13.0 libraries and cuDNN as
# exact-pinned pip dependencies, so the base supplies only the CUDA 13.0 driver layer (libcudart, the
# NVIDIA container variables); a cuDNN base image would add a second, unused cuDNN.
FROM nvidia/cuda:13.0.2-base-ubuntu22.04 AS os-gpu

# CPU: the same Ubuntu release without CUDA; pip takes torch's CPU build (torch==X matches X+cpu).
FROM ubuntu:jammy-20251001 AS os-cpu
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu

# Common layer: Python 3.11 (Ubuntu 22.04's python3.11), the toolchain torchac's JIT build needs at run time
# (torch.utils.cpp_extension compiles torchac's C++ backend with $CXX and ninja; ninja comes pinned from
# requirements.txt; GCC 12 because torch's extension flags use -std=c++20), and the unprivileged user.
# Ubuntu's package versions move with security updates; the base images above are pinned by full tag.
# (os-${VARIANT} is one of the two stages above, each pinned by full tag; hadolint cannot resolve it.)
# hadolint ignore=DL3006
FROM os-${VARIANT} AS os
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    CC=gcc-12 CXX=g++-12
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-dev gcc-12 g++-12 libc6-dev ca-certificates \
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
COPY l3c_torch/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY shared_data /src/shared_data
COPY shared_eval /src/shared_eval
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src/shared_data /src/shared_eval

# Runtime image.
FROM os AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY l3c_torch /work/l3c_torch
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/lic-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    LIC_PROJECT_DIR=/work/l3c_torch LIC_PACKAGE=l3c \
    KODAK_DIR=/data/kodak TRAIN_DIR=/data/train-photos \
    MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib TORCH_EXTENSIONS_DIR=/opt/torch_extensions
RUN mkdir -p /work/runs /opt/torch_extensions \
 && chown 1000:1000 /work/runs \
 && chmod 1777 /opt/torch_extensions
# the user 'lic' created above
USER 1000:1000
WORKDIR /work/l3c_torch
# Compile torchac's backend now (world-writable, so `docker run --user` with another id reuses it) and fail
# the build, not the first run, if the toolchain or the environment is broken.
RUN umask 0000 && python -c "import torchac, torch, l3c, shared_data, shared_eval"
ENTRYPOINT ["lic-entrypoint"]
CMD ["--help"]
