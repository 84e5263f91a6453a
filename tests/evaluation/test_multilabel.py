"""mAP (Charades protocol), clip -> video aggregation, per-class tables."""

import itertools

import numpy as np
import pytest
import torch

from vidlab.evaluation.multilabel import (
    aggregate_clips,
    aggregate_views_multilabel,
    average_precision,
    hit_at_k,
    markdown_table,
    mean_average_precision,
    multi_hot,
    multilabel_report,
    per_class_average_precision,
    per_class_table,
    single_label_report,
)


def ap_by_definition(scores, targets):
    """Mean over positives of precision at the positive's rank (ties: every tied item counted)."""
    scores, targets = np.asarray(scores, float), np.asarray(targets, bool)
    precisions = []
    for i in np.nonzero(targets)[0]:
        above = scores >= scores[i]
        precisions.append(targets[above].sum() / above.sum())
    return float(np.mean(precisions)) if precisions else float("nan")


def test_average_precision_hand_values():
    # ranks of the positives 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0.1, 0.2, 0.3], [0, 0, 1]) == 1.0
    assert np.isnan(average_precision([0.1, 0.2], [0, 0]))
    # a tie between a positive and a negative at the top counts both: precision 1/2
    assert average_precision([0.5, 0.5, 0.1], [1, 0, 0]) == pytest.approx(0.5)


def test_average_precision_matches_the_definition_on_random_data():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 25))
        s = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.random(n)
        y = rng.random(n) < 0.4
        if not y.any():
            continue
        assert average_precision(s, y) == pytest.approx(ap_by_definition(s, y), abs=1e-12)


def test_map_skips_classes_without_positives():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.4], [0.6, 0.3, 0.2]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])  # class 2 has no positive video
    ap = per_class_average_precision(scores, targets)
    assert np.isnan(ap[2]) and ap[0] == 1.0 and ap[1] == 1.0
    assert mean_average_precision(scores, targets) == 1.0
    rep = multilabel_report(scores, [(0,), (1,), (0,)], ["a", "b", "c"])
    assert rep["mAP"] == 1.0 and rep["classes_with_positives"] == 2
    assert rep["per_class"][2] == {"class": "c", "ap": None, "positives": 0}
    assert rep["hit@1"] == 1.0


def test_multi_hot_and_hit_at_k():
    y = multi_hot([(0, 2), 1, (), -1], 3)
    assert y.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]
    s = np.array([[0.1, 0.9, 0.5], [0.9, 0.1, 0.0], [0.3, 0.3, 0.3], [0.3, 0.3, 0.3]])
    assert hit_at_k(s, y, 1) == 0.0 and hit_at_k(s, y, 2) == 1.0  # rows without positives are skipped


def test_clip_to_video_aggregation():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    vids = ["b", "a", "b", "c", "a", "b"]
    names, mean_sm = aggregate_clips(logits, vids, "mean_softmax")
    assert names == ["b", "a", "c"]
    torch.testing.assert_close(mean_sm[0], logits[[0, 2, 5]].softmax(-1).mean(0))
    _, max_sig = aggregate_clips(logits, vids, "max_sigmoid")
    torch.testing.assert_close(max_sig[1], logits[[1, 4]].sigmoid().amax(0))
    views = torch.randn(6, 3, 4)  # (clips, views, classes): views pooled the same way first
    _, v = aggregate_clips(views, vids, "max_sigmoid")
    torch.testing.assert_close(v[2], views[3].sigmoid().amax(0))
    torch.testing.assert_close(aggregate_views_multilabel(views), views.sigmoid().amax(1))
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_clips(logits, vids, "median")


def test_single_label_report_clip_and_video_levels():
    # video A (class 0): segments right, wrong, right; video B (class 1): one confident wrong segment
    logits = torch.tensor([[3.0, 0.0], [0.0, 1.0], [3.0, 0.0], [2.0, 0.0]])
    rep = single_label_report(logits, [0, 0, 0, 1], ["A", "A", "A", "B"], 2, ["x", "y"])
    assert rep["clip"]["top1"] == 0.5 and rep["video"]["top1"] == 0.5
    assert rep["video"]["confusion_matrix"] == [[1, 0], [1, 0]] and rep["video"]["videos"] == ["A", "B"]
    assert rep["per_class"] == [{"class": "x", "support": 1, "correct": 1, "accuracy": 1.0},
                                {"class": "y", "support": 1, "correct": 0, "accuracy": 0.0}]
    table = markdown_table(rep["per_class"])
    assert table.splitlines()[0] == "| class | support | correct | accuracy |" and "| y | 1 | 0 | 0.000 |" in table
    with pytest.raises(ValueError, match="clips of different labels"):
        single_label_report(logits, [0, 1, 0, 1], ["A", "A", "A", "B"], 2)


def test_charades_style_end_to_end():
    # 3 videos x 2 clips, 3 classes; max of sigmoids per video, then mAP over classes with positives
    clip_logits = torch.tensor([[4.0, -4, -4], [-4, -4, 3], [-4, 2, -4], [-4, -4, -4], [1, -4, -4], [-4, -4, -4]])
    names, video = aggregate_clips(clip_logits, ["v1", "v1", "v2", "v2", "v3", "v3"], "max_sigmoid")
    targets = multi_hot([(0, 2), (1,), (0,)], 3)
    ap = per_class_average_precision(video, targets)
    assert ap.tolist() == [1.0, 1.0, 1.0]
    assert per_class_table(multilabel_report(video, targets))[0]["positives"] == 2
    # permuting videos changes nothing
    for perm in itertools.permutations(range(3)):
        assert mean_average_precision(video[list(perm)], targets[list(perm)]) == 1.0
