# Learned image compression reproductions: the one entry point.
#   make demo        compress the scikit-image sample photos with every codec that has a committed checkpoint
#   make test        set up every environment and run every test suite (what CI runs)
# See README.md for the rest (setup-<p>, test-<p>, reproduce-<p> SCALE=mini|full, lint, bench, docker-<p>).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
SCALE ?= mini
PAPERS := cpm sga l3c hific irec
DIR_cpm := cpm_tf
DIR_sga := sga_tf
DIR_l3c := l3c_torch
DIR_hific := hific_torch
DIR_irec := irec_tf
KODAK_DIR ?= $(abspath ../shared/data/kodak)
TRAIN_DIR ?= $(abspath ../shared/data/train-photos)
export KODAK_DIR TRAIN_DIR
# pip output is noisy; PIP_FLAGS=-v to see it.
PIP_FLAGS ?= -q --disable-pip-version-check
ROOT_PY := .venv/bin/python
# this machine's pip.conf names local indexes that lack most packages; pip warns once per package
PIP_NOISE := is ignored: it is neither a file nor a directory

.PHONY: help setup setup-tools demo test test-tools test-cross test-crosscheck test-readers lint bench check-python $(addprefix setup-,$(PAPERS)) \
        $(addprefix test-,$(PAPERS)) $(addprefix test-slow-,$(PAPERS)) test-slow $(addprefix reproduce-,$(PAPERS)) $(addprefix bench-,$(PAPERS))

help:
	@sed -n '1,5p' Makefile | sed 's/^# \{0,1\}//'

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: Python 3.11 is required (TensorFlow 2.14.1 and torch 2.13.0 wheels exist for it)." >&2; \
	  echo "       '$(PYTHON)' is missing or another version. Install 3.11 (e.g. 'pyenv install 3.11.7' or" >&2; \
	  echo "       'apt install python3.11 python3.11-venv') and run make with PYTHON=/path/to/python3.11." >&2; \
	  exit 1; }

# --- environments ---------------------------------------------------------------------------------
# One venv per sub-project at <dir>/.venv from <dir>/requirements.txt (direct dependencies, exact pins)
# constrained by <dir>/requirements.lock (every transitive package, exact), plus shared_data and shared_eval
# installed editable (a .pth path entry: their code changes need no reinstall, and they bring no
# dependencies of their own). A stamp keyed on the hash of the pins makes a second run a no-op; changing a
# pin rebuilds the venv from scratch.
define make_venv
	@stamp_hash=$$(cat $(2) $(basename $(2)).lock | sha256sum | cut -c1-16); \
	if [ -f $(1)/.venv/.stamp-$$stamp_hash ]; then echo "$(1)/.venv is up to date"; exit 0; fi; \
	echo "creating $(1)/.venv from $(2) (pins hash $$stamp_hash)"; \
	rm -rf $(1)/.venv; \
	$(PYTHON) -m venv $(1)/.venv; \
	$(1)/.venv/bin/pip install $(PIP_FLAGS) -r $(2) -c $(basename $(2)).lock 2>&1 | { grep -v "$(PIP_NOISE)" || true; }; \
	flock $(CURDIR)/.setup-editable.lock $(1)/.venv/bin/pip install $(PIP_FLAGS) --no-deps \
	  --config-settings editable_mode=compat -e shared_data -e shared_eval 2>&1 | { grep -v "$(PIP_NOISE)" || true; }; \
	touch $(1)/.venv/.stamp-$$stamp_hash
	$(call install_self,$(1))
endef

# The sub-project's own package (<dir>/pyproject.toml) is installed editable into its venv (so scripts and
# tools import it from anywhere, with no sys.path edits); redone when pyproject.toml changes.
define install_self
	@if [ "$(1)" != "." ] && [ -f $(1)/pyproject.toml ] && \
	   { [ ! -f $(1)/.venv/.stamp-self ] || [ $(1)/pyproject.toml -nt $(1)/.venv/.stamp-self ]; }; then \
	  echo "installing $(1) (editable) into $(1)/.venv"; \
	  flock $(CURDIR)/.setup-editable.lock $(1)/.venv/bin/pip install $(PIP_FLAGS) --no-deps --no-build-isolation \
	    --config-settings editable_mode=compat -e $(1) 2>&1 | { grep -v "$(PIP_NOISE)" || true; }; \
	  touch $(1)/.venv/.stamp-self; fi
