# Instruction Studio: `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip options, e.g. PIP_EXTRA="--index-url https://download.pytorch.org/whl/cu124"
PIP_EXTRA ?=
PYTEST_ARGS ?=
# Test processes for `make test` (pytest-xdist); each test file runs whole in one of them.
TEST_WORKERS ?= 2
EXTRAS ?= dev,train

.PHONY: install run test lint format i18n bench bench-gpu screenshots fuzz clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_EXTRA) -e ".[$(EXTRAS)]"
	@touch $@

install: $(VENV)/.installed-$(EXTRAS)

run:
	@$(MAKE) --no-print-directory install
	$(BIN)/studio run

test:
	@$(MAKE) --no-print-directory install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint:
	@$(MAKE) --no-print-directory install
	$(BIN)/ruff check $(wildcard app trainer tests bench migrations)
	$(BIN)/ruff format --check $(wildcard app trainer tests bench migrations)

format:
	$(BIN)/ruff format $(wildcard app trainer tests bench migrations)
	$(BIN)/ruff check --fix $(wildcard app trainer tests bench migrations)

# Extract user-visible strings and merge them into the catalogs.
i18n:
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k gettext -k ngettext:1,2 --no-location \
		--sort-output --omit-header -o app/locales/messages.pot .
	$(BIN)/pybabel update -i app/locales/messages.pot -d app/locales -D messages \
		--no-fuzzy-matching --ignore-obsolete

bench:
	@$(MAKE) --no-print-directory install
	@for f in $(filter-out bench/pg.py bench/locustfile.py bench/labelstudio_api.py bench/search_words.py bench/corpus.py bench/import_floor.py bench/quality.py bench/trainer_runs.py bench/trainer_gpu.py bench/memory_gpu.py bench/try_setup.py,$(wildcard bench/*.py)); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# On a machine with a CUDA GPU (a few minutes on one H100): the trainer's model FLOPs utilisation
# on a random ~0.5B Llama and the memory estimate against what CUDA allocates; both reports go
# to docs/benchmarks/ with the date (each names the card). Without a GPU both say so.
bench-gpu:
	@$(MAKE) --no-print-directory install
	$(BIN)/python bench/trainer.py --device cuda > docs/benchmarks/trainer-gpu-$$(date +%F).json
	$(BIN)/python bench/memory_gpu.py > docs/benchmarks/memory-gpu-$$(date +%F).json
	@cat docs/benchmarks/trainer-gpu-$$(date +%F).json docs/benchmarks/memory-gpu-$$(date +%F).json

# Before a release: the API fuzzing test, deeper (more examples per operation, the HTML pages too,
# where only a 5xx counts), on SQLite and PostgreSQL. FUZZ_SEED=n replays or varies the run.
FUZZ_EXAMPLES ?= 50
FUZZ_SEED ?= 14
fuzz:
	@$(MAKE) --no-print-directory install
	STUDIO_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) STUDIO_FUZZ_SEED=$(FUZZ_SEED) STUDIO_FUZZ_PAGES=1 \
		$(BIN)/pytest tests/security/test_fuzz_api.py -k fuzzing_the_api $(PYTEST_ARGS)

# Start the app with the demo in a temporary folder and retake docs/screenshots/*.png.
screenshots:
	@$(MAKE) --no-print-directory install
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
