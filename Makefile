# Carreau: `make run` serves the app with demo data, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-s3 scale lint format check messages bench load clean setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	mkdir -p var

# The worker runs long jobs (large exports...) beside the dev server; both stop together.
run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py recover_jobs
	$(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST):$(PORT)

# The suite runs in parallel, one pytest-xdist worker per core, each on its own test database
# (test_carreau_gw0, ...; SQLite's are in memory). `--dist load` hands tests out in collection
# order, so each worker still runs pytest-django's order: the transactional tests (browser,
# concurrency), which empty every table when they end, after the others. No `--reuse-db`: a
# kept database has lost the roles to those flushes, SQLite's in-memory one cannot be kept, and
# creating PostgreSQL's costs about 3 s per worker.
# TEST_WORKERS=0 runs it in this one process (pdb, print debugging).
TEST_WORKERS ?= auto
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

# The storage tests (marked `storage`) with the default storage on S3, as production sets it:
# a moto_server (S3 API) on a free loopback port, started here and stopped on exit. With
# CARREAU_TEST_S3_ENDPOINT already set (CI starts its own server), that server is used. Each
# pytest process makes a fresh bucket.
FREE_PORT := import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])
test-s3: setup
	@if [ -n "$$CARREAU_TEST_S3_ENDPOINT" ]; then \
	  $(PY) -m pytest -m storage -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS); \
	else \
	  port=$$($(PY) -c '$(FREE_PORT)'); \
	  $(VENV)/bin/moto_server -H 127.0.0.1 -p $$port >var/moto_server.log 2>&1 & moto=$$!; \
	  trap 'kill $$moto 2>/dev/null' EXIT INT TERM; \
	  $(PY) tests/wait_for_s3.py http://127.0.0.1:$$port || exit 1; \
	  CARREAU_TEST_S3_ENDPOINT=http://127.0.0.1:$$port \
	    $(PY) -m pytest -m storage -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS); \
	fi

# Two gunicorn app servers, one worker, one PostgreSQL database of its own (created and dropped
# by the run, on the server SCALE_DATABASE_URL names) and a moto_server S3 API, all on loopback:
# one person alternates between the servers (upload, download, a job, the session). Exits
# non-zero on any failed check or server error (tests/scale.py).
SCALE_DATABASE_URL ?= postgres://carreau:carreau-ci@127.0.0.1:5432/carreau_scale
scale: setup
	SCALE_DATABASE_URL=$(SCALE_DATABASE_URL) $(PY) tests/scale.py $(SCALE_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Migrations in step with the models, and a production configuration that `check --deploy`
# finds nothing to say about.
check: setup
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=false ALLOWED_HOSTS=carreau.example.org \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	$(PY) manage.py check --deploy --fail-level WARNING

# Regenerate the English catalogue from the French source strings, then compile it.
messages: setup
	$(PY) manage.py makemessages --locale en --no-obsolete --add-location file \
		--ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'
	$(PY) manage.py compilemessages --locale en --ignore '.venv/*'

clean:
	rm -rf $(VENV) var

# Server time of the main pages on a generated data set, in its own database (var/bench.sqlite3,
# or BENCH_DATABASE_URL for PostgreSQL), then the same pages over HTTP through gunicorn (one sync
# worker). Writes docs/benchmarks.md. BENCH_ARGS="--scale 5 --pages-only": five times the data.
BENCH_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench.sqlite3
bench: setup
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench $(BENCH_ARGS)

# Then gunicorn (2 workers, production settings) on loopback, browsed by 20 simulated people
# for 60 s, on the same database (PostgreSQL intended: BENCH_DATABASE_URL=postgres://...).
load: setup
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py loadrun $(LOAD_ARGS)
