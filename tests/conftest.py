"""Fixtures for the whole suite: the in-repo conformance data, the optional real VITON demo pairs, and small helpers.

The official models' state-dict manifests and golden vectors live in ``tests/conformance`` (see its README). The six
real VITON demo pairs are third-party photographs and are not in the repository: tests that need them read the folder
named by ``$PFTRYON_VITON_DEMO``, else ``../shared/fixtures/viton_demo`` beside the checkout, and skip without either.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from bench.metrics.weights import WEIGHTS

CONFORMANCE = Path(__file__).resolve().parent / "conformance"
VITON_DEMO_VARIABLE = "PFTRYON_VITON_DEMO"
VITON_DEMO_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "viton_demo"
VITON_DEMO_LAYOUT = "PF-AFN's demo layout: demo.txt, dataset/{test_img,test_clothes,test_edge}/, results/demo/PFAFN/"

if not torch.cuda.is_available():
    # Triton kernels (the CUDA correlation) then run on CPU tensors through Triton's interpreter, so that the tests
    # check them without a GPU. Triton reads this when it is first imported, hence here, before any test module.
    os.environ.setdefault("TRITON_INTERPRET", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each (and in the processes they start), not two
    # OpenMP pools spinning on the same cores.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _private_tryon_cache(tmp_path_factory: pytest.TempPathFactory):
    """What the code caches by default (``$TRYON_CACHE``: datasets, reference features) goes to the session's
    temporary folder, never the user's ``~/.cache/pftryon``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRYON_CACHE", str(tmp_path_factory.mktemp("tryon_cache")))
        yield


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """``tests/conformance``: the official models' state-dict manifests and golden vectors."""
    return CONFORMANCE


@pytest.fixture(scope="session")
def viton_demo() -> Path:
    """The six real VITON demo pairs: ``$PFTRYON_VITON_DEMO`` (an error if it is not such a folder), else
    ``../shared/fixtures/viton_demo`` beside the checkout, else the test skips."""
    configured = os.environ.get(VITON_DEMO_VARIABLE)
    if configured:
        folder = Path(configured)
        if not (folder / "demo.txt").is_file():
            problem = "no demo.txt in that folder" if folder.is_dir() else "no such folder"
            pytest.fail(f"{VITON_DEMO_VARIABLE}={configured}: {problem} (expected {VITON_DEMO_LAYOUT})", pytrace=False)
        return folder
    if not VITON_DEMO_BESIDE.is_dir():
        pytest.skip(f"six real VITON pairs not found: set {VITON_DEMO_VARIABLE} to a folder in {VITON_DEMO_LAYOUT}")
    return VITON_DEMO_BESIDE


# Metric weights written by the tests (random values): they exercise the real loading path, never the numbers.


@pytest.fixture(scope="session")
def lpips_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torchvision

    folder = tmp_path_factory.mktemp("lpips_weights")
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), folder / WEIGHTS["alex"].filename)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), folder / WEIGHTS["squeeze"].filename)
    return folder


@pytest.fixture(scope="session")
def inception_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write an inception-v3-compat state dict with He-initialised convolutions (default init makes features vanish)."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
    from torchmetrics.image.fid import NoTrainInceptionV3

    folder = tmp_path_factory.mktemp("inception_weights")
    with pytest.MonkeyPatch.context() as patch:  # build the architecture without any weights file or download
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        model = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
    torch.save(model.state_dict(), folder / WEIGHTS["inception"].filename)
    return folder


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (small convolutions run fastest, and reproducibly, that way on a shared
    machine); the previous count is restored. Modules opt in with ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def run_beside_mirror() -> Callable[..., dict[str, torch.Tensor]]:
    """``run(model, *inputs)``: the outputs for one-sample inputs, run (without gradients) in a batch of two beside
    their left-right mirror image, so that a golden check at batch 1 also catches one sample leaking into another."""

    def run(model: Callable[..., dict[str, torch.Tensor]], *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            outputs = model(*(torch.cat([x, x.flip(-1)]) for x in inputs))
        return {key: value[:1] for key, value in outputs.items()}

    return run


@pytest.fixture
def golden_check(record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """``check(model, output, ours, golden, atol)``: assert ``max |ours - golden| <= atol`` and record the error for
    the conformance table printed at the end of the session."""

    def check(model: str, output: str, ours: torch.Tensor, golden: torch.Tensor, atol: float) -> None:
        assert ours.shape == golden.shape, (model, output, tuple(ours.shape), tuple(golden.shape))
        error = (ours - golden).abs().max().item()
        record_property("conformance", (model, output, error, atol))
        assert error <= atol, f"{model} {output}: max |error| {error:.3g} > {atol}"

    return check


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print each official model's largest deviation from its golden vectors (from :func:`golden_check`)."""
    reports = terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
    rows = sorted(tuple(value) for report in reports for key, value in report.user_properties if key == "conformance")
    if rows:
        terminalreporter.section("conformance: max |error| against the official models' golden vectors")
        for model, output, error, atol in rows:
            verdict = "ok" if error <= atol else "FAIL"
            terminalreporter.write_line(f"{model:<10} {output:<14} {error:9.2e}  tolerance {atol:g}  {verdict}")
