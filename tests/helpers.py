"""Small helpers shared by test modules (tests/ is on sys.path)."""

import math

import torch


def randomise_(model, seed=0):
    """Set every parameter and BN buffer of ``model`` to seeded, non-trivial values.

    Fan-in scaled weights and near-identity BN keep activations finite through
    a hundred layers, so equivalence tests compare meaningful numbers.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"):
                v.fill_(5)
            elif k.endswith("running_var"):
                v.copy_(0.5 + torch.rand(v.shape, generator=g))
            elif k.endswith("running_mean"):
                v.copy_(0.1 * torch.randn(v.shape, generator=g))
            elif v.ndim == 1 and k.endswith("weight"):
                v.copy_(1.0 + 0.1 * torch.randn(v.shape, generator=g))
            elif k.endswith("bias"):
                v.copy_(0.1 * torch.randn(v.shape, generator=g))
            else:
                v.copy_(torch.randn(v.shape, generator=g) / math.sqrt(math.prod(v.shape[1:])))
    return model


def run_cli(argv, capsys):
    """Run ``vidlab ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    from vidlab.apps.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
