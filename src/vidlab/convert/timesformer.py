"""TimeSformer checkpoints: the original release (PySlowFast-style ``.pyth``) and Hugging Face folders.

vidlab's :class:`~vidlab.models.timesformer.TimeSformer` uses the original
release's parameter names without its wrapper's ``model.`` prefix, so:

* ``pyslowfast`` (``facebookresearch/TimeSformer``, built on PySlowFast's
  trainer): a ``.pyth`` holds ``model_state`` (unwrapped by
  :func:`vidlab.convert.sources.read_checkpoint`) with keys
  ``model.patch_embed.proj.*``, ``model.cls_token``, ``model.pos_embed``,
  ``model.time_embed``, ``model.blocks.N.{temporal_norm1, temporal_attn.qkv,
  temporal_attn.proj, temporal_fc, norm1, attn.qkv, attn.proj, norm2,
  mlp.fc1, mlp.fc2}.*``, ``model.norm.*``, ``model.head.*``. The prefix is
  removed (a state dict already without it, as the original's own
  ``load_state_dict`` helper leaves it, is taken too); nothing else changes.
* ``huggingface`` (``TimesformerForVideoClassification``): renamed key by key
  (table :data:`HF_RULES`): ``timesformer.embeddings.{patch_embeddings.projection,
  cls_token, position_embeddings, time_embeddings}``,
  ``timesformer.encoder.layer.N.{temporal_layernorm, temporal_attention.attention.qkv,
  temporal_attention.output.dense, temporal_dense, layernorm_before,
  attention.attention.qkv, attention.output.dense, layernorm_after,
  intermediate.dense, output.dense}``, ``timesformer.layernorm``,
  ``classifier``. A ``TimesformerModel`` folder (no classifier) maps too but
  has no head to load, so the strict load names ``head.*`` as missing.

Every key is mapped or named in a :class:`ConversionError`; tensors keep their
values and shapes. Checkpoints of the ``space_only`` / ``joint_space_time``
ablations (no temporal attention) are refused with a sentence. What a state
dict cannot tell (the Hugging Face config's ``num_attention_heads``,
``hidden_act``, ``layer_norm_eps``) is vidlab's: 64-channel heads, GELU, 1e-6,
as in every published TimeSformer. The model's ``kwargs_for_state`` reads the
clip, crop and widths off the mapped tensors, so ``convert`` builds a model
of the checkpoint's shape (recorded in ``model_kwargs``).
"""

from __future__ import annotations

import re

from vidlab.convert.registry import ConversionError, StateDict, register, unmapped_error

ARCHS = ("timesformer_base_8x32",)

# (Hugging Face pattern, vidlab replacement), matched against the whole key.
HF_RULES = [
    (r"timesformer\.embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"timesformer\.embeddings\.cls_token", "cls_token"),
    (r"timesformer\.embeddings\.position_embeddings", "pos_embed"),
    (r"timesformer\.embeddings\.time_embeddings", "time_embed"),
    (r"timesformer\.encoder\.layer\.(\d+)\.temporal_layernorm\.(weight|bias)", r"blocks.\1.temporal_norm1.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.temporal_attention\.attention\.qkv\.(weight|bias)",
     r"blocks.\1.temporal_attn.qkv.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.temporal_attention\.output\.dense\.(weight|bias)",
     r"blocks.\1.temporal_attn.proj.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.temporal_dense\.(weight|bias)", r"blocks.\1.temporal_fc.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.attention\.attention\.qkv\.(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"timesformer\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"timesformer\.layernorm\.(weight|bias)", r"norm.\1"),
    (r"classifier\.(weight|bias)", r"head.\1"),
]
_HF_COMPILED = [(re.compile(p), r) for p, r in HF_RULES]

# vidlab's own names (= the original's without ``model.``), to check a pyslowfast state dict.
_VIDLAB_KEY = re.compile(
    r"(patch_embed\.proj\.(weight|bias)|cls_token|pos_embed|time_embed|(norm|head)\.(weight|bias)"
    r"|blocks\.\d+\.(temporal_norm1|temporal_attn\.qkv|temporal_attn\.proj|temporal_fc|norm1|attn\.qkv"
    r"|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias))")


def _check_divided(out: StateDict, source: str, arch: str) -> None:
    if not out:
        raise ConversionError(f"{source} -> {arch}: the state dict is empty")
    if any(k.startswith("blocks.") for k in out) and not any(".temporal_attn." in k for k in out):
        raise ConversionError(f"{source} -> {arch}: the checkpoint has no temporal attention (a space_only or "
                              f"joint_space_time TimeSformer); vidlab builds divided space-time attention only")


def hf_name(key: str) -> str | None:
    """vidlab's name for a Hugging Face ``TimesformerForVideoClassification`` key (None: no rule)."""
    for pattern, repl in _HF_COMPILED:
        if pattern.fullmatch(key):
            return pattern.sub(repl, key)
    return None


@register("huggingface", *ARCHS)
def from_huggingface(state: StateDict, arch: str) -> StateDict:
    """Hugging Face ``TimesformerForVideoClassification`` keys -> vidlab's (see the module docstring)."""
    out: StateDict = {}
    unmapped = []
    for key, value in state.items():
        new = hf_name(key)
        if new is None:
            unmapped.append(key)
        elif new in out:
            raise ConversionError(f"huggingface -> {arch}: two keys map to {new!r}")
        else:
            out[new] = value
    if unmapped:
        if all(k.startswith("model.") for k in state):
            raise ConversionError(f"huggingface -> {arch}: the keys start with 'model.': an original TimeSformer "
                                  f"release checkpoint (use --from pyslowfast)")
        raise unmapped_error("huggingface", arch, sorted(unmapped))
    _check_divided(out, "huggingface", arch)
    return out


@register("pyslowfast", *ARCHS)
def from_original(state: StateDict, arch: str) -> StateDict:
    """The original release's ``model.``-prefixed keys (``model_state`` of its ``.pyth``) -> vidlab's."""
    prefixed = [k for k in state if k.startswith("model.")]
    if prefixed and len(prefixed) != len(state):
        others = sorted(k for k in state if not k.startswith("model."))
        raise unmapped_error("pyslowfast", arch, others)
    out = {k[len("model."):] if prefixed else k: v for k, v in state.items()}
    unknown = sorted(k for k in out if not _VIDLAB_KEY.fullmatch(k))
    if unknown:
        if any(k.startswith("timesformer.") for k in state):
            raise ConversionError(f"pyslowfast -> {arch}: the keys start with 'timesformer.': a Hugging Face "
                                  f"checkpoint (use --from huggingface)")
        raise unmapped_error("pyslowfast", arch, [("model." + k) if prefixed else k for k in unknown])
    _check_divided(out, "pyslowfast", arch)
    return out
