# The two commands of the README: `make run` serves the catalogue, `make test` runs the suite.
# Both set up everything they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# Databases the suite runs on; `make test DBS=sqlite` skips PostgreSQL.
DBS ?= sqlite postgresql
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: capture-user run demo test lint audit lock hooks bench bench-deps browser-deps audio-deps pdf-deps ocr-deps screenshots install install-dev system-deps migrate clean help

help:
	@echo "make run    serve on http://$(HOST):$(PORT) (SQLite and media under instance/)"
	@echo "make test   lint, type checks and the whole suite on SQLite and PostgreSQL"
	@echo "make bench  accuracy and speed tables (figures go in benchmarks/RESULTS.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs come from the lock files: every package, dependencies included, pinned with the
# hashes of its files, so pip refuses a file that differs from the one locked. Stamps make
# re-runs fast: packages are reinstalled only when a lock file changes.
$(VENV)/.installed-runtime: requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements.lock requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

# Chromium for captures of post pages (`make run`); where it cannot be installed, captures
# still keep the web archive and the media and say that the screenshot is missing.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing Debian packages: chromium fonts-dejavu-core"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		( $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null ) \
		|| echo "  Chromium could not be installed: captures will have no screenshot."; \
	fi

# The unprivileged user captures run as when the worker is root (CAPTURE_USER): a captured
# page is hostile, and Chromium keeps its sandbox only when it is not root. That user must be
# able to start this checkout's Python: where the interpreter lies under a folder closed to
# others (pyenv under /root), it is given leave to pass through (an ACL, x only), nothing more.
CAPTURE_USER ?= catalog-capture
capture-user: $(BIN)/python
	@if [ "$$(id -u)" -eq 0 ]; then \
		if ! id -u $(CAPTURE_USER) >/dev/null 2>&1; then \
			echo "creating the capture user $(CAPTURE_USER)"; \
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(CAPTURE_USER); \
		fi; \
		if ! $(BIN)/python -c "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], user='$(CAPTURE_USER)', group='$(CAPTURE_USER)', extra_groups=[], check=True)" 2>/dev/null; then \
			command -v setfacl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends acl >/dev/null; }; \
			dir=$$(dirname "$$(readlink -f $(BIN)/python)"); \
			while [ "$$dir" != "/" ]; do \
				case "$$(stat -c %A "$$dir")" in *x|*t) ;; *) \
					echo "letting $(CAPTURE_USER) pass through $$dir (to start Python)"; setfacl -m u:$(CAPTURE_USER):x "$$dir";; \
				esac; \
				dir=$$(dirname "$$dir"); \
			done; \
		fi; \
	fi

# Chromaprint, the audio fingerprinter (Debian's libchromaprint1, through pyacoustid).
audio-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q libchromaprint.so.1; then \
		echo "installing Debian packages: libchromaprint1"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		( $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libchromaprint1 >/dev/null ) \
		|| echo "  Chromaprint could not be installed: sound will not be fingerprinted."; \
	fi

# Pango, which WeasyPrint lays out the PDF dossier with, and the DejaVu fonts it embeds.
pdf-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0; then \
		echo "installing Debian packages: libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		( $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null ) \
		|| echo "  Pango could not be installed: the PDF dossier will not be made."; \
	fi

# Tesseract's language data for reading text in pictures and video frames (English, Russian,
# Ukrainian; the engine itself comes inside the tesserocr wheel) and the DejaVu fonts the tests
# draw text with.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus tesseract-ocr-ukr fonts-dejavu-core
ocr-deps:
	@langs=$$(tesseract --list-langs 2>/dev/null); \
	if ! { echo "$$langs" | grep -qx eng && echo "$$langs" | grep -qx rus && echo "$$langs" | grep -qx ukr; } \
		|| [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then \
		echo "installing Debian packages: $(OCR_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		( $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(OCR_PACKAGES) >/dev/null ) \
		|| echo "  Tesseract could not be installed: text in pictures and videos will not be read."; \
	fi

# Debian packages the tests need: a PostgreSQL server and a Redis server (each started
# privately by the suite on a Unix socket), Chromium for the browser tests (driven by
# Playwright through its executable path), Chromaprint, espeak-ng (speech for the audio
# tests' recordings), Pango (the PDF dossier) and Tesseract's language data with the fonts
# the OCR tests draw text with (ocr-deps).
system-deps: ocr-deps
	@missing=""; \
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then missing="$$missing postgresql"; fi; \
	if ! command -v chromium >/dev/null 2>&1; then missing="$$missing chromium fonts-dejavu-core"; fi; \
	if ! command -v redis-server >/dev/null 2>&1; then missing="$$missing redis-server"; fi; \
	if ! ldconfig -p 2>/dev/null | grep -q libchromaprint.so.1; then missing="$$missing libchromaprint1"; fi; \
	if ! command -v espeak-ng >/dev/null 2>&1; then missing="$$missing espeak-ng"; fi; \
	if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0; then missing="$$missing libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The load generator of the API benchmark (Debian package wrk) and the wallpaper photographs
# the scale benchmark makes its distractor pictures from.
WALLPAPERS := gnome-backgrounds mate-backgrounds sway-backgrounds plasma-workspace-wallpapers \
	ukui-wallpapers lomiri-wallpapers debian-edu-artwork-emerald debian-edu-artwork-homeworld
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="wrk"; \
	for package in $(WALLPAPERS); do \
		dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

migrate: install
	$(BIN)/flask --app wsgi catalog db upgrade

run: migrate browser-deps audio-deps pdf-deps ocr-deps capture-user
	@echo
	@echo "  Media-evidence catalogue on http://$(HOST):$(PORT)/"
	@echo "  First user:  $(BIN)/flask --app wsgi catalog user create NAME --role admin"
	@echo "  API key:     $(BIN)/flask --app wsgi catalog apikey create NAME"
	@echo
	$(BIN)/gunicorn --config config/gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WORKERS) wsgi:app

