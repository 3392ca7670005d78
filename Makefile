# The two commands of the README: `make reproduce` and `make test`. Both create .venv if absent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test test-unit test-notebooks reproduce lab benchmark normalize clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## make test: unit tests, then every notebook executed by nbval (outputs checked only where marked)
test: test-unit test-notebooks

test-unit: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest tests/ -q -p no:cacheprovider

test-notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider -q notebooks/

## make reproduce: run every notebook on its defaults into runs/<timestamp>/ and write REPORT.md
## (ONLY="02 04" runs some; SEEDS="0 1 2" runs each once per seed and adds SEEDS.md, verdicts per seed)
ONLY  ?=
SEEDS ?=
reproduce: $(STAMP)
	$(PY) -m gan_helpers.tools.reproduce $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS))

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

benchmark: $(STAMP)
	$(PY) benchmarks/train_throughput.py

## make normalize: re-execute the committed notebooks in place and strip run-specific metadata
normalize: $(STAMP)
	$(PY) -m gan_helpers.tools.normalize notebooks/[0-9][0-9]_*.ipynb

clean:
	rm -rf runs outputs notebooks/outputs
