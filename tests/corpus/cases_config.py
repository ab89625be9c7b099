"""Config values of the wrong type: in a suite, recipe or training YAML, or in ``--set``, a value of the
wrong type is one line naming the file (or the ``--set key=value``), the key and the expected type, before any work.
Protocol files are in cases_eval.py, with the other protocol cases."""

from __future__ import annotations

from collections.abc import Callable

from corpus_lib import Case, Workspace


def _yaml(name: str, text: str) -> Callable[[Workspace], None]:
    return lambda ws: ws.path(name).write_text(text)


def _bench(*extra: str, suite: str = "synthetic") -> Callable[[Workspace], list]:
    def argv(ws: Workspace) -> list:
        name = ws.path(suite) if suite.endswith(".yaml") else suite
        return ["bench", "--suite", name, "--work", ws.path("work"), "--out", ws.path("report"), *extra]

    return argv


def _train(*extra: object) -> Callable[[Workspace], list]:
    return lambda ws: ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", ws.asset("viton"), "--out",
                       ws.path("run"), *(ws.path(e[3:]) if str(e).startswith("ws:") else e for e in extra)]  # fmt: skip


def _recipe(ws: Workspace) -> list:
    return ["ablate", "--recipe", ws.path("recipe.yaml"), "--work", ws.path("work"), "--out", ws.path("report")]


SUITE = "include: synthetic\nname: mine\n"
RECIPE = "include: smoke\nname: mine\n"

# fmt: off
CASES = [
    Case("bench-set-batch-size-text", "bench", "--set batch_size=abc", "error",
         _bench("--set", "batch_size=abc"), names="--set batch_size=abc", expect="expected an integer, got 'abc'"),
    Case("bench-set-latency-iters-text", "bench", "--set latency.iters=many", "error",
         _bench("--set", "latency.iters=many"), names="--set latency.iters=many", expect="expected an integer"),
    Case("bench-set-metrics-string", "bench", "--set metrics=ssim (a string where a list belongs)", "error",
         _bench("--set", "metrics=ssim"), names="--set metrics=ssim", expect="expected a list of strings"),
    Case("bench-suite-batch-size-text", "bench", "a suite YAML with batch_size: many", "error",
         _bench(suite="suite.yaml"), setup=_yaml("suite.yaml", SUITE + "batch_size: many\n"), names="suite.yaml",
         expect="batch_size: expected an integer, got 'many'"),
    Case("bench-suite-metrics-string", "bench", "a suite YAML with metrics: ssim", "error",
         _bench(suite="suite.yaml"), setup=_yaml("suite.yaml", SUITE + "metrics: ssim\n"), names="suite.yaml",
         expect="metrics: expected a list of strings, got 'ssim'"),
    Case("bench-suite-latency-device-unknown", "bench", "a suite YAML timing on devices: [tpu]", "error",
         _bench(suite="suite.yaml"), setup=_yaml("suite.yaml", SUITE + "latency: {devices: [tpu]}\n"),
         names="suite.yaml", expect=r"latency\.devices\[0\]: expected one of 'cpu', 'cuda', got 'tpu'"),
    Case("train-set-batch-size-text", "train", "--set batch_size=abc", "error",
         _train("--set", "batch_size=abc"), names="--set batch_size=abc", expect="expected an integer, got 'abc'"),
    Case("train-config-size-scalar", "train", "--config with size: 64", "error",
         _train("--config", "ws:c.yaml"), setup=_yaml("c.yaml", "size: 64\n"), names="c.yaml",
         expect="size: expected a list of 2 integers, got 64"),
    Case("ablate-recipe-baselines-string", "ablate", "a recipe with baselines: cp_vton (not a list)", "error",
         _recipe, setup=_yaml("recipe.yaml", RECIPE + "baselines: cp_vton\n"), names="recipe.yaml",
         expect="baselines: expected a list of strings or null, got 'cp_vton'"),
    Case("ablate-recipe-stage-lr-text", "ablate", "a recipe with a stage's lr: fast", "error",
         _recipe, setup=_yaml("recipe.yaml", RECIPE + "stages: {pb-warp: {lr: fast}}\n"), names="recipe.yaml",
         expect="stages.pb-warp.lr: expected a number, got 'fast'"),
]
# fmt: on
