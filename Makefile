# bertscope: `make run` sets up and runs the pipeline on config.yaml; `make test` sets up and runs the tests
# (`make test-fast` leaves out the slow ones).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES)
PAPER_MODEL ?= deepset/bert-base-cased-squad2
DEMO_SEED ?= 0

.PHONY: setup run paper report test test-fast docs lint dry-run clean demo-model

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

run: setup
	$(SNAKEMAKE)

# The paper's run lives in paper/ (paper/results/...), so that it never replaces the demo's results/.
paper: setup
	mkdir -p paper
	ln -sf ../config.yaml paper/config.yaml
	$(SNAKEMAKE) --directory paper --config model=$(PAPER_MODEL)

# Rebuild the shipped demo model (models/demo) and its SHA256SUMS; `make run` only copies it. About a minute on
# 2 cores; prints the held-out exact match. Weights are bit-identical per machine only: regenerate the README's
# numbers after a rebuild.
demo-model: setup
	$(BIN)/python scripts/build_demo_model.py --seed $(DEMO_SEED)

report: setup
	$(BIN)/snakemake --report results/report.html

dry-run: setup
	$(SNAKEMAKE) --dry-run

# On every core (pytest-xdist): the tests that read one shared pipeline run go to one worker (tests/conftest.py,
# shared_run). TEST_WORKERS=0 runs them in this process, one after another.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: setup
	$(PYTEST)

# The inner loop: every test but those marked slow (pipeline runs, SLURM, Chromium; pytest.ini). CI runs `make test`.
test-fast: setup
	$(PYTEST) -m "not slow"

# Regenerate docs/configuration.md's settings reference from workflow/schemas/config.schema.yaml.
docs: setup
	$(BIN)/python docs/generate_config_docs.py

lint: setup
	$(BIN)/snakemake --lint

# Everything the pipeline wrote below results/ (its README stays), and Snakemake's records.
clean:
	find results -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .snakemake
