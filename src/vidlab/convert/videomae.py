"""VideoMAE fine-tuned classifiers -> vidlab ``videomae_vit_{s,b,l}_16x4``.

vidlab's :class:`~vidlab.models.videomae.VideoMAE` has the original release's
parameter names (MCG-NJU/VideoMAE ``modeling_finetune.py``), so three layouts
convert, all with tensor values unchanged except the one concatenation noted:

**Hugging Face** (``--from huggingface``, a ``VideoMAEForVideoClassification``
folder: ``config.json`` + ``model.safetensors`` / ``pytorch_model.bin``; the
class names come from ``id2label``)::

    videomae.embeddings.patch_embeddings.projection   patch_embed.proj
    videomae.encoder.layer.N.layernorm_before         blocks.N.norm1
    ....attention.attention.{query,key,value}.weight  blocks.N.attn.qkv.weight  (concatenated q | k | v)
    ....attention.attention.q_bias  (or query.bias)   blocks.N.attn.q_bias
    ....attention.attention.v_bias  (or value.bias)   blocks.N.attn.v_bias
    ....attention.output.dense                        blocks.N.attn.proj
    videomae.encoder.layer.N.layernorm_after          blocks.N.norm2
    videomae.encoder.layer.N.intermediate.dense       blocks.N.mlp.fc1
    videomae.encoder.layer.N.output.dense             blocks.N.mlp.fc2
    fc_norm                                           fc_norm
    videomae.layernorm  (use_mean_pooling=False)      norm
    classifier                                        head

transformers 4 stores the query/value biases as ``q_bias`` / ``v_bias`` (every
published hub file); transformers 5 builds them as ``query.bias`` /
``value.bias`` and renames on load (``save_pretrained`` writes the old names
back); both spellings are read. ``key`` has no bias in either (a zero
``key.bias``, should one appear, is the zero key bias and is dropped; a non-zero
one is refused). The three projection weights of a layer must all be there.
Head counts are not in the weights: vidlab uses the original's (S 6, B 12,
L 16). Hugging Face's conversion script (``convert_videomae_to_pytorch.py``,
PR #22788) writes ``num_attention_heads=16`` for the small models; where a
ViT-S folder's ``config.json`` says 16, transformers runs those weights with 16
heads of 24 channels, which is not the network they were trained as (the
original's ``vit_small_patch16_224``: 6 heads of 64), and vidlab's output will
differ from transformers' there, by design.

**MMAction2** (``--from mmaction2``, ``backbone.`` + ``cls_head.`` keys of
``mmaction/models/backbones/vit_mae.py``'s ``VisionTransformer`` and
``TimeSformerHead``; the zoo's ``vit-{base,large}-p16_videomae-k400-pre_16x4x1``
files, ported from the original)::

    backbone.patch_embed.projection                   patch_embed.proj
    backbone.blocks.N.norm1 / norm2                   blocks.N.norm1 / norm2
    backbone.blocks.N.attn.{qkv.weight,q_bias,v_bias,proj.*}   same names
    backbone.blocks.N.mlp.layers.0.0                  blocks.N.mlp.fc1   (mmcv FFN)
    backbone.blocks.N.mlp.layers.1                    blocks.N.mlp.fc2
    backbone.blocks.N.gamma_1 / gamma_2               blocks.N.gamma_1 / gamma_2
    backbone.fc_norm / backbone.norm                  fc_norm / norm
    cls_head.fc_cls                                   head

MMAction2 registers its sinusoid table as a buffer, so ``backbone.pos_embed``
``(1, N, D)`` may be in the file: it is checked to be the fixed table
(:func:`vidlab.models.videomae.sinusoid_table`, within 1e-4) and left out,
since vidlab computes it; a table that is not (``use_learnable_pos_emb=True``)
is refused. ``data_preprocessor.mean`` / ``.std`` (constants some files carry)
are checked to be 3 values and left out.

**The original release** (a ``.pth`` of ``{"model": state}`` or, saved by
DeepSpeed, ``{"module": state}``; :mod:`vidlab.convert.sources` unwraps both)
has vidlab's own names. There is no "original" source in
:data:`vidlab.convert.registry.SOURCES`, and its files are torch pickles like
MMAction2's, so the ``mmaction2`` source takes them too: a state dict whose keys
carry ``backbone.`` / ``cls_head.`` is read as MMAction2's, any other one must
be in the original layout (checked key by key against the names above; a
``pos_embed`` entry is treated as MMAction2's) and passes unchanged. A
pre-training checkpoint (``encoder.*`` + ``decoder.*``, or Hugging Face's
``VideoMAEForPreTraining``) has no classifier and is refused by name.

Number of frames and crop: no table in any of the three layouts depends on
them once ``pos_embed`` is left out, so a checkpoint loads into the registered
architecture whatever ``num_frames`` / ``image_size`` its config names, and the
model recomputes the table for every input (see :mod:`vidlab.models.videomae`);
there are no ``model_kwargs`` to record. Widths, depths and head counts are the
architecture's (the state dict cannot say how many heads there are): a
checkpoint of another size fails the strict load, which names the keys.
Preprocessing is ImageNet mean/std on [0, 1] RGB for all three, the registered
specs' own, so the converted sidecar carries the spec's values.
"""

