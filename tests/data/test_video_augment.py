"""RandAugment and random erasing for clips (vidlab.data.video_augment), hooked into ClipTransform."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import InterpolationMode

from vidlab.data.transforms import ClipTransform, normalize_to_cthw, random_crop, random_short_side_scale, to_float_tchw
from vidlab.data.video_augment import (
    RAND_INCREASING_OPS,
    RAND_OPS,
    AugmentSpecError,
    VideoRandAugment,
    apply_op,
    op_argument,
    random_erase,
)


def _frames(t=4, h=24, w=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_policy_strings():
    p = VideoRandAugment.parse("rand-m7-n4-mstd0.5-inc1")  # PySlowFast's MViTv2 recipe
    assert (p.magnitude, p.num_ops, p.magnitude_std, p.prob, p.ops) == (7.0, 4, 0.5, 0.5, RAND_INCREASING_OPS)
    p = VideoRandAugment.parse("rand")
    assert (p.magnitude, p.num_ops, p.magnitude_std, p.ops, p.weights) == (10.0, 2, 0.0, RAND_OPS, None)
    assert VideoRandAugment.parse("rand-m9-inc0").ops == RAND_OPS  # inc0 is off
    assert VideoRandAugment.parse("rand-w0-n3-p1.0").weights is not None
    for bad, why in (("auto-m9", "rand-"), ("rand-q3", "unknown"), ("rand-m11", "magnitude"), ("rand-w1", "w0"),
                     ("rand-mx", "cannot read"), ("rand-w0-n14", "without replacement")):
        with pytest.raises(AugmentSpecError, match=why):
            VideoRandAugment.parse(bad)


def test_magnitude_rules_are_timms():
    class Plus:  # a generator whose sign draws keep the value positive
        def random(self):
            return 0.0

    at7 = {name: op_argument(name, 7.0, Plus()) for name in RAND_OPS + RAND_INCREASING_OPS}
    expected = {"Rotate": 21.0, "Posterize": 2, "PosterizeIncreasing": 2, "Solarize": 179, "SolarizeIncreasing": 77,
                "SolarizeAdd": 77, "Color": 1.36, "ColorIncreasing": 1.63, "Contrast": 1.36, "SharpnessIncreasing": 1.63,
                "ShearX": 0.21, "TranslateYRel": 0.315, "AutoContrast": None}
    for name, value in expected.items():
        assert at7[name] == pytest.approx(value), name


@pytest.mark.parametrize("name", sorted(set(RAND_OPS + RAND_INCREASING_OPS)))
def test_every_op_changes_every_frame_alike(name):
    """One op, one argument for the whole clip: applied to the clip it equals applied frame by
    frame, and a clip of identical frames stays a clip of identical frames."""
    clip = to_float_tchw(_frames())
    arg = op_argument(name, 7.0, np.random.default_rng(1))
    out = apply_op(clip, name, arg)
    assert out.shape == clip.shape and 0 <= out.min() and out.max() <= 1
    torch.testing.assert_close(out, torch.stack([apply_op(f, name, arg) for f in clip]), rtol=0, atol=1e-6)
    same = clip[:1].expand(5, -1, -1, -1).contiguous()
    got = VideoRandAugment(ops=(name,), num_ops=1, magnitude=7.0, prob=1.0)(same, np.random.default_rng(2))
    assert all(torch.equal(got[0], f) for f in got[1:])


def test_ops_give_pils_pixels():
    """On 8-bit frames with nearest sampling the geometric and pixel ops are PIL's (timm/PySlowFast
    run PIL); the enhance ops are within one grey level."""
    a = _frames(t=1)[0]
    img = Image.fromarray(a)
    x = to_float_tchw(a[None])[0]
    fill = (128, 128, 128)
    pil = {
        ("ShearX", 0.21): img.transform(img.size, Image.AFFINE, (1, 0.21, 0, 0, 1, 0), Image.NEAREST, fillcolor=fill),
        ("ShearY", -0.21): img.transform(img.size, Image.AFFINE, (1, 0, 0, -0.21, 1, 0), Image.NEAREST, fillcolor=fill),
        ("TranslateXRel", 0.3): img.transform(img.size, Image.AFFINE, (1, 0, 0.3 * 32, 0, 1, 0), Image.NEAREST,
                                              fillcolor=fill),
        ("TranslateYRel", -0.3): img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, -0.3 * 24), Image.NEAREST,
                                               fillcolor=fill),
        ("Rotate", 21.0): img.rotate(21.0, resample=Image.NEAREST, fillcolor=fill),
        ("Posterize", 2): ImageOps.posterize(img, 2),
        ("Solarize", 179): ImageOps.solarize(img, 179),
        ("SolarizeAdd", 77): img.point([min(255, i + 77) if i < 128 else i for i in range(256)] * 3),
        ("Invert", None): ImageOps.invert(img),
        ("AutoContrast", None): ImageOps.autocontrast(img),
        ("Equalize", None): ImageOps.equalize(img),
    }
    enhance = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast, "Brightness": ImageEnhance.Brightness,
               "Sharpness": ImageEnhance.Sharpness}
    for (name, arg), ref in pil.items():
        ours = (apply_op(x, name, arg, interpolation=InterpolationMode.NEAREST) * 255).round().byte()
        assert np.array_equal(ours.permute(1, 2, 0).numpy(), np.asarray(ref)), name
    for name, cls in enhance.items():
        ours = (apply_op(x, name, 1.36) * 255).round().permute(1, 2, 0).numpy()
        assert np.abs(ours - np.asarray(cls(img).enhance(1.36)).astype(float)).max() <= 1, name
    black = apply_op(x, "Posterize", 0)  # 0 bits kept: black, as old PIL did
    assert torch.equal(black, torch.zeros_like(x))


def test_rand_augment_draws_from_the_generator():
    policy = VideoRandAugment.parse("rand-m7-n4-mstd0.5-inc1")
    clip = to_float_tchw(_frames())
    a = policy(clip, np.random.default_rng(5))
    assert torch.equal(a, policy(clip, np.random.default_rng(5)))
    draws = [policy.draw(np.random.default_rng(s)) for s in range(40)]
    assert all(len(d) <= 4 for d in draws) and 1.0 < np.mean([len(d) for d in draws]) < 3.0  # each op: p = 0.5
    assert {name for d in draws for name, _ in d} <= set(RAND_INCREASING_OPS)
    never = VideoRandAugment(num_ops=3, prob=0.0)
    assert never(clip, np.random.default_rng(0)) is clip


def test_random_erasing_is_one_box_on_every_frame():
    clip = normalize_to_cthw(to_float_tchw(_frames(t=6, h=40, w=40)), (0.45,) * 3, (0.225,) * 3)
    erased = 0
    for seed in range(10):
        out = random_erase(clip, 1.0, np.random.default_rng(seed))
        changed = (out != clip).any(dim=0)  # (T, H, W)
        if not changed.any():
            continue
        erased += 1
        assert all(torch.equal(changed[0], f) for f in changed[1:])  # the same box on every frame
        rows, cols = changed[0].any(1).nonzero(), changed[0].any(0).nonzero()
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert 0.02 * 1600 * 0.8 <= h * w <= 1600 / 3 * 1.2  # area in [2%, 1/3] (up to rounding)
        assert not torch.equal(out[:, 0][:, changed[0]], out[:, 1][:, changed[0]])  # fresh noise per frame
    assert erased >= 8
    const = random_erase(clip, 1.0, np.random.default_rng(0), mode="const")
    assert ((const == 0) | (const == clip)).all() and (const == 0).any()
    assert random_erase(clip, 0.0, np.random.default_rng(0)) is clip
    assert torch.equal(random_erase(clip, 0.5, np.random.default_rng(3)), random_erase(clip, 0.5, np.random.default_rng(3)))


def test_clip_transform_hooks():
    frames = _frames(t=4, h=36, w=48)
    kw = dict(crop_size=28, min_scale=32, max_scale=36, flip=0.5)
    # defaults: the pipeline and its random draws are exactly the old ones
    rng = np.random.default_rng(9)
    ref = random_crop(random_short_side_scale(to_float_tchw(frames), 32, 36, rng), 28, rng)
    ref = ref.flip(-1) if rng.random() < 0.5 else ref
    got = ClipTransform(train=True, **kw)(frames, rng=np.random.default_rng(9))
    assert torch.equal(got, normalize_to_cthw(ref, ClipTransform.mean, ClipTransform.std))
    # RandAugment on a clip of identical frames keeps them identical (the same op and crop on each)
    same = np.repeat(frames[:1], 4, axis=0)
    tf = ClipTransform(train=True, rand_augment="rand-m9-n4-mstd0.5-inc1", random_erasing=1.0, **kw)
    no_erase = ClipTransform(train=True, rand_augment="rand-m9-n4-mstd0.5-inc1", **kw)
    for seed in range(4):
        augmented = no_erase(same, rng=np.random.default_rng(seed))
        assert augmented.shape == (3, 4, 28, 28)
        assert all(torch.equal(augmented[:, 0], augmented[:, i]) for i in range(1, 4))
        # erasing comes last (its draws after the others): the same clip, plus one box on all frames
        box = (tf(same, rng=np.random.default_rng(seed)) != augmented).any(dim=0)
        assert box[0].any() and all(torch.equal(box[0], b) for b in box[1:])
    # evaluation is never augmented
    plain = ClipTransform(train=False, crop_size=28, test_scale=32)
    aug = ClipTransform(train=False, crop_size=28, test_scale=32, rand_augment="rand-m9", random_erasing=1.0)
    assert torch.equal(plain(frames), aug(frames))
    with pytest.raises(AugmentSpecError):
        ClipTransform(train=True, rand_augment="rand-zz")


def test_config_fields(tiny_synth):
    from vidlab.data.datasets import make_dataset
    from vidlab.engine.config import ConfigError, from_dict

    cfg = from_dict({"data": {"rand_augment": "rand-m7-n4-mstd0.5-inc1", "random_erasing": 0.25}})
    assert cfg.data.random_erasing_mode == "pixel"
    with pytest.raises(ConfigError, match="data.rand_augment"):
        from_dict({"data": {"rand_augment": "rand-m7-x"}})
    with pytest.raises(ConfigError, match="data.modality"):
        from_dict({"data": {"modality": "rgb", "random_erasing": 0.25}})
    with pytest.raises(ConfigError, match="random_erasing"):
        from_dict({"data": {"random_erasing": 1.5}})
    common = dict(list_file=tiny_synth / "train.csv", num_classes=10, num_frames=4, sampling_rate=2, crop_size=28,
                  mean=(0.45,) * 3, std=(0.225,) * 3, train_scale=(32, 36), robust=False)
    train = make_dataset("train", **common, rand_augment="rand-m7", random_erasing=0.25)
    assert train.transform.rand_augment == "rand-m7" and train.transform.random_erasing == 0.25
    assert train.transform._rand_augment is not None
    val = make_dataset("val", **common, rand_augment="rand-m7", random_erasing=0.25)
    assert val.transform.rand_augment is None and val.transform.random_erasing == 0.0
    x, _, _ = train[0]
    assert x.shape == (3, 4, 28, 28)