endef

setup: setup-tools $(addprefix setup-,$(PAPERS))

setup-tools: check-python
	$(call make_venv,.,tests/requirements.txt)

$(addprefix setup-,$(PAPERS)): setup-%: check-python
	$(call make_venv,$(DIR_$*),$(DIR_$*)/requirements.txt)

# --- tests ----------------------------------------------------------------------------------------
# Each sub-project's tests run in its own environment from its own folder; the framework-free packages'
# tests run in the tools environment; tests/ (cross-project) run last.
# `make test` builds the environments and runs the suites TEST_JOBS at a time (default 2: the machine has 2
# cores and most tests are single-threaded interpreter starts and imports); each suite's output is printed in
# one piece when it ends (-O), longest suites first, and the failed suites are listed at the end.
# TEST_JOBS=1 runs them one after the other. The editable installs of shared_data/shared_eval write
# egg-info into the source tree, so they take a lock (.setup-editable.lock) while environments build in parallel.
TEST_JOBS ?= 2
SUITES := sga cross cpm hific l3c irec tools readers crosscheck
test:
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) -Otarget setup
	@failed=$$(mktemp); \
	$(MAKE) --no-print-directory -j$(TEST_JOBS) -Orecurse -k FAILED_LIST=$$failed $(addprefix suite-,$(SUITES)) || true; \
	if [ -s $$failed ]; then echo "FAILED: $$(sort $$failed | tr '\n' ' ')" >&2; rm -f $$failed; exit 1; fi; \
	rm -f $$failed; echo "all test suites passed"

$(addprefix suite-,$(SUITES)): suite-%:
	@$(MAKE) --no-print-directory test-$* || { echo "$*" >> $(FAILED_LIST); exit 1; }

test-tools: setup-tools
	$(ROOT_PY) -m pytest -q shared_data/tests shared_eval/tests

test-cross: setup-tools
	$(ROOT_PY) -m pytest -q tests docker/tests

# shared_data's framework readers (tf.data in cpm_tf's env, torch Dataset in l3c_torch's env); the tools env
# has neither framework, so `test-tools` skips these two files.
test-readers: setup-cpm setup-l3c
	$(DIR_cpm)/.venv/bin/python -m pytest -q shared_data/tests/test_readers_tf.py shared_data/tests/test_tfdist.py
	$(DIR_l3c)/.venv/bin/python -m pytest -q shared_data/tests/test_readers_torch.py

# shared_eval's NumPy PSNR/MS-SSIM against tf.image (cpm_tf's env) and pytorch_msssim (hific_torch's env).
test-crosscheck: setup-cpm setup-hific
	cd shared_eval/tests_crosscheck && ../../$(DIR_cpm)/.venv/bin/python -m pytest -q test_msssim_tf.py
	cd shared_eval/tests_crosscheck && ../../$(DIR_hific)/.venv/bin/python -m pytest -q test_msssim_torch.py

$(addprefix test-,$(PAPERS)): test-%: setup-%
	cd $(DIR_$*) && .venv/bin/python -m pytest -q tests

# Slow checks (long trainings, all-Kodak round trips) are marked `slow` and excluded from `make test`.
test-slow: $(addprefix test-slow-,$(PAPERS))

$(addprefix test-slow-,$(PAPERS)): test-slow-%: setup-%
	cd $(DIR_$*) && .venv/bin/python -m pytest -q -m slow tests