from __future__ import annotations

import re

import torch

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

ARCHS = ("videomae_vit_s_16x4", "videomae_vit_b_16x4", "videomae_vit_l_16x4")

_WB = r"(?P<p>weight|bias)"

# ----------------------------------------------------------------------------
# Hugging Face

_HF_LAYER = re.compile(r"videomae\.encoder\.layer\.(?P<n>\d+)\.(?P<rest>.+)$")
_HF_LAYER_PARTS = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}
_HF_TOP = {
    "videomae.embeddings.patch_embeddings.projection": "patch_embed.proj",
    "fc_norm": "fc_norm",
    "videomae.layernorm": "norm",
    "classifier": "head",
}
_HF_ATTN = "attention.attention."


def _refuse_pretraining(source: str, arch: str, keys) -> None:
    """A pre-training checkpoint (the original's ``encoder.*`` + ``decoder.*`` + ``encoder_to_decoder``,
    Hugging Face's ``VideoMAEForPreTraining``) has no classifier: refuse it by name."""
    found = [k for k in keys if k.startswith(("decoder.", "encoder_to_decoder.")) or k == "mask_token"]
    if found:
        raise ConversionError(f"{source} -> {arch}: a VideoMAE pre-training checkpoint (encoder + decoder, e.g. "
                              f"{found[0]}), not a fine-tuned classifier: it has no classification head")


def _is_fixed_table(table: torch.Tensor) -> bool:
    from vidlab.models.videomae import sinusoid_table

    if table.dim() != 3 or table.shape[0] != 1:
        return False
    ref = sinusoid_table(table.shape[1], table.shape[2])
    return bool(torch.allclose(table.float(), ref, atol=1e-4, rtol=0))


def _check_pos_embed(key: str, value: torch.Tensor, source: str, arch: str) -> None:
    """A stored sinusoid table: checked and left out (vidlab computes it), or refused."""
    if not _is_fixed_table(value):
        raise ConversionError(f"{source} -> {arch}: {key} {tuple(value.shape)} is not VideoMAE's fixed sinusoid "
                              f"table (a learnable position embedding, use_learnable_pos_emb=True), which vidlab's "
                              f"VideoMAE does not have")


def _put(out: StateDict, new: str, value: torch.Tensor, source: str, arch: str) -> None:
    if new in out:
        raise ConversionError(f"{source} -> {arch}: two source keys map to {new}")
    out[new] = value


@register("huggingface", *ARCHS)
def from_huggingface(state: StateDict, arch: str) -> StateDict:
    """``VideoMAEForVideoClassification`` keys -> vidlab's (see the module docstring)."""
    source = "huggingface"
    _refuse_pretraining(source, arch, state)
    out: StateDict = {}
    qkv: dict[int, dict[str, torch.Tensor]] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        top = next((t for t in _HF_TOP if key.startswith(t + ".")), None)
        if top is not None and re.fullmatch(_WB, key[len(top) + 1:]):
            _put(out, f"{_HF_TOP[top]}.{key[len(top) + 1:]}", value, source, arch)
            continue
        if key == "videomae.embeddings.position_embeddings":
            _check_pos_embed(key, value, source, arch)
            continue
        m = _HF_LAYER.match(key)
        if m is None:
            unmapped.append(key)
            continue
        n, rest = int(m["n"]), m["rest"]
        block = f"blocks.{n}"
        part = next((p for p in _HF_LAYER_PARTS if rest.startswith(p + ".")), None)
        if part is not None and re.fullmatch(_WB, rest[len(part) + 1:]):
            _put(out, f"{block}.{_HF_LAYER_PARTS[part]}.{rest[len(part) + 1:]}", value, source, arch)
        elif rest in (_HF_ATTN + "q_bias", _HF_ATTN + "query.bias"):
            _put(out, f"{block}.attn.q_bias", value, source, arch)
        elif rest in (_HF_ATTN + "v_bias", _HF_ATTN + "value.bias"):
            _put(out, f"{block}.attn.v_bias", value, source, arch)
        elif rest == _HF_ATTN + "key.bias":
            if torch.count_nonzero(value):
                raise ConversionError(f"{source} -> {arch}: {key} is not zero; VideoMAE's attention has no key bias")
        elif (w := re.fullmatch(re.escape(_HF_ATTN) + r"(query|key|value)\.weight", rest)) is not None:
            qkv.setdefault(n, {})[w[1]] = value
        else:
            unmapped.append(key)
    if unmapped:
        raise unmapped_error(source, arch, unmapped)
    for n, parts in sorted(qkv.items()):
        missing = [p for p in ("query", "key", "value") if p not in parts]
        if missing:
            raise ConversionError(f"{source} -> {arch}: layer {n} has no attention {', '.join(missing)} weight "
                                  f"(videomae.encoder.layer.{n}.{_HF_ATTN}{missing[0]}.weight), so qkv cannot be built")
        _put(out, f"blocks.{n}.attn.qkv.weight", torch.cat([parts["query"], parts["key"], parts["value"]], 0),
             source, arch)
    return out


