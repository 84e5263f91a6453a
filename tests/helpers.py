"""Small helpers shared by test modules (tests/ is on sys.path)."""

from vidlab.compress.bench import randomise_  # noqa: F401  (re-exported for the tests)


def run_cli(argv, capsys):
    """Run ``vidlab ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    from vidlab.apps.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
