"""The base of every error vidlab raises for bad input.

The CLI prints these as one line on stderr and exits non-zero; anything else
reaching the top level is a bug and keeps its traceback.
"""


class VidlabError(Exception):
    """Bad input: a missing or corrupt file, a malformed config, an unknown name."""


class DataError(VidlabError, ValueError):
    """A dataset annotation or list file is malformed."""
