# bertscope: `make run` sets up and runs the pipeline on config.yaml; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES)
PAPER_MODEL ?= deepset/bert-base-cased-squad2

.PHONY: setup run paper report test lint dry-run clean

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

report: setup
	$(BIN)/snakemake --report results/report.html

dry-run: setup
	$(SNAKEMAKE) --dry-run

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/snakemake --lint

clean:
	rm -rf results/model results/inputs results/attributions results/tables results/figures results/logs \
		results/benchmarks .snakemake
