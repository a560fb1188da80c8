# Top-level glue for the ten paper subprojects. Each subproject stays self-contained; this file
# only builds one shared environment and runs every subproject's own targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PAPERS := jakiro kangaroo double_rounding ghostnetv3 nauf_return probing_mia diffusiondialog sda vsc_sam edgs
# A subproject is implemented as soon as it has a pyproject.toml.
IMPLEMENTED := $(strip $(foreach p,$(PAPERS),$(if $(wildcard $(p)/pyproject.toml),$(p))))
NOT_IMPLEMENTED := $(filter-out $(IMPLEMENTED),$(PAPERS))

PYTHON311 ?= python3.11
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
MM_STAMP := $(VENV)/.setup-mm-stamp
SETUP_INPUTS := requirements-dev.txt $(wildcard $(addsuffix /pyproject.toml,$(PAPERS)) $(addsuffix /requirements.txt,$(PAPERS)))
MMCV_WHEELS ?= $(CURDIR)/../shared/wheels
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# Seconds one subproject's `make test` may run before it counts as failed (budget: 240 s).
SUBPROJECT_TIMEOUT ?= 600

export PYTHONDONTWRITEBYTECODE := 1

# Fails with exit 2 and the list of valid names unless $(1) is one of the ten papers.
define require_paper
case " $(PAPERS) " in *" $(1) "*) ;; *) \
  echo "unknown subproject '$(1)'; valid names: $(PAPERS)" >&2; exit 2;; esac
endef

.PHONY: help setup check-python setup-mm test-all demo lint readme doctor clean

help:
	@echo "make demo        tiny train + eval of every implemented paper, one results table"
	@echo "make test-all    every subproject's tests + the monorepo checks"
	@echo "make test-NAME / demo-NAME   one paper; NAME in: $(PAPERS)"
	@echo "make setup | setup-mm | lint | readme | doctor | clean"
	@echo "implemented: $(or $(IMPLEMENTED),none)"
	@echo "not implemented yet: $(or $(NOT_IMPLEMENTED),none)"

setup: check-python $(STAMP)

check-python:
	@command -v $(PYTHON311) >/dev/null 2>&1 || { \
	  echo "make setup: Python 3.11 is missing: '$(PYTHON311)' is not on PATH." >&2; \
	  echo "Install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv install 3.11)" >&2; \
	  echo "or point to it: make setup PYTHON311=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON311) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "make setup: '$(PYTHON311)' is Python $$($(PYTHON311) -c 'import platform; print(platform.python_version())'), 3.11 is required." >&2; exit 1; }
	@$(PYTHON311) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "make setup: '$(PYTHON311)' has no venv/ensurepip module (Debian: apt-get install python3.11-venv)." >&2; exit 1; }

$(STAMP): $(SETUP_INPUTS)
	@[ -x $(VENV)/bin/python ] || $(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet $(TORCH_PINS)
	@# Each subproject's pinned requirements.txt constrains the shared install, so one environment
	@# holds exactly the versions each subproject was measured with (a clash fails here, loudly).
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt \
	  $(foreach p,$(IMPLEMENTED),-c $(p)/requirements.txt -e "./$(p)[test]")
	@for p in $(IMPLEMENTED); do \
	  if grep -q '^setup-system:' $$p/Makefile 2>/dev/null; then $(MAKE) --no-print-directory -C $$p setup-system PYTHON=$(PY) || exit 1; fi; \
	done
	@echo "setup: implemented: $(or $(IMPLEMENTED),none); not implemented yet: $(or $(NOT_IMPLEMENTED),none)"
	@touch $@

# mmcv 2.1.0 has no PyPI wheel for torch 2.14.1: install ours from MMCV_WHEELS, else build the sdist
# with the C++20 fix (10-20 min on 2 cores). CONTRIBUTING.md documents the same recipe.
setup-mm: setup $(MM_STAMP)

$(MM_STAMP):
	@whl=$$(ls $(MMCV_WHEELS)/mmcv-2.1.0-cp311-*.whl 2>/dev/null | head -1); \
	if [ -n "$$whl" ]; then $(PY) -m pip install --quiet "$$whl"; \
	else echo "setup-mm: no mmcv wheel in MMCV_WHEELS=$(MMCV_WHEELS); building mmcv 2.1.0 from source (10-20 min)"; \
	  $(PY) -m pip install --quiet 'setuptools<70' wheel ninja && \
	  tmp=$$(mktemp -d) && $(PY) -m pip download --quiet --no-deps --no-binary :all: mmcv==2.1.0 -d $$tmp && \
	  tar -xzf $$tmp/mmcv-2.1.0.tar.gz -C $$tmp && \
	  sed -i 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' $$tmp/mmcv-2.1.0/setup.py && \
	  MMCV_WITH_OPS=1 $(PY) -m pip install --quiet --no-build-isolation $$tmp/mmcv-2.1.0 || exit 1; fi
	$(PY) -m pip install --quiet mmdet==3.3.0 mmsegmentation==1.2.2 ftfy regex
	@touch $@

test-all: setup setup-mm
	@$(PY) tools/run_tests.py --timeout $(SUBPROJECT_TIMEOUT) $(PAPERS)

test-%:
	@$(call require_paper,$*)
	@$(MAKE) --no-print-directory setup
	@$(PY) tools/run_tests.py --timeout $(SUBPROJECT_TIMEOUT) --only "$*" $(PAPERS)

demo: setup
	@$(PY) tools/run_demos.py $(PAPERS)

demo-%:
	@$(call require_paper,$*)
	@$(MAKE) --no-print-directory setup
	@$(PY) tools/run_demos.py --only "$*" $(PAPERS)

lint: setup
	$(VENV)/bin/ruff check .

readme: setup
	$(PY) tools/readme_table.py README.md $(PAPERS)

# Runs with whatever Python exists, so it also helps when setup itself failed.
doctor:
	@py=$(VENV)/bin/python; [ -x $$py ] || py=$$(command -v $(PYTHON311) || command -v python3); \
	$$py tools/doctor.py $(PAPERS)

clean:
	rm -rf .test-reports .pytest_cache .ruff_cache $(STAMP) $(MM_STAMP)
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
	@for p in $(IMPLEMENTED); do rm -rf $$p/outputs $$p/multirun $$p/.pytest_cache; done
