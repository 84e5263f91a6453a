"""The local web app (``vidlab serve``): upload a video to see its actions over
time, upload a photo to get its cartoon. Needs the ``serve`` extra (FastAPI,
uvicorn, python-multipart)."""

from vidlab.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(*args, **kwargs):
    """See :func:`vidlab.serve.app.create_app` (imported lazily: FastAPI is optional)."""
    from vidlab.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)