# ----------------------------------------------------------------------------
# MMAction2 (and the original release, which has vidlab's names)

_NON_WEIGHTS = ("data_preprocessor.mean", "data_preprocessor.std")
_BLOCK_REST = re.compile(r"(?:norm[12]\.(?:weight|bias)|attn\.(?:qkv\.weight|q_bias|v_bias|proj\.(?:weight|bias))"
                         r"|gamma_[12])$")
_ORIGINAL = re.compile(r"(?:patch_embed\.proj\.(?:weight|bias)|(?:fc_norm|norm|head)\.(?:weight|bias)"
                       r"|blocks\.\d+\.(?:norm[12]\.(?:weight|bias)|attn\.(?:qkv\.weight|q_bias|v_bias"
                       r"|proj\.(?:weight|bias))|mlp\.fc[12]\.(?:weight|bias)|gamma_[12]))$")
_MM_FFN = {"layers.0.0": "fc1", "layers.1": "fc2"}


def _mmaction2_key(key: str) -> str | None:
    """vidlab's name for an MMAction2 VideoMAE key (``None``: no place in the model)."""
    if m := re.fullmatch(r"cls_head\.fc_cls\." + _WB, key):
        return f"head.{m['p']}"
    if not key.startswith("backbone."):
        return None
    rest = key[len("backbone."):]
    if m := re.fullmatch(r"patch_embed\.projection\." + _WB, rest):
        return f"patch_embed.proj.{m['p']}"
    if re.fullmatch(r"(?:fc_norm|norm)\.(?:weight|bias)", rest):
        return rest
    if m := re.fullmatch(r"blocks\.(?P<n>\d+)\.(?P<rest>.+)", rest):
        block, inner = f"blocks.{m['n']}", m["rest"]
        if _BLOCK_REST.fullmatch(inner):
            return f"{block}.{inner}"
        if f := re.fullmatch(r"mlp\.(?P<layer>layers\.0\.0|layers\.1)\." + _WB, inner):
            return f"{block}.mlp.{_MM_FFN[f['layer']]}.{f['p']}"
    return None


@register("mmaction2", *ARCHS)
def from_mmaction2(state: StateDict, arch: str) -> StateDict:
    """MMAction2 ``VisionTransformer`` + ``TimeSformerHead`` keys, or the original release's (unchanged)."""
    source = "mmaction2"
    _refuse_pretraining(source, arch, state)
    mmaction = any(k.startswith(("backbone.", "cls_head.")) for k in state)
    out: StateDict = {}
    unmapped: list[str] = []
    for key, value in state.items():
        if key in _NON_WEIGHTS:
            if value.numel() != 3:
                raise ConversionError(f"{source} -> {arch}: {key} has shape {tuple(value.shape)}, not 3 channel values")
            continue
        if key in ("backbone.pos_embed", "pos_embed"):
            _check_pos_embed(key, value, source, arch)
            continue
        new = _mmaction2_key(key) if mmaction else (key if _ORIGINAL.fullmatch(key) else None)
        if new is None:
            unmapped.append(key)
            continue
        _put(out, new, value, source, arch)
    if unmapped:
        layout = "MMAction2 (backbone./cls_head.)" if mmaction else "the original release's (modeling_finetune.py)"
        err = unmapped_error(source, arch, unmapped)
        raise ConversionError(f"{err} (read as {layout} layout)")
    return out


__all__ = ["ARCHS", "from_huggingface", "from_mmaction2"]
