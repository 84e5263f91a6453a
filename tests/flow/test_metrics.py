"""End-point error."""

import numpy as np
import pytest

from vidlab.evaluation.flow import evaluate_on_synthetic
from vidlab.flow import FarnebackFlow, end_point_error, epe_map


def test_epe_definition():
    gt = np.zeros((2, 2, 3, 3), np.float32)
    pred = gt.copy()
    pred[0, 0] = 3.0
    pred[0, 1] = 4.0  # error 5 at every pixel of field 0
    assert end_point_error(pred, gt) == pytest.approx(2.5)
    assert epe_map(pred, gt).shape == (2, 3, 3)
    mask = np.zeros((2, 3, 3), bool)
    mask[0] = True
    assert end_point_error(pred, gt, mask) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        epe_map(pred[:, :1], gt[:, :1])


def test_evaluate_on_synthetic_reports_regions_and_speed():
    res = evaluate_on_synthetic(FarnebackFlow(), classes=(0,), seeds=range(1), size=32, num_frames=4)
    assert res["fields"] == 3
    assert res["epe"] < 0.5 and res["epe_object"] < 0.5
    assert res["seconds_per_frame"] > 0
