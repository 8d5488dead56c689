# The README's commands. Each target bootstraps what it needs; a second run does nothing slow.
VENV        ?= .venv
PYTHON      ?= python3
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
APT_PACKAGES := docker-registry nginx skopeo chromium prometheus poppler-utils redis-server
# the log scanner's C module (runbooklib/logs/_native.c) links Debian's Hyperscan (packaged for amd64 only) and PCRE2
APT_PACKAGES += gcc libpcre2-dev $(if $(filter x86_64,$(shell uname -m)),libhyperscan-dev)
DEMO_LAB    := $(CURDIR)/.lab/demo
DEMO_OUT    := reports/demo
DEMO_FAULTS ?= stale-uploads untrusted-token-key missing-forwarded-proto

.PHONY: setup system-packages demo test test-fast notebook lab-up lab-down bench clean

setup: system-packages $(STAMP)

# Debian packages for the lab and the browser test: installed when missing and running as root.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (as root: apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml runbooklib/logs/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/runbook kernel install
	touch $(STAMP)

demo: setup
	@rm -rf $(DEMO_OUT) $(DEMO_OUT).tar.gz; $(BIN)/runbook lab down --state-dir $(DEMO_LAB) >/dev/null 2>&1 || true
	$(BIN)/runbook lab up --state-dir $(DEMO_LAB) --free-ports
	@rc=0; $(BIN)/runbook run triage -f $(DEMO_LAB)/params.yaml -o $(DEMO_OUT) || rc=$$?; \
	  $(BIN)/runbook lab down --state-dir $(DEMO_LAB); \
	  echo "healthy lab report: $(CURDIR)/$(DEMO_OUT)/triage.html"; [ $$rc = 0 ] || exit $$rc
	$(BIN)/runbook lab up --state-dir $(DEMO_LAB) --free-ports $(foreach f,$(DEMO_FAULTS),--fault $(f))
	@rc=0; $(BIN)/runbook triage -f $(DEMO_LAB)/params.yaml -o $(DEMO_OUT)/incident --incident DEMO --archive || rc=$$?; \
	  $(BIN)/runbook lab down --state-dir $(DEMO_LAB); \
	  echo "incident bundle (faults: $(DEMO_FAULTS)): $(CURDIR)/$(DEMO_OUT)/incident/index.html"; \
	  [ $$rc -le 1 ] || exit $$rc

# mypy first (seconds), then every test over two workers: lab tests mostly wait on processes and sockets.
test: setup
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2

# The quicker loop while editing: no lab, no browser, no wheel build, no child interpreters (about a minute).
test-fast: setup
	$(BIN)/pytest -q -n 2 -m "not lab and not browser and not packaging and not slow"

# JupyterLab on the notebooks (as root too: the README's setup runs as root). For a work copy with your
# parameters filled in: `runbook open SCENARIO -f params.yaml --dir work`.
notebook: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.ip=127.0.0.1 --no-browser \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

lab-up: setup
	$(BIN)/runbook lab up

lab-down:
	$(BIN)/runbook lab down

bench: setup
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/report_latency.py
	$(BIN)/python benchmarks/logs.py
	$(BIN)/python benchmarks/s3_scan.py
	$(BIN)/python benchmarks/bundle.py

clean:
	rm -rf reports .lab .pytest_cache
