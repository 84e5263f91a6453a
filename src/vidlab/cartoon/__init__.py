"""CartoonGAN photo and video cartoonization.

- :mod:`~vidlab.cartoon.generator`: the generator exactly as the CartoonGAN-Test-Pytorch-Torch port
  (BGR ``[-1, 1]`` in/out, the port's parameter names), pre/post-processing, fixture weights.
- :mod:`~vidlab.cartoon.weights`: finding and strictly loading ``<Style>_net_G_float.pth``.
- :mod:`~vidlab.cartoon.tiling`: tiled inference with bounded memory.
- :mod:`~vidlab.cartoon.classic`: the non-neural ``classic`` style.
- :func:`cartoonize_image` / :func:`available_styles`: the simple API.
"""

from vidlab.cartoon.api import (
    available_styles,
    cartoonize_image,
    get_generator,
    run_generator,
)
from vidlab.cartoon.generator import (
    CartoonGenerator,
    fixture_state_dict,
    postprocess,
    preprocess,
)
from vidlab.cartoon.weights import STYLES, WeightsError, load_generator

__all__ = [
    "STYLES",
    "CartoonGenerator",
    "WeightsError",
    "available_styles",
    "cartoonize_image",
    "fixture_state_dict",
    "get_generator",
    "load_generator",
    "postprocess",
    "preprocess",
    "run_generator",
]
