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

## make test: unit tests, then every notebook executed by nbval at smoke scale (CI=1: each notebook's
## parameters cell shrinks its work in one visible line; outputs are checked only where marked)
test: test-unit test-notebooks

test-unit: $(STAMP)
	CI=1 MPLBACKEND=Agg $(PY) -m pytest tests/ -q -p no:cacheprovider

test-notebooks: $(STAMP)
	CI=1 GAN_FRESH=1 $(PY) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider -q notebooks/

## make reproduce: run every notebook on its full defaults (CI unset) into runs/<timestamp>/ and write REPORT.md
## (ONLY="02 4" runs some; SEEDS="0 1 2 3 4" sets every notebook's seeds: verdicts then come from those seeds;
## RESUME=runs/<timestamp> reruns into that folder, reusing the trainings an interrupted run finished there;
## FRESH=1 ignores and overwrites cached trainings)
ONLY   ?=
SEEDS  ?=
RESUME ?=
FRESH  ?=
reproduce: $(STAMP)
	env -u CI $(PY) -m gan_helpers.tools.reproduce $(if $(ONLY),--only $(ONLY)) $(if $(SEEDS),--seeds $(SEEDS)) \
		$(if $(RESUME),--resume $(RESUME)) $(if $(FRESH),--fresh)

## make lab: trust the notebooks first (a clone is untrusted, and JupyterLab would show the saved sliders as raw
## text), then open JupyterLab on them; as root (containers, hosted notebooks) with --allow-root
lab: $(STAMP)
	$(VENV)/bin/jupyter trust notebooks/[0-9][0-9]_*.ipynb
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

benchmark: $(STAMP)
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/pool_scoring.py

## make normalize: re-execute the committed notebooks in place and strip run-specific metadata
## (reusing trainings cached by an earlier run with the same parameters; FRESH=1 trains everything anew)
normalize: $(STAMP)
	env -u CI $(PY) -m gan_helpers.tools.normalize $(if $(FRESH),--fresh) notebooks/[0-9][0-9]_*.ipynb

clean:
	rm -rf runs outputs notebooks/outputs
