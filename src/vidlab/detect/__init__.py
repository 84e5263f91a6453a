"""Spatio-temporal action detection: person boxes, training, inference, long-term feature banks.

* :mod:`vidlab.detect.boxes`: person boxes from AVA csv / JSON files;
* :mod:`vidlab.detect.person`: the torchvision Faster R-CNN person detector (offline weights);
* :mod:`vidlab.detect.train`: training and frame-mAP evaluation on AVA-format sets;
* :mod:`vidlab.detect.infer`: ``vidlab detect VIDEO``: action tubes, AVA csv, annotated video;
* :mod:`vidlab.detect.lfb`: memory-mapped long-term feature banks and the two-stage workflow.
"""

from vidlab.models import lfb as _lfb  # noqa: F401  (registers the detection/LFB architectures)
