# Flask production stack: `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# --- Variables ---------------------------------------------------------------------------
# The stack's settings live in .env (see .env.example); Compose reads it itself. make reads it
# too and exports it to the host-side scripts: a value there wins over the environment, and
# the make command line wins over both.
-include .env
ENV_NAMES := $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env 2>/dev/null)
$(foreach name,$(ENV_NAMES),$(eval export $(name)))

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

# Compose with the stand-in images of images.env when that file exists (see offline-images/).
COMPOSE := scripts/compose.sh
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed

.PHONY: help
help:  ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: check-docker
check-docker:  ## Check Docker Engine and Compose v2; install them on Debian/Ubuntu as root if missing
	@scripts/check-docker.sh

.PHONY: images
images: check-docker  ## Check that the images can be had; build stand-ins where no registry answers
	@offline-images/ensure.sh

.PHONY: init
# After `images`: the Prometheus password's hash is made in the stack's Python image.
init: images  ## Create secrets/ and a self-signed certificate in certs/ where absent
	@scripts/first-run.sh

.PHONY: up
up: check-docker images init  ## Build the images and start the whole stack, waiting until all are healthy
	$(COMPOSE) up -d --build --wait --wait-timeout 300
	@scripts/urls.sh

# --- The developer's day (docs/development.md) ---------------------------------------------
# compose.yaml with compose.dev.yaml on top: the working tree's code, reloaded on save, debug on.
DEV_COMPOSE := $(COMPOSE) -f compose.yaml -f compose.dev.yaml
# `exec` with a terminal when make has one, without when fed from a pipe.
EXEC_TTY = $$([ -t 0 ] || echo -T)

.PHONY: dev
dev: check-docker images init  ## The stack running the working tree's code, reloading on save (debug on, loopback only); `make up` goes back
	$(DEV_COMPOSE) up -d --build --wait --wait-timeout 300
	@scripts/urls.sh

.PHONY: shell
shell:  ## A Flask shell in the running app (make dev or make up)
	$(COMPOSE) exec $(EXEC_TTY) app flask --app app shell

.PHONY: psql
psql:  ## psql on the running stack's database, as the superuser
	$(COMPOSE) exec $(EXEC_TTY) postgres sh -c 'exec psql -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'

.PHONY: hooks
hooks: $(VENV_STAMP)  ## Install the local pre-commit hooks (ruff, shellcheck, YAML, fast unit tests; offline)
	$(VENV)/bin/pre-commit install

# The unit tests that touch the database start their own Postgres from the stack's image
# (tests/support/postgres.py): Docker and the images first, unless TEST_POSTGRES_IMAGE names
# one this machine has (the fork guide's test, mutmut).
UNIT_IMAGES := $(if $(TEST_POSTGRES_IMAGE),check-docker,images)

.PHONY: test-fast
test-fast: $(VENV_STAMP) $(UNIT_IMAGES)  ## The unit tests less the slow ones (the hooks, the fork guide): the pre-commit subset
	$(VENV)/bin/pytest -m "unit and not slow" tests/unit $(PYTEST_ARGS)

.PHONY: test-dev
test-dev: $(VENV_STAMP)  ## Prove `make dev`'s live reload through the edge (switches a running stack to it and back)
	$(VENV)/bin/pytest -m dev tests/dev $(PYTEST_ARGS)

.PHONY: deploy
deploy: check-docker  ## Replace the running app with a new build, with no failed request
	@scripts/deploy.sh

.PHONY: swarm-up
swarm-up: check-docker  ## Deploy the stack to Docker Swarm (a single-node swarm if none), wait until healthy
	@deploy/swarm/up.sh

.PHONY: swarm-down
swarm-down: check-docker  ## Remove the Swarm stack (SWARM_REMOVE_VOLUMES=1 also deletes its data)
	@deploy/swarm/down.sh

