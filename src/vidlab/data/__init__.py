"""Clip sampling, video transforms, datasets and the synthetic action set."""
