# seatrial: `make test` and `make rehearse` set themselves up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV ?= sandbox
# VOLUME_DATA=1GiB (sandbox): random data in the volumes, so the report can project the freeze window
# ENV=kind only: KIND_OPTS="--node-image I --s3-image I --velero-chart V --harbor-chart V --uploader U --keep"
KIND_OPTS ?=
# ENV=real only: options of `seatrial real up` (e.g. REAL_OPTS="--velero-chart-version 12.1.0")
REAL_OPTS ?=
APT_PACKAGES := restic docker-registry chromium

# the tests' workers (pytest-xdist): whole files per worker, the real environment's tier as one group
# (tests/conftest.py); three on two cores, because a third of the suite's time is waiting (restic's retries, Velero's
# phases, programs starting); TEST_WORKERS=0 runs them in this one process
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile

.PHONY: test test-without-real test-fast rehearse bench lint system-deps venv clean real-binaries

system-deps:
ifeq ($(ENV),kind)
	@$(PYTHON) seatrial/fixtures/kind/prereqs.py kind $(VENV)
else
	@missing=""; for tool in restic docker-registry kubectl chromium; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	missing="$${missing/ kubectl/ kubernetes-client}"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "seatrial needs:$$missing -- run: sudo apt-get install -y$$missing"; exit 2; \
	  fi; \
	fi
endif

$(BIN)/seatrial: pyproject.toml
	@$(PYTHON) seatrial/fixtures/kind/prereqs.py python $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile -e '.[dev]' || { rm -rf $(VENV); echo "seatrial: error: pip failed; $(VENV) removed, so the next make starts clean"; exit 1; }
	@touch $@

venv: $(BIN)/seatrial

# the real environment's programs (control plane, kwok, Velero, its AWS plugin, kopia, versitygw), built from Go
# modules into ~/.cache/seatrial/realplane (skipped when cached)
real-binaries:
	nice -n 19 $(PYTHON) seatrial/fixtures/real/build.py --only kube,kwok,velero-1.16,velero-1.18,plugin-for-aws,kopia,versitygw

test: system-deps venv real-binaries
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# the suite without the real environment's tier (what the 10-minute target of docs/performance.md measures)
test-without-real: system-deps venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not real"

# the feedback loop while working: every test but the end-to-end ones (`slow`) and the real environment's tier;
# `make test` stays the whole suite, and CI runs it
test-fast: system-deps venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow and not real"

rehearse: system-deps venv $(if $(filter real,$(ENV)),real-binaries)
	$(BIN)/seatrial rehearse --env $(ENV) $(if $(DIR),--dir $(DIR)) $(if $(VOLUME_DATA),--volume-data $(VOLUME_DATA)) $(KIND_OPTS) $(if $(filter real,$(ENV)),$(REAL_OPTS))

# issue 13's benchmarks and one table of their ratios (by hand, ~6 min; BENCH_OPTS="--only checks --sizes 10,1000")
bench: system-deps venv
	$(BIN)/python benchmarks/summary.py $(BENCH_OPTS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
