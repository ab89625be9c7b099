"""The Triton correlation kernels compiled ahead of time for the GPUs the suite targets, without a GPU.

Triton's interpreter (how ``test_correlation_triton.py`` runs the kernels here) accepts programs the compiler
rejects, and says nothing of registers. This test lowers each kernel through Triton's whole pipeline to a cubin for
sm_80 (A100) and sm_90 (H100, H200), in every dtype the dispatch sends it, with the launch configurations the layer
uses, and reads each cubin's resources with the ``cuobjdump`` Triton ships: a kernel that spills registers to
memory (a non-zero stack) fails. It runs in a subprocess because ``tests/conftest.py`` turns the interpreter on for
this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

triton = pytest.importorskip("triton")
_NVIDIA_BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
if not (_NVIDIA_BIN / "ptxas").exists():
    pytest.skip("this Triton build has no NVIDIA backend (ptxas)", allow_module_level=True)

_SCRIPT = r"""
import json, re, subprocess, sys, tempfile
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from pftryon.layers import correlation_triton as ct

cuobjdump, results = sys.argv[1], []
launches = {ct._forward: ct.FORWARD_BLOCKS, ct._grad_first: ct.GRADIENT_BLOCKS, ct._grad_second: ct.GRADIENT_BLOCKS}
for capability in (80, 90):
    for dtype in ("fp32", "fp16", "bf16"):
        for kernel, blocks in launches.items():
            constants = ct._constants(3, blocks)
            warps = constants.pop("num_warps")
            signature = {name: "constexpr" if name in constants else "fp32" if name == "scale"
                         else f"*{dtype}" if index < 3 else "i32" for index, name in enumerate(kernel.arg_names)}
            compiled = triton.compile(ASTSource(kernel, signature, constants), target=GPUTarget("cuda", capability, 32),
                                      options={"num_warps": warps})
            with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
                cubin.write(compiled.asm["cubin"])
                cubin.flush()
                usage = subprocess.run([cuobjdump, "--dump-resource-usage", cubin.name], capture_output=True,
                                       text=True, check=True).stdout
            registers, stack = (int(re.search(rf"{key}:(\d+)", usage).group(1)) for key in ("REG", "STACK"))
            results.append({"kernel": kernel.__name__, "sm": capability, "dtype": dtype, "registers": registers,
                            "stack": stack})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path_factory.mktemp("triton-cache"))  # a real compile, not a cached one
    run = subprocess.run([sys.executable, "-c", _SCRIPT, str(_NVIDIA_BIN / "cuobjdump")], capture_output=True,
                         text=True, env=env, cwd=Path(__file__).parents[2], timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_every_kernel_compiles_for_sm80_and_sm90_in_every_dtype(compiled: list[dict]) -> None:
    assert {(r["kernel"], r["sm"], r["dtype"]) for r in compiled} == {
        (k, sm, dtype)
        for k in ("_forward", "_grad_first", "_grad_second")
        for sm in (80, 90)
        for dtype in ("fp32", "fp16", "bf16")
    }


def test_no_kernel_spills_registers(compiled: list[dict]) -> None:
    spilled = [r for r in compiled if r["stack"]]
    assert not spilled, f"register spills (stack bytes per thread): {spilled}"
