# Two entry points: `make bench` and `make test`. Both set up .venv first (idempotent, fast when done).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Hugging Face libraries must never reach for the network in tests, CI or benchmarks.
export HF_DATASETS_OFFLINE := 1
export HF_HUB_OFFLINE := 1

.PHONY: setup test test-fast bench bench-rerun bench-speed bench-latency bench-metrics gpu-check gpu-check-stack conformance-triton corpus lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import torch, torchvision, torchmetrics, lpips, torch_fidelity; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $@

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# The quick loop: everything but the tests marked slow.
test-fast: setup
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not slow"

# The embedded default: synthesise data, train every method at CPU scale at three seeds (reused by fingerprint), score
# every method under pfafn and against the exact ground truth, time them, write reports/synthetic/. First the suite's
# metric weights are fetched (LPIPS, FID/KID); offline, one line says what is missing and the suite runs without
# those metrics (n/a cells).
bench: setup
	$(BIN)/pftryon weights fetch --suite synthetic --offline-ok
	$(BIN)/pftryon bench --suite synthetic --out reports/synthetic --overwrite

# Does the reference report's interval hold a rerun? Retrain the synthetic suite at three other seeds (as long as
# `make bench`), then count the trained cells whose new value lands inside reports/synthetic's intervals, and inside
# their test-pair part alone.
bench-rerun: setup
	$(BIN)/pftryon bench --suite synthetic --set "training.seeds=[3,4,5]" --work out/bench-rerun \
		--out out/bench-rerun/report --overwrite
	$(BIN)/python -m bench.suite.reruns reports/synthetic out/bench-rerun/report

# The speed benchmarks (PF-AFN inference fast path and its time split, correlation, synthetic data, dataset cache,
# start-up, the width knob): each figure with its min / median ratio, share of the fp32 peak timed in the same rounds
# and the load other processes put on the CPUs.
bench-speed: setup
	$(BIN)/python -m bench.speed all

# Every official method's inference latency on this machine (reports/latency/, replaced): single stream, offline, cold,
# stage split and cost, at 256x192 in fp32 and bf16, batch 1 and 4; ~10 min on 2 cores.
bench-latency: setup
	$(BIN)/pftryon latency --model pf_afn,pb_afn,fs_vton,dm_vton,cp_vton,cp_vton_plus --size 256x192 --batch 1,4 \
		--dtype fp32,bf16 --iters 10 --warmup 3 --device cpu --out reports/latency --overwrite

# ~5-10 min on 2 cores: pftryon eval against pytorch-fid + fidelity --kid + per-image skimage / lpips loops.
bench-metrics: setup
	$(BIN)/python -m bench.speed metrics --check

# The GPU check (bench/gpu_check, docs/speed.md): the official models' golden vectors, predict and one training step
# of every stage on the device against the CPU, and the latency table of every method, within GPU_CHECK_BUDGET
# seconds. No setup: it runs with the project's .venv where there is one, else with the python3 that holds torch
# (a GPU machine where nothing is installed). Writes run.json, summary.md and a CSV per part into GPU_CHECK_OUT.
GPU_CHECK_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_CHECK_OUT    ?= /tmp/pftryon-gpu-check
GPU_CHECK_BUDGET ?= 330
GPU_CHECK_ARGS   ?=
gpu-check:
	PYTHONPATH=. $(GPU_CHECK_PYTHON) -m bench.gpu_check --out $(GPU_CHECK_OUT) --budget $(GPU_CHECK_BUDGET) $(GPU_CHECK_ARGS)

# The GPU check's tiny run on the CPU and the Triton kernels' ahead-of-time compile for sm_80/sm_90, with another
# machine's torch, torchvision and Triton (the GPU check runs with whatever the GPU machine has) installed over the
# project's .venv into .stack/ (about 2 GB, once): `make gpu-check-stack STACK="torch==2.11.0 torchvision==0.26.0
# triton==3.6.0"`. The Triton tests that run the kernels through its interpreter are left out (Triton 3.6's fails
# with numpy 2.4: an interpreter fault; the compiled kernels are what a GPU runs).
STACK ?= torch==2.13.0 torchvision==0.28.0 triton==3.7.1
gpu-check-stack: setup
	$(BIN)/python -m pip install -q --disable-pip-version-check --target .stack --no-deps --upgrade $(STACK)
	PYTHONPATH=.stack:. $(BIN)/python -c 'import torch, torchvision, triton; print("torch", torch.__version__, "torchvision", torchvision.__version__, "triton", triton.__version__)'
	PYTHONPATH=.stack:. $(BIN)/python -m bench.gpu_check --device cpu --tiny --out $(GPU_CHECK_OUT)-stack
	PYTHONPATH=.stack:. $(BIN)/python -m pytest -q -p no:cacheprovider tests/pftryon/test_correlation_triton_compile.py

# The golden conformance of the models with PF-AFN's correlation (PF-AFN, DM-VTON) with that correlation computed by
# its CUDA kernels (Triton), here on the CPU through Triton's interpreter: slow (about 9 minutes), not part of `test`.
conformance-triton: setup
	PFTRYON_CORRELATION=triton TRITON_INTERPRET=1 $(BIN)/python -m pytest -q -s -m conformance \
	    tests/pftryon/test_conformance.py tests/baselines/test_flow_successors.py -k "golden and (pfafn or dmvton)"

# The bad-input corpus (tests/corpus/cases_*.py): cases per command and outcome class; `make test` runs them all.
corpus: setup
	$(BIN)/python tests/corpus/summary.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
