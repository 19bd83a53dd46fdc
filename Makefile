# Set-up on a fresh machine needs only Python 3.11+: every target builds the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: run stop clean-data test lint format partitions

# Two stamps: `make run` needs only the runtime set; tests, lint and bench add the dev tools.
$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py maintain_partitions --verbosity 0
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo ""
	@echo "Fleet telemetry listening on $${HOST:-0.0.0.0}:$(PORT) (every interface unless HOST is set)"
	@echo "  open http://localhost:$(PORT)/  (admin: http://localhost:$(PORT)/admin/, API docs: /v1/docs)"
	@echo "  create an admin user:  $(BIN)/python manage.py createsuperuser"
	@echo "  create an API key:     $(BIN)/python manage.py create_api_key --name NAME --role device|analyst"
	@echo ""
	@mkdir -p .data
	exec $(BIN)/gunicorn -c gunicorn.conf.py --pid .data/gunicorn.pid fleet.project.wsgi

# Stops what `make run` started: gunicorn, then the embedded PostgreSQL (which otherwise keeps
# running after Ctrl-C, for the next command, and starts again on any manage.py command).
stop:
	@if [ -f .data/gunicorn.pid ] && kill -0 "$$(cat .data/gunicorn.pid)" 2>/dev/null; then \
		kill -TERM "$$(cat .data/gunicorn.pid)" && echo "stopped gunicorn"; \
	else echo "gunicorn is not running"; fi
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m fleet.plumbing.embedded stop; fi

# Removes .data/ (the embedded database and the development secret key) after asking.
clean-data:
	@printf "Remove .data/ (the embedded database, every reading in it, the secret key)? [y/N] "; \
		read answer; [ "$$answer" = y ] || [ "$$answer" = Y ] || { echo "kept"; exit 1; }
	@$(MAKE) --no-print-directory stop
	rm -rf .data

# The tests marked `citus` run a second time against the Citus coordinator in CITUS_URL (a
# throwaway database: the run empties it); without CITUS_URL that session reports them skipped.
test: $(VENV)/.installed
	$(BIN)/pytest $(ARGS)
	FLEET_TEST_CITUS=1 $(if $(CITUS_URL),DATABASE_URL="$(CITUS_URL)") $(BIN)/pytest -m citus $(ARGS)

# The type checker imports the settings (django-stubs): a placeholder server and key keep it from
# starting the embedded PostgreSQL or asking for a secret; nothing connects.
TYPECHECK_ENV := DATABASE_URL=postgres://typecheck@127.0.0.1:1/typecheck SECRET_KEY=typecheck-only

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TYPECHECK_ENV) $(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python manage.py pgmakemigrations --check --dry-run

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

partitions: $(VENV)/.installed
	$(BIN)/python manage.py maintain_partitions

# The benchmark (bench/): production server, floors and fleet-scale analytics in one run.
# QUICK=1 for a small run (< 2 minutes); ARGS for options (`ARGS=--help`).
.PHONY: bench
bench: $(VENV)/.installed
	$(BIN)/python -m bench $(if $(filter 1 yes true,$(QUICK)),--quick) $(ARGS)