# The worked example (the claimed Kremlin drone strike of 3 May 2023, generated stand-in media)
# in an instance folder of its own, served like `make run`; a demo analyst gets a fresh password.
DEMO_INSTANCE ?= $(CURDIR)/demo-instance
demo: install capture-user
	CATALOG_INSTANCE_PATH=$(DEMO_INSTANCE) $(BIN)/flask --app wsgi catalog db upgrade
	CATALOG_INSTANCE_PATH=$(DEMO_INSTANCE) $(BIN)/flask --app wsgi catalog demo --copy-to $(DEMO_INSTANCE)/to-upload
	@password=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(12))'); \
	export CATALOG_INSTANCE_PATH=$(DEMO_INSTANCE); \
	$(BIN)/flask --app wsgi catalog user create demo --role analyst --password "$$password" >/dev/null 2>&1 || \
	$(BIN)/flask --app wsgi catalog user set-password demo --password "$$password" >/dev/null; \
	echo; echo "  Demo on http://$(HOST):$(PORT)/  user: demo  password: $$password"; \
	echo "  Upload $(DEMO_INSTANCE)/to-upload/column-of-smoke-reposted.mp4 to see the match and its provenance."; echo
	CATALOG_INSTANCE_PATH=$(DEMO_INSTANCE) $(BIN)/gunicorn --config config/gunicorn.conf.py --bind $(HOST):$(PORT) --workers $(WORKERS) wsgi:app

test: install-dev system-deps capture-user lint audit
	$(BIN)/python -m pytest $(foreach db,$(DBS),--db $(db)) $(PYTEST_ARGS)

# Known vulnerabilities in the locked packages, from the package index's advisories (pip-audit):
# one fails the run. Packages whose advisories cannot be had are named as not audited, and
# fail the run too with AUDIT_REQUIRED=1.
AUDIT_REQUIRED ?=
audit: install-dev
	AUDIT_REQUIRED=$(AUDIT_REQUIRED) $(BIN)/python -m tools.audit requirements-dev.lock

# The lock files, after a pin in requirements.txt or requirements-dev.txt changed (the suite
# fails while they disagree). The development lock keeps the runtime lock's versions, so the
# tests run what a deployment installs; `make lock LOCK_ARGS=--upgrade` moves every package
# not pinned by hand to its newest release.
LOCK_ARGS ?=
LOCKING := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links $(LOCK_ARGS)
lock: install-dev
	$(BIN)/pip-compile $(LOCKING) --output-file requirements.lock requirements.txt
	$(BIN)/pip-compile $(LOCKING) --constraint requirements.lock \
		--output-file requirements-dev.lock requirements-dev.txt

# The house rules, failing on any finding: lint, formatting, types (strict on the pure cores).
# The same checks run before each commit once `make hooks` has installed them.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

hooks: install-dev
	$(BIN)/pre-commit install

# Accuracy on the sample media, speed and memory, video, and the API under gunicorn; BENCH_ARGS passes options to speed.py,
# e.g. BENCH_ARGS="--sizes 1000000" to skip the 10-million run.
BENCH_ARGS ?=
# Text search at 100,000 media; BENCH_TEXT_SIZES=100000,1000000 adds the slow million.
BENCH_TEXT_SIZES ?= 100000
bench: install-dev system-deps bench-deps
	$(BIN)/python -m benchmarks.accuracy
	$(BIN)/python -m benchmarks.speed $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.video
	$(BIN)/python -m benchmarks.api
	$(BIN)/python -m benchmarks.import_memory
	$(BIN)/python -m benchmarks.accuracy_scale
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.capture
	$(BIN)/python -m benchmarks.audio
	$(BIN)/python -m benchmarks.servers
	$(BIN)/python -m benchmarks.text_search --sizes $(BENCH_TEXT_SIZES)
	$(BIN)/python -m benchmarks.text_recall
	$(BIN)/python -m benchmarks.text_ocr

# Screenshots of the main pages for the README, taken by the browser tests.
screenshots: install-dev system-deps
	CATALOG_SCREENSHOTS=1 $(BIN)/python -m pytest tests/test_browser.py -q

clean:
	rm -rf $(VENV) .pytest_cache
