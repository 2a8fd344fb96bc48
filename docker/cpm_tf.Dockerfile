# syntax=docker/dockerfile:1
# lic-cpm: cpm_tf (Mentzer et al. 2018, conditional probability models) on TensorFlow.
# Build from the repository root:   make docker-cpm      (= docker build -f docker/cpm_tf.Dockerfile -t lic-cpm:latest .)
# CPU-only variant:                 docker build --build-arg VARIANT=cpu -f docker/cpm_tf.Dockerfile -t lic-cpm:cpu .
# The Python packages come from cpm_tf/requirements.txt only; docker/tests checks that the CUDA/cuDNN below
# are the ones the pinned tensorflow was built against (docker/README.md has the matrix and sources).
ARG VARIANT=gpu

# GPU: CUDA 11.8 runtime + cuDNN 8.7.0.84, the configuration tensorflow 2.14.x is built and tested against.
FROM nvidia/cuda:11.8.0-runtime-ubuntu22.04 AS os-gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcudnn8=8.7.0.84-1+cuda11.8 \
 && apt-mark hold libcudnn8 \
 && rm -rf /var/lib/apt/lists/*

# CPU: the same Ubuntu release without CUDA.
FROM ubuntu:jammy-20251001 AS os-cpu

# Common layer: Python 3.11 (Ubuntu 22.04's python3.11) and the unprivileged user.
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
COPY cpm_tf/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY shared_data /src/shared_data
COPY shared_eval /src/shared_eval
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src/shared_data /src/shared_eval

# Runtime image.
FROM os AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY cpm_tf /work/cpm_tf
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/lic-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    LIC_PROJECT_DIR=/work/cpm_tf LIC_PACKAGE=cpm \
    KODAK_DIR=/data/kodak TRAIN_DIR=/data/train-photos \
    MPLBACKEND=Agg MPLCONFIGDIR=/tmp/matplotlib TF_CPP_MIN_LOG_LEVEL=1
RUN mkdir -p /work/runs && chown 1000:1000 /work/runs
# the user 'lic' created above
USER 1000:1000
WORKDIR /work/cpm_tf
# Fail the build, not the first run, if the environment is broken.
RUN python -c "import tensorflow, cpm, shared_data, shared_eval"
ENTRYPOINT ["lic-entrypoint"]
CMD ["--help"]
