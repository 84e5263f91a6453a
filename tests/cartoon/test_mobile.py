"""The mobile variant: equal outputs, one XNNPACK piece, ONNX and int8 exports."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlab.cartoon.mobile import MobileCartoonGenerator, reflect_pad


@pytest.mark.parametrize("p", [1, 3])
def test_reflect_pad_equals_torch(p):
    x = torch.randn(2, 3, 7, 9)
    assert torch.equal(reflect_pad(x, p), F.pad(x, (p, p, p, p), mode="reflect"))


@pytest.mark.parametrize("hw", [(48, 64), (45, 58)])
def test_mobile_equals_generator(gen, hw):
    mob = MobileCartoonGenerator(gen).eval()
    assert sum(p.numel() for p in mob.parameters()) == sum(p.numel() for p in gen.parameters())
    assert mob.conv04_1 is gen.conv04_1  # shared weights, not copies
    x = torch.rand(1, 3, *hw) * 2 - 1
    with torch.inference_mode():
        assert (mob(x) - gen(x)).abs().max() < 1e-4


def test_mobile_graph_has_no_reflect_pad_or_instance_norm(gen):
    ep = torch.export.export(MobileCartoonGenerator(gen).eval(), (torch.zeros(1, 3, 32, 32),))
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any("reflection" in t or "instance_norm" in t or "pad" in t for t in targets)
    assert "aten.conv_transpose2d.input" in targets


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime(gen, tmp_path):
    import onnx

    from vidlab.cartoon.export import export_onnx, onnx_session

    path = export_onnx(gen, tmp_path / "g.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "InstanceNormalization" not in ops and "Pad" not in ops
    sess = onnx_session(path)
    for hw in ((64, 64), (45, 58)):  # dynamic sizes, sides not multiples of 4
        x = torch.rand(1, 3, *hw) * 2 - 1
        out = sess.run(None, {"input": x.numpy()})[0]
        with torch.inference_mode():
            ref = gen(x)
        assert out.shape == tuple(ref.shape)
        assert abs(out - ref.numpy()).max() < 1e-4


@pytest.mark.slow
def test_executorch_xnnpack_fp32_and_int8(gen, tmp_path):
    from vidlab.cartoon.export import (
        executorch_method,
        export_executorch,
        psnr,
        quantize_int8,
    )

    x = torch.rand(1, 3, 48, 48) * 2 - 1
    with torch.inference_mode():
        ref = gen(x)
    pte = export_executorch(gen, tmp_path / "g.pte", x)
    out = executorch_method(pte).execute([x])[0]
    assert (out - ref).abs().max() < 1e-4
    q = quantize_int8(gen, [x])
    qpte = export_executorch(q, tmp_path / "q.pte", x)
    assert qpte.stat().st_size < 0.3 * pte.stat().st_size
    qout = executorch_method(qpte).execute([x])[0]
    assert psnr(qout, ref) > 25
