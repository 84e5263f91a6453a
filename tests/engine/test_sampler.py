"""GlobalBatchSampler: global batches that do not depend on the number of processes."""

from vidlab.engine.sampler import BatchShape, GlobalBatchSampler


def _batches(world, rank, **kw):
    return list(GlobalBatchSampler(37, 8, epoch=3, seed=5, world_size=world, rank=rank, **kw))


def test_process_r_takes_clips_r_r_plus_w_of_every_global_batch():
    one = _batches(1, 0)
    assert len(one) == 4 and all(len(b) == 8 for b in one)  # 37 clips: 4 whole batches, the rest dropped
    for world in (2, 4, 8):
        shares = [_batches(world, r) for r in range(world)]
        for i, batch in enumerate(one):
            for r in range(world):
                assert shares[r][i] == batch[r::world]  # PySlowFast's sub-batch BN groups
            assert sorted(sum((s[i] for s in shares), [])) == sorted(batch)


def test_the_last_partial_batch_is_split_as_evenly_as_possible():
    one = _batches(1, 0, drop_last=False)
    assert [len(b) for b in one] == [8, 8, 8, 8, 5]
    shares = [_batches(2, r, drop_last=False)[-1] for r in range(2)]
    assert [len(s) for s in shares] == [3, 2] and sorted(shares[0] + shares[1]) == sorted(one[-1])


def test_multigrid_shapes_travel_with_the_indices_and_resume_skips_whole_batches():
    shapes = lambda i: BatchShape(16 if i % 2 == 0 else 8, 2 if i % 2 == 0 else 4, 40, 16)  # noqa: E731
    full = list(GlobalBatchSampler(50, 8, seed=1, shapes=shapes))
    assert [len(b) for b in full] == [16, 8, 16, 8]
    assert all(item[1:] == (2, 40, 16) for item in full[0]) and all(item[1:] == (4, 40, 16) for item in full[1])
    resumed = list(GlobalBatchSampler(50, 8, seed=1, shapes=shapes, start_batch=2))
    assert resumed == full[2:]
