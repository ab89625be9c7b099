"""TrainingPairs (unpaired draws, pose maps, parse and DensePose hooks) and the sharded, resumable batch order."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader
from toy_training import ToySamples

from pftryon.representation import pose_maps
from pftryon.train.data import ShardedBatchSampler, TrainingPairs


def _unpaired(pairs: TrainingPairs, epoch: int) -> list[int]:
    pairs.set_epoch(epoch)
    return [pairs.unpaired_index(i) for i in range(len(pairs))]


def test_unpaired_draws_are_deterministic_never_self_and_change_with_epoch_and_seed():
    pairs = TrainingPairs(ToySamples(20), seed=3)
    first = _unpaired(pairs, 1)
    assert first == _unpaired(TrainingPairs(ToySamples(20), seed=3), 1)
    for epoch in range(1, 6):
        assert all(other != index and 0 <= other < 20 for index, other in enumerate(_unpaired(pairs, epoch)))
    assert _unpaired(pairs, 2) != first
    assert _unpaired(TrainingPairs(ToySamples(20), seed=4), 1) != first
    assert _unpaired(TrainingPairs(ToySamples(1), seed=3), 1) == [0]


def test_item_holds_the_batch_keys():
    base = ToySamples(5)
    pairs = TrainingPairs(base, seed=0, size=(32, 32))
    pairs.set_epoch(2)
    item, sample = pairs[3], base[3]
    other = base[pairs.unpaired_index(3)]
    images = {"person", "cloth", "cloth_mask", "cloth_un", "cloth_mask_un"}
    assert set(item) == images | {"parse", "densepose", "pose", "index"}
    torch.testing.assert_close(item["cloth_un"], other["cloth"], rtol=0, atol=0)
    torch.testing.assert_close(item["cloth_mask_un"], other["cloth_mask"], rtol=0, atol=0)
    torch.testing.assert_close(item["pose"], pose_maps(sample["keypoints"], 32, 32), rtol=0, atol=0)
    assert item["pose"].shape == (18, 32, 32) and item["pose"].dtype == torch.float32
    assert item["parse"].dtype == item["densepose"].dtype == torch.long
    assert item["index"].item() == 3


def test_parse_is_mapped_by_the_injected_callable():
    calls = []

    def to_common(parse: torch.Tensor, labels: str | None) -> torch.Tensor:
        calls.append(labels)
        return parse % 2

    item = TrainingPairs(ToySamples(3), seed=0, parse_to_common=to_common)[1]
    torch.testing.assert_close(item["parse"], ToySamples(3)[1]["parse"] % 2, rtol=0, atol=0)
    assert calls == ["common"]


def test_densepose_comes_from_the_parse_only_when_the_dataset_has_none():
    with pytest.raises(ValueError, match="dataset 'toy' has no DensePose maps; pass densepose_from_parse="):
        TrainingPairs(ToySamples(3, densepose=False), seed=0)[0]
    derived = TrainingPairs(ToySamples(3, densepose=False), seed=0, densepose_from_parse=lambda parse: parse + 1)[0]
    torch.testing.assert_close(derived["densepose"], derived["parse"] + 1, rtol=0, atol=0)
    own = TrainingPairs(ToySamples(3), seed=0, densepose_from_parse=lambda parse: parse + 1)[0]
    torch.testing.assert_close(own["densepose"], ToySamples(3)[0]["densepose"], rtol=0, atol=0)


def test_wrong_size_and_missing_fields_are_errors():
    with pytest.raises(ValueError, match="sample 0 of dataset 'toy' is 32x32, expected 64x32"):
        TrainingPairs(ToySamples(2), seed=0, size=(64, 32))[0]

    class NoPose(ToySamples):
        def __getitem__(self, index):
            return {k: v for k, v in super().__getitem__(index).items() if k != "keypoints"}

    with pytest.raises(ValueError, match="has no keypoints"):
        TrainingPairs(NoPose(2), seed=0)[0]


def test_order_is_truncated_to_full_global_batches_and_sharded_without_overlap():
    ranks = [ShardedBatchSampler(11, 2, seed=5, rank=r, world_size=2) for r in range(2)]
    single = ShardedBatchSampler(11, 4, seed=5)
    for epoch in (1, 2):
        for sampler in (*ranks, single):
            sampler.set_epoch(epoch)
        shards = [list(sampler) for sampler in ranks]
        assert len(ranks[0]) == len(single) == 2 == len(shards[0]) == len(shards[1])
        assert all(len(batch) == 2 for shard in shards for batch in shard)
        used = [i for shard in shards for batch in shard for i in batch]
        assert len(set(used)) == 8
        # Step by step, the ranks together see exactly the single process's global batch.
        assert [a + b for a, b in zip(*shards, strict=True)] == list(single)
    assert single.order(1).tolist() != single.order(2).tolist()
    assert single.order(1).tolist() == ShardedBatchSampler(11, 4, seed=5).order(1).tolist()


def test_order_resumes_mid_epoch():
    sampler = ShardedBatchSampler(12, 3, seed=1)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, start=2)
    assert list(sampler) == full[2:] and len(sampler) == 2
    with pytest.raises(ValueError, match="fewer than one global batch"):
        ShardedBatchSampler(3, 2, seed=0, world_size=2)


def test_loader_workers_give_the_same_batches():
    pairs = TrainingPairs(ToySamples(6), seed=2)
    sampler = ShardedBatchSampler(6, 3, seed=2)
    batches = {}
    for workers in (0, 2):
        pairs.set_epoch(3)
        sampler.set_epoch(3)
        batches[workers] = list(DataLoader(pairs, batch_sampler=sampler, num_workers=workers))
    for a, b in zip(batches[0], batches[2], strict=True):
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
