"""vidlab: human action recognition in video.

Clip classification and spatio-temporal detection models, data pipelines that
follow PySlowFast/MMAction2 semantics, a training engine, evaluation, reports,
compression and export.
"""

__version__ = "0.1.0"
