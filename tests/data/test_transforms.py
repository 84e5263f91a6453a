import numpy as np
import pytest
import torch

from vidlab.data import transforms as T


def frames(t=4, h=240, w=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_short_side_scale_uses_pyslowfast_rounding():
    clip = T.to_float_tchw(frames())
    out = T.short_side_scale(clip, 256)
    assert out.shape == (4, 3, 256, 341)  # floor(320 / 240 * 256) = 341
    tall = T.short_side_scale(T.to_float_tchw(frames(h=320, w=240)), 128)
    assert tall.shape[-2:] == (170, 128)
    assert T.short_side_scale(clip, 240) is clip  # already the right size


@pytest.mark.parametrize("idx, x", [(0, 0), (1, 59), (2, 117)])
def test_uniform_crop_offsets(idx, x):
    clip = torch.arange(256 * 341, dtype=torch.float32).view(1, 1, 256, 341)
    crop = T.uniform_crop(clip, 224, idx)
    # y offset is ceil((256 - 224) / 2) = 16 for all three; x moves along the longer side
    assert crop.shape[-2:] == (224, 224)
    assert crop[0, 0, 0, 0].item() == 16 * 341 + x


def test_uniform_crop_on_portrait_moves_vertically():
    clip = torch.arange(300 * 200, dtype=torch.float32).view(1, 1, 300, 200)
    tops = [T.uniform_crop(clip, 200, i)[0, 0, 0, 0].item() // 200 for i in range(3)]
    assert tops == [0, 50, 100]


def test_train_transform_shape_range_and_determinism():
    tf = T.ClipTransform(train=True, crop_size=112, min_scale=128, max_scale=160, flip=0.5)
    a = tf(frames(), rng=np.random.default_rng(1))
    b = tf(frames(), rng=np.random.default_rng(1))
    assert a.shape == (3, 4, 112, 112) and a.dtype == torch.float32
    assert torch.equal(a, b)
    lo, hi = (0 - 0.45) / 0.225, (1 - 0.45) / 0.225
    assert a.min() >= lo - 1e-5 and a.max() <= hi + 1e-5


def test_flip_is_a_mirror_and_can_be_disabled():
    f = frames(h=64, w=64)
    always = T.ClipTransform(train=True, crop_size=64, min_scale=64, max_scale=64, flip=1.0)
    never = T.ClipTransform(train=True, crop_size=64, min_scale=64, max_scale=64, flip=0.0)
    a, b = always(f, rng=np.random.default_rng(0)), never(f, rng=np.random.default_rng(0))
    assert torch.allclose(a, b.flip(-1))


def test_test_transform_three_crops():
    tf = T.ClipTransform(train=False, crop_size=224, test_scale=256, spatial_crops=3)
    views = tf.views(frames())
    assert len(views) == 3 and all(v.shape == (3, 4, 224, 224) for v in views)
    assert torch.equal(views[1], tf(frames(), spatial_idx=1))
    assert not torch.equal(views[0], views[2])


def test_normalize_known_values():
    clip = torch.ones(1, 3, 2, 2)
    out = T.normalize(clip, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    assert out[0, :, 0, 0].tolist() == [2.0, 1.0, 0.5]


def test_bad_input_shapes():
    with pytest.raises(ValueError):
        T.to_float_tchw(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError):
        T.uniform_crop(torch.zeros(1, 3, 10, 10), 20, 1)