# Decoder fuzzing (issue 17): each sub-project's slow tests/test_fuzz.py (>= 10,000 mutated files, prints the
# counts per outcome); FUZZ_CASES=N FUZZ_SEED=S override the count and the seed.
FUZZ_PAPERS := $(foreach p,$(PAPERS),$(if $(wildcard $(DIR_$(p))/tests/test_fuzz.py),$(p)))
.PHONY: fuzz $(addprefix fuzz-,$(PAPERS))
fuzz: $(addprefix fuzz-,$(FUZZ_PAPERS))

$(addprefix fuzz-,$(PAPERS)): fuzz-%: setup-%
	cd $(DIR_$*) && .venv/bin/python -m pytest -q -s -m slow tests/test_fuzz.py

lint: setup-tools
	.venv/bin/ruff check .

# --- demo, reproductions, benchmarks --------------------------------------------------------------
demo: setup
	$(ROOT_PY) -m shared_eval.demo --out runs/demo

# make reproduce-<paper> SCALE=mini|full: the sub-project's reproduce.py trains/evaluates and writes
# runs/<paper>/<scale>/measures.csv + summary.json; the regression check in ci/ then judges it.
$(addprefix reproduce-,$(PAPERS)): reproduce-%: setup-% setup-tools
	@if [ ! -f $(DIR_$*)/reproduce.py ]; then \
	  echo "reproduce-$*: $(DIR_$*)/reproduce.py does not exist yet; nothing was run." >&2; exit 2; fi
	cd $(DIR_$*) && .venv/bin/python reproduce.py --scale $(SCALE) --out $(abspath runs/$*/$(SCALE))
	$(ROOT_PY) -m shared_eval.check --paper $* --scale $(SCALE) --measures runs/$*/$(SCALE)/measures.csv

# make zoo-cpm: train the committed CPM zoo models with their recipe (cpm_tf/zoo/<name>/TRAINING.md; resumable:
# a rerun continues the checkpoints under runs/cpm/zoo), convert them (integerize), evaluate all 24 Kodak
# images with real files and rewrite cpm_tf/zoo/<name>/measures.csv + ci/references/cpm-zoo-<name>.csv.
# CPM_ZOO_ARGS passes flags to cpm_tf/zoo_train.py (e.g. CPM_ZOO_ARGS="--no_train").
CPM_ZOO_ARGS ?=
.PHONY: zoo-cpm
zoo-cpm: setup-cpm
	cd $(DIR_cpm) && nice -n 19 .venv/bin/python zoo_train.py --out $(abspath runs/cpm/zoo) $(CPM_ZOO_ARGS)

# make zoo-l3c: train the committed L3C zoo model with its recipe (l3c_torch/zoo/l3c_cpu/TRAINING.md; resumable
# after SIGKILL: a rerun continues the checkpoints under runs/l3c/zoo with --restore --restore_continue),
# export it (float32) + integerize, evaluate all 24 Kodak images with real files beside PNG / WebP / JPEG 2000 /
# JPEG XL lossless and rewrite its measures.csv + ci/references/l3c-zoo-l3c_cpu.csv. L3C_ZOO_ARGS: e.g. "--minutes 30".
L3C_ZOO_ARGS ?=
.PHONY: zoo-l3c
zoo-l3c: setup-l3c setup-tools
	cd $(DIR_l3c) && nice -n 19 .venv/bin/python zoo.py all l3c_cpu --out $(abspath runs/l3c/zoo) $(L3C_ZOO_ARGS)

# make zoo-sga: train the SGA zoo (sga_tf/zoo/ms/TRAINING.md: mean-scale hyperprior N=64 at λ 0.003/0.012/0.045,
# three parallel processes; resumable after SIGKILL: a rerun continues the checkpoints under runs/sga/zoo),
# export float32 weights + integerize, evaluate all 24 Kodak images with real files (M3 on every image, M1 = SGA
# at 100 iterations on the images of SGA_ZOO_ARGS) and rewrite sga_tf/zoo/ms/measures.csv, summary.json and
# ci/references/sga-zoo-ms.csv. SGA_ZOO_ARGS="--sga_its 100" runs M1 on all 24 images (hours on this CPU).
SGA_ZOO_ARGS ?= --sga_its 100 --sga_images kodim23.png,kodim05.png,kodim15.png,kodim01.png
.PHONY: zoo-sga
zoo-sga: setup-sga
	cd $(DIR_sga) && nice -n 19 .venv/bin/python zoo.py --work $(abspath runs/sga/zoo) all $(SGA_ZOO_ARGS)

