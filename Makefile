# harness: two commands do all the set-up on a fresh Debian 12 machine.
#   make demo   set up, start the embedded lab PBX, run the main job, list what it wrote
#   make test   set up, lint (ruff, mypy), run the whole test suite
#   make bench  slow measurements (docs/BENCHMARKS.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MEDIA := build/media
# Debian packages the lab media, the tests and the peers need.
SYSPKGS := sip-tester kamailio espeak-ng sox asterisk-moh-opsound-wav asterisk-core-sounds-en-wav iproute2 chromium
# Only for `make bench`: the held-out, unseen, validation and final music and voices of the
# phase-analysis benchmark (docs/ANALYSIS.md, "Held-out sets"; about 900 MB of game music and prompts).
BENCHPKGS := lincity-ng-data colobot-common-sounds hyperrogue-music extremetuxracer-data freeciv-data \
  frozen-bubble-data lordsawar-data wesnoth-1.16-music xmoto-data neverball-common scorched3d-data funnyboat \
  asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav \
  davegnukem-data powermanga-data hedgewars-data flare-game singularity-music miceamaze gunroar-data \
  hex-a-hop-data openclonk-data raincat-data asterisk-core-sounds-es-wav asterisk-prompt-it-menardi-wav \
  angrydd fillets-ng-data mu-cade-data pax-britannica-data planetblupi-music-ogg seahorse-adventures
# Only for `make train`: the other half of the game-music pool and two more voices, which train
# the speech model with the sets above (docs/ANALYSIS.md, "Speech model").
TRAINPKGS := gigalomania-data marsshooter-data caveexpress-data titanion-data plee-the-bear-data amoebax-data \
  torus-trooper-data searchandrescue-data lugaru-data supertux-data ardentryst pathological starfighter-data \
  trackballs-data enigma-data warmux-data asterisk-prompt-es-co asterisk-prompt-fr-armelle

.PHONY: setup sysdeps media demo test bench train lint clean

setup: sysdeps $(VENV)/.installed media

sysdeps:
	@missing=""; for p in $(SYSPKGS) $(EXTRAPKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing system packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages; run:  sudo apt-get install -y$$missing"; exit 2; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

media: $(VENV)/.installed
	$(BIN)/harness media --out $(MEDIA)

demo: setup
	$(BIN)/harness demo

# lint first: a finding fails the test run before the suite's minutes
test: setup lint
	$(BIN)/pytest -q -rs

bench:
	$(MAKE) setup EXTRAPKGS="$(BENCHPKGS)"
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python -m harness.bench

# retrain the speech model (docs/ANALYSIS.md, "Speech model"): package-held-out check, then the
# weights; the printed SHA-256 goes into AnalysisParams.speech_model_sha256
train:
	$(MAKE) setup EXTRAPKGS="$(BENCHPKGS) $(TRAINPKGS)"
	$(BIN)/python -m harness.bench train --cv 5 --write

lint: $(VENV)/.installed
	$(BIN)/ruff check harness tests
	$(BIN)/mypy harness

clean:
	rm -rf $(VENV) build recordings/*/ reports/*/