.PHONY: down
down: check-docker  ## Stop the stack and keep its data
	$(COMPOSE) down

.PHONY: destroy
destroy: check-docker  ## Stop the stack AND delete its data volumes (database, metrics, scheduled backups)
	$(COMPOSE) --profile backup --profile grafana down --volumes --remove-orphans

.PHONY: reload
reload:  ## Reload nginx, Prometheus and Alertmanager after editing their configuration
	$(COMPOSE) kill -s HUP prometheus alertmanager
	$(COMPOSE) exec nginx nginx -s reload -c /tmp/nginx/nginx.conf

.PHONY: renew-cert
renew-cert:  ## Renew the ACME certificate now (SERVER_NAME and ACME_EMAIL set); nginx picks it up by itself
	$(COMPOSE) exec acme python -m acmeloop renew --force

.PHONY: ps
ps:  ## Show the services and their health
	$(COMPOSE) ps

.PHONY: logs
logs:  ## Follow the logs of every service (SERVICE=name for one)
	$(COMPOSE) logs -f --tail=100 $(SERVICE)

.PHONY: backup
backup: check-docker  ## Dump the database (pg_dump custom format) to backups/ and print the file's path
	@scripts/backup.sh

.PHONY: restore
restore: check-docker  ## Restore a dump: make restore BACKUP=backups/<file>.dump or BACKUP=bucket:latest (AGE_KEY=, REPLACE=1)
	@AGE_KEY="$(AGE_KEY)" REPLACE="$(REPLACE)" scripts/restore.sh "$(BACKUP)"

.PHONY: offline-images
offline-images: check-docker  ## Build the stand-in images from Debian packages now (needs root)
	offline-images/build.sh

$(VENV_STAMP): requirements-pip.txt requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed for the test virtualenv."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.txt
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	@touch $@

.PHONY: pin-images
pin-images:  ## Pin the default images in compose.yaml to the digests their registries serve now
	@python3 tools/pin_images.py

.PHONY: requirements
requirements: $(VENV_STAMP)  ## Regenerate requirements*.txt, with every file's hash, from requirements*.in
	for name in requirements-pip requirements requirements-dev requirements-mutation acme/requirements \
	    backup/requirements tests/fixtures/s3/requirements bench/peers/requirements \
	    deploy/k8s/requirements; do \
	  CUSTOM_COMPILE_COMMAND="make requirements" $(VENV)/bin/pip-compile --quiet --generate-hashes \
	    --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --output-file $$name.txt $$name.in || exit 1; \
	done

.PHONY: venv
venv: $(VENV_STAMP)  ## Create the test virtualenv from the pinned requirements

.PHONY: lint
lint: $(VENV_STAMP)  ## Lint and check formatting with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: audit
audit: $(VENV_STAMP)  ## Check the pinned requirements for known vulnerabilities (pip-audit)
	$(VENV)/bin/pip-audit --strict --no-deps --progress-spinner off -r requirements.txt

# Processes for the unit tests (pytest-xdist).
UNIT_WORKERS ?= 2

.PHONY: test-unit
test-unit: $(VENV_STAMP) $(UNIT_IMAGES)  ## Run the unit tests (Flask test client; a Postgres of their own in Docker)
	$(VENV)/bin/pytest -m unit -n $(UNIT_WORKERS) tests/unit $(PYTEST_ARGS)

# The end-to-end suites run on the stack with their timers on top of its own files
# (tests/e2e/compose.timers.yaml: short healthcheck, scrape and job intervals).
E2E_COMPOSE_FILE := $(or $(COMPOSE_FILE),compose.yaml):tests/e2e/compose.timers.yaml
# Processes for the end-to-end tests that share the stack; the `exclusive` ones run alone after.
E2E_WORKERS ?= 3

.PHONY: test-e2e
test-e2e:  ## Bring the stack up with the suite's timers, then run the end-to-end and contract tests
	@$(MAKE) --no-print-directory e2e-stack
	@$(MAKE) --no-print-directory e2e-run

