# rtsplab: the README contract is `make demo` and `make test`.
# Both set up everything they need on a fresh Debian 12 / Python 3.11 machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Debian packages the tests need: real RTSP servers (gst-rtsp-server, rtsp-server-perl),
# real clients (ffprobe, gst-launch rtspsrc) and the browser for the live-view check.
APT_PACKAGES := python3-venv ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-libav gir1.2-gst-rtsp-server-1.0 python3-gi python3-numpy \
	rtsp-server-perl chromium openssl tshark glib-networking

.PHONY: demo notebooks test lint sysdeps venv bench bench-scale bench-cpu bench-reorder soak clean \
	test-pythons docs

# The story table on stdout; every frame's record in rtsplab-demo/demo.csv; the picture in
# data/demo.png, the one the README opens with.
demo: venv
	$(VENV)/bin/rtsplab demo --out rtsplab-demo --plot data/demo.png

# Re-run the teaching notebooks on the simulator and store them with their outputs, so they
# read on GitHub without running. 05 (your own cameras) keeps its example output by hand.
NOTEBOOKS = $(wildcard notebooks/0[0-467]_*.ipynb)
notebooks: venv
	$(PY) notebooks/execute.py $(NOTEBOOKS)

test: sysdeps venv lint
	$(PY) -m pytest
	$(MAKE) test-pythons docs

# The wheel on every Python 3.10-3.13 this machine has (pyenv or PATH): built once, checked
# with twine, installed in a fresh venv per interpreter, pure unit tests and a 2 s demo.
test-pythons: venv
	PY=$(PY) .ci/test-pythons

# The API reference and the notebooks as HTML in site/; --strict: a broken reference fails.
docs: venv
	@$(PY) -c "import mkdocs, mkdocstrings_handlers.python, mkdocs_jupyter, material" 2>/dev/null \
	  || $(PY) -m pip install -q -e '.[dev,docs]'
	$(VENV)/bin/mkdocs build --strict --site-dir site

lint: venv
	$(VENV)/bin/ruff check rtsplab tests benchmarks
	$(VENV)/bin/ruff format --check rtsplab tests benchmarks
	$(VENV)/bin/mypy

# The slow-consumer fault case for 10 minutes per backend: RSS and open fds must stay flat.
soak: venv
	RTSPLAB_SOAK_S=600 $(PY) -m pytest tests/faults/test_stream_faults.py -k soak --timeout=0

bench: venv
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) benchmarks/latency_vs_peers.py --seconds 8 --out data/bench_peers.json

# N readers of one simulated camera (1..48 at 640x360, 1..16 at 1080p), per backend:
# data/bench_scale.{json,csv,png}. About 15 min; run it on an otherwise idle machine.
bench-scale: venv
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) benchmarks/scale.py --seconds 10 --warmup-s 2

# CPU per stream of each backend against a bare PyAV decode loop: data/bench_cpu_ratio.{json,csv};
# the per-step breakdown of a frame's CPU with a profile: data/bench_frame_path.json. About 8 min.
bench-cpu: venv
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) benchmarks/cpu_ratio.py --seconds 20
	$(PY) benchmarks/frame_path.py --seconds 10

# FFmpeg's RTP reorder wait over lossy UDP: data/bench_reorder_wait.json
bench-reorder: venv
	$(PY) benchmarks/reorder_wait.py --seconds 8 --max-delay-us 500000,100000,50000,20000

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv && \
	    $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "error: '$(PYTHON) -m venv' failed; run: sudo apt-get install -y python3-venv" >&2; exit 1; \
	  fi; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: missing Debian packages:$$missing" >&2; \
	    echo "run: sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing Debian packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache rtsplab-demo
