import numpy as np
import pytest
import torch

from vidlab.evaluation import metrics as M


def test_topk_hand_computed():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = [1, 1, 2, 2]
    assert M.topk_accuracy(scores, labels, 1) == 0.5
    assert M.topk_accuracy(scores, labels, 2) == 0.75
    assert M.topk_accuracy(scores, labels, 5) == 1.0  # k larger than classes


def test_confusion_and_mean_class():
    cm = M.confusion_matrix([0, 0, 0, 1, 2, 2], [0, 1, 0, 1, 0, 2], 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    acc = M.per_class_accuracy(cm)
    assert acc[:3].tolist() == pytest.approx([2 / 3, 1.0, 0.5]) and np.isnan(acc[3])
    assert M.mean_class_accuracy(cm) == pytest.approx((2 / 3 + 1 + 0.5) / 3)


def test_view_aggregation_averages_probabilities():
    logits = torch.tensor([[[0.0, 2.0], [2.0, 0.0], [0.0, 10.0]]])
    p = M.aggregate_views(logits)
    expected = torch.tensor([[0.0, 2.0], [2.0, 0.0], [0.0, 10.0]]).softmax(-1).mean(0, keepdim=True)
    torch.testing.assert_close(p, expected)
    torch.testing.assert_close(M.aggregate_views(logits, "mean_logits"), torch.tensor([[2 / 3, 4.0]]))
    with pytest.raises(ValueError):
        M.aggregate_views(logits[0])


def test_report_clip_and_video_level():
    views = torch.tensor([[[3.0, 0.0], [0.0, 1.0]], [[0.0, 3.0], [0.0, 3.0]]])
    rep = M.classification_report(M.aggregate_views(views), [0, 1], 2, view_scores=views)
    assert rep["top1"] == 1.0 and rep["clip_top1"] == 0.75 and rep["num_views"] == 2
    assert rep["confusion_matrix"] == [[1, 0], [0, 1]]
