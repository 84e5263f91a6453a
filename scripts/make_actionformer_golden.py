"""Write tests/localize/data/actionformer_golden.npz: the official ActionFormer's outputs on fixed weights.

    .venv/bin/python scripts/make_actionformer_golden.py MIRROR [--out tests/localize/data/actionformer_golden.npz]

MIRROR is the happyharrycn/actionformer_release repository: a checkout, or a bare git directory
(then ``libs/`` and ``configs/`` are extracted with ``git archive HEAD``). Needs torch and pyyaml; the
compiled NMS extension the official package imports (``nms_1d_cpu``) is replaced by an empty module
(NMS is not used here). Not run by the tests, which only read the file it writes.

The model is the THUMOS'14 configuration (``configs/thumos_i3d.yaml``: 6 levels, 2 stem blocks,
stochastic depth with per-channel residual scales) made small: input 8, embed/FPN/head 16, window 9,
4 classes, max_seq_len 256. Its weights are those of vidlab's ActionFormer built with the shared
fixtures' weight rule (``tests/conftest.py`` ``fixture_tensor``: a tensor from its vidlab key and shape;
the per-level regression scales are taken as their absolute values so that no level is all zero),
mapped to the official names (:data:`RENAME`). The input is 256 steps from ``torch.Generator`` seed 0.
Saved: the classification logits and regression outputs of every level (B = 1, no padding: the
official code is not padding-invariant, vidlab is), and the official label assignment of a few
hand-made segments (``label_points_single_video``).
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vidlab.localize.actionformer import ActionFormer, ActionFormerConfig  # noqa: E402

CONFIG = dict(input_dim=8, num_classes=4, embed_dim=16, head_dim=16, window=9)
T = 256
SEGMENTS = [[3.2, 20.5], [10.0, 11.5], [100.0, 240.0], [0.5, 4.0], [10.0, 11.5005], [150.0, 170.0]]
LABELS = [1, 2, 3, 0, 3, 2]


def fixture_tensor(key: str, shape) -> torch.Tensor:
    """The shared fixtures' weight rule (as tests/conftest.py)."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    if len(shape) == 1 and key.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    if key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=g)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
    return torch.randn(shape, generator=g) * math.sqrt(1.0 / fan_in)


def vidlab_model() -> ActionFormer:
    model = ActionFormer(ActionFormerConfig.thumos(**CONFIG)).eval()
    state = {k: fixture_tensor(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    state["reg_scale"] = state["reg_scale"].abs()
    model.load_state_dict(state)
    return model


def official_key(official: str) -> str:
    """The vidlab key of an official ActionFormer parameter name."""
    k = official.removeprefix("backbone.").replace("embd_norm", "embed_norm").replace("embd", "embed")
    k = re.sub(r"\.conv\.(weight|bias)$", r".\1", k)
    k = k.replace("drop_path_attn.scale", "scale_attn").replace("drop_path_mlp.scale", "scale_mlp")
    k = k.replace("neck.fpn_norms", "neck").replace("cls_head.cls_head", "cls_head.out")
    k = k.replace("reg_head.offset_head", "reg_head.out")
    k = re.sub(r"(cls_head|reg_head)\.head\.", r"\1.convs.", k)
    return re.sub(r"(cls_head|reg_head)\.norm\.", r"\1.norms.", k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mirror", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "tests/localize/data/actionformer_golden.npz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.mirror
        if not (src / "libs").is_dir():  # a bare git directory
            tar = subprocess.run(["git", "--git-dir", str(src), "archive", "HEAD", "libs", "configs"],
                                 check=True, capture_output=True).stdout
            subprocess.run(["tar", "x", "-C", tmp], input=tar, check=True)
            src = Path(tmp)
        (Path(tmp) / "stub").mkdir()
        (Path(tmp) / "stub" / "nms_1d_cpu.py").write_text("")
        sys.path[:0] = [str(Path(tmp) / "stub"), str(src)]
        from libs.core import load_config
        from libs.modeling import make_meta_arch

        cfg = load_config(str(src / "configs" / "thumos_i3d.yaml"))
        mc = cfg["model"]
        mc.update(input_dim=CONFIG["input_dim"], num_classes=CONFIG["num_classes"], embd_dim=CONFIG["embed_dim"],
                  fpn_dim=CONFIG["embed_dim"], head_dim=CONFIG["head_dim"], n_mha_win_size=CONFIG["window"],
                  max_seq_len=T)
        ref = make_meta_arch(cfg["model_name"], **mc).eval()
        mine = vidlab_model().state_dict()
        state = {}
        for k, v in ref.state_dict().items():
            m = re.fullmatch(r"reg_head\.scale\.(\d+)\.scale", k)
            state[k] = (mine["reg_scale"][int(m[1])] if m else mine[official_key(k)]).reshape(v.shape)
        ref.load_state_dict(state)
        x = torch.randn(1, CONFIG["input_dim"], T, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            feats, masks = ref.backbone(x, torch.ones(1, 1, T, dtype=torch.bool))
            feats, masks = ref.neck(feats, masks)
            cls = ref.cls_head(feats, masks)
            off = ref.reg_head(feats, masks)
            points = torch.cat(ref.point_generator(feats))
            gcls, greg = ref.label_points_single_video(points, torch.tensor(SEGMENTS), torch.tensor(LABELS))
    out = {f"cls{i}": c[0].T.numpy() for i, c in enumerate(cls)}
    out.update({f"off{i}": o[0].T.numpy() for i, o in enumerate(off)})
    out.update(input=x.numpy(), points=points.numpy(), segments=np.asarray(SEGMENTS, np.float32),
               labels=np.asarray(LABELS), target_cls=gcls.numpy(), target_reg=greg.numpy())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
