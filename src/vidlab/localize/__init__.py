"""Temporal action localization: finding where actions start and end in untrimmed video.

:mod:`vidlab.localize.metrics` scores detections with the ActivityNet detection
evaluator's rules (``vidlab eval-tal``); it needs only numpy, so importing this
package pulls in nothing heavier.
"""
