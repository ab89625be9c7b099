"""Running out of memory anywhere in a command is one line (bench.cli, bench.errors.out_of_memory): the device, the
memory asked (read from the allocator's message), the command's own size and batch options, and nothing left of a
new run's folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.errors import out_of_memory


def _allocate_too_much(*args: object, **kwargs: object) -> None:
    torch.empty(1 << 44, dtype=torch.uint8)  # 16 TiB: refused by the CPU allocator at once


def test_allocator_messages_are_read() -> None:
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of "
                                  "79.19 GiB of which 3.06 GiB is free.")  # fmt: skip
    assert out_of_memory(cuda, [("--batch-size", 64)]) == (
        "out of memory on the GPU: 20.00 GiB asked (with --batch-size 64); lower --batch-size"
    )
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried "
                       "to allocate 3221225472 bytes.")  # fmt: skip
    assert out_of_memory(cpu).startswith("out of memory on the CPU: 3.00 GiB asked; lower the inputs' size")
    with pytest.raises(MemoryError) as numpy_error:
        np.empty(1 << 50, dtype=np.uint8)
    assert "1.00 PiB asked" in out_of_memory(numpy_error.value)
    assert out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None


@pytest.mark.parametrize(
    ("argv", "target", "named"),
    [
        (["predict", "--method", "no_warp", "--dataset", "viton", "--device", "cpu", "--size", "4096x3072",
          "--batch-size", "16"], "bench.predict.predict",
         "(with --batch-size 16, --size 4096x3072); lower --batch-size or --size"),
        (["eval", "--protocol", "pfafn", "--metrics", "ssim", "--batch-size", "32"], "bench.eval.run_eval",
         "(with --batch-size 32, --resolution unset); lower --batch-size or --resolution"),
        (["train", "--stage", "pb-warp", "--dataset", "viton", "--set", "batch_size=8"],
         "bench.train.wiring.train_on_dataset", "(with --set batch_size 8, --set size as configured)"),
    ],
    ids=["predict", "eval", "train"],
)  # fmt: skip
def test_out_of_memory_in_a_command_is_one_line(argv, target, named, viton: Path, tmp_path, monkeypatch) -> None:
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(__import__(module, fromlist=[name]), name, _allocate_too_much)
    data = ["--root", viton] if argv[0] != "eval" else ["--pred", viton / "test" / "image", "--gt", viton / "test" /
                                                         "image"]  # fmt: skip
    out = tmp_path / "new" / "out"
    result = CliRunner().invoke(main, [str(a) for a in [*argv, *data, "--out", out]])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert lines[-1].startswith("error: out of memory on the CPU: 16384.00 GiB asked"), lines
    assert named in lines[-1], lines[-1]
    assert not (tmp_path / "new").exists(), "a new run that ran out of memory leaves nothing"


def test_other_errors_still_raise(monkeypatch, viton: Path, tmp_path) -> None:
    import bench.predict

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug, not a lack of memory")

    monkeypatch.setattr(bench.predict, "predict", broken)
    argv = ["predict", "--method", "no_warp", "--dataset", "viton", "--root", viton, "--out", tmp_path / "o"]
    result = CliRunner().invoke(main, [str(a) for a in argv])
    assert isinstance(result.exception, RuntimeError) and not (tmp_path / "o").exists()