# make zoo-hific: train the HiFiC zoo recipe "cpu" (hific_torch/zoo.py RECIPES: MINI's architecture at 2.3x its
# widths, regime med; stage 1 (rate + MSE) 4000 steps, then the GAN stage warm-started from it 2000 steps at the
# same rate target; resumable after SIGKILL: a rerun continues runs/hific/zoo/cpu/<stage>/checkpoints), export
# both stages (float32, integerized) to hific_torch/zoo/cpu/, evaluate all 24 Kodak images with real files
# (JPEG at matched bpp, two weight-free perceptual proxies; LPIPS/FID only with their weights) and rewrite
# its measures.csv, summary.json + ci/references/hific-zoo-cpu.csv. HIFIC_ZOO_ARGS: e.g. "--minutes 60".
HIFIC_ZOO_ARGS ?=
.PHONY: zoo-hific
zoo-hific: setup-hific
	cd $(DIR_hific) && nice -n 19 .venv/bin/python zoo.py all cpu --out $(abspath runs/hific/zoo) $(HIFIC_ZOO_ARGS)

# make zoo-irec: train the iREC zoo recipe "cpu" (irec_tf/zoo.py RECIPES: the lossy 2-level VAE at N=96, M=64
# with the original's layers; 64² crops, then 256² crops from those weights; resumable after SIGKILL: a rerun
# continues runs/irec/zoo/cpu/phase*/train_state), export (float32 + the integer network) to irec_tf/zoo/cpu/,
# evaluate all 24 Kodak images with real files (2 coder processes; actual vs ideal code length, JPEG at matched
# bpp) and rewrite its measures.csv, summary.json + ci/references/irec-zoo-cpu.csv. IREC_ZOO_ARGS: e.g. "--minutes 60".
IREC_ZOO_ARGS ?=
.PHONY: zoo-irec
zoo-irec: setup-irec
	cd $(DIR_irec) && nice -n 19 .venv/bin/python zoo.py all cpu --out $(abspath runs/irec/zoo) $(IREC_ZOO_ARGS)

# make zoo-report: the committed zoo on Kodak as one table + R-D plot (docs/zoo-kodak.md, docs/zoo-kodak.png),
# from the committed measures files only (shared_eval.zoo; encodes nothing)
.PHONY: zoo-report
zoo-report: setup-tools
	$(ROOT_PY) -m shared_eval.zoo --out docs

bench: $(addprefix bench-,$(PAPERS))

$(addprefix bench-,$(PAPERS)): bench-%: setup-%
	@if [ ! -f $(DIR_$*)/bench.py ]; then echo "bench-$*: no $(DIR_$*)/bench.py yet" >&2; exit 2; fi
	cd $(DIR_$*) && .venv/bin/python bench.py

# --- docker (no engine runs on the development machine; see docker/README.md) ----------------------
DOCKER ?= docker
DATA_DIR ?= $(abspath ../shared/data)
ARGS ?= --help
DOCKER_BUILD_FLAGS ?=
DOCKER_RUN_FLAGS ?= --gpus all
$(addprefix docker-,$(PAPERS)): docker-%:
	DOCKER_BUILDKIT=1 $(DOCKER) build $(DOCKER_BUILD_FLAGS) -f docker/$(DIR_$*).Dockerfile -t lic-$*:latest .

$(addprefix docker-run-,$(PAPERS)): docker-run-%:
	mkdir -p runs
	$(DOCKER) run --rm $(DOCKER_RUN_FLAGS) -v $(DATA_DIR):/data:ro -v $(abspath runs):/work/runs lic-$*:latest $(ARGS)