.PHONY: e2e-stack
e2e-stack: export COMPOSE_FILE = $(E2E_COMPOSE_FILE)
e2e-stack: check-docker images init  ## The stack up with the suite's timers, and the images the suites build, built at once
	@$(MAKE) --no-print-directory up
	$(PYTHON) -m tests.support.images

.PHONY: e2e-run
e2e-run: e2e-shared e2e-exclusive  ## The end-to-end and contract tests on a stack `make e2e-stack` started: the shared ones in parallel, then the exclusive ones

.PHONY: e2e-shared
e2e-shared: export COMPOSE_FILE = $(E2E_COMPOSE_FILE)
e2e-shared: $(VENV_STAMP)  ## The end-to-end and contract tests that share the stack, in E2E_WORKERS processes
	$(VENV)/bin/pytest -m "(e2e or contract) and not exclusive" -n $(E2E_WORKERS) tests/contract tests/e2e $(PYTEST_ARGS)

.PHONY: e2e-exclusive
e2e-exclusive: export COMPOSE_FILE = $(E2E_COMPOSE_FILE)
e2e-exclusive: $(VENV_STAMP)  ## The end-to-end tests that need the stack to themselves, one at a time
	$(VENV)/bin/pytest -m "(e2e or contract) and exclusive" tests/contract tests/e2e $(PYTEST_ARGS)

.PHONY: test-swarm
test-swarm: $(VENV_STAMP) swarm-up  ## Deploy to Swarm and run the Swarm tests (the Compose stack must be down)
	$(VENV)/bin/pytest -m "swarm or contract" tests/contract tests/swarm $(PYTEST_ARGS)

.PHONY: test
test: test-prepare e2e-shared test-rest  ## The whole suite: lint and the stack's start; the shared end-to-end tests; the exclusive ones beside the unit tests and k8s checks

# The stack's start needs the machine's python3 and the standard library only: on a new
# machine .venv is created (and lint runs) while the stack comes up.
.PHONY: test-prepare
test-prepare:  ## Lint and `make e2e-stack`, at once
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint e2e-stack

# The exclusive end-to-end tests mostly wait (for a restart, an alert, a timeout): a third of
# two cores is idle while they run (measured). The unit tests and the k8s checks, which need no
# stack, run beside them; each target's output is printed when it is done.
.PHONY: test-rest
test-rest:  ## The exclusive end-to-end tests, the unit tests and the k8s checks, at once
	@$(MAKE) --no-print-directory -j2 --output-sync=target e2e-exclusive test-beside

# Niced, so that the stack's processes and the exclusive tests' own get the CPU first: their
# timings stay what they are on an idle machine.
.PHONY: test-beside
test-beside:  ## The unit tests and the k8s checks at a lower CPU priority (part of test-rest)
	@nice -n 10 $(MAKE) --no-print-directory -j2 --output-sync=target test-unit k8s-validate

.PHONY: bench
bench: $(VENV_STAMP)  ## Load-test the running stack with wrk (BENCH_DURATION, BENCH_CONNECTIONS); see docs/performance.md
	$(VENV_PY) bench/bench.py

.PHONY: bench-smoke
bench-smoke: $(VENV_STAMP)  ## A one-second-per-scenario bench that fails unless every scenario has figures and no errors
	$(VENV_PY) bench/bench.py --smoke

.PHONY: k8s-validate
k8s-validate: images  ## Render the deploy/k8s overlays and check them offline: schemas, hardening, checkov, tests
	@PYTHON=$(PYTHON) PYTEST_ARGS="$(PYTEST_ARGS)" deploy/k8s/validate.sh

.PHONY: mutation
mutation: $(VENV_STAMP) images  ## Mutation-test app/ with the unit tests (slow; report in docs/mutation.md)
	@tools/mutation.sh $(VENV)
