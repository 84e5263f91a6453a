"""Rewrite the README's generated tables from the code (the config schema).

    python scripts/readme_tables.py [--check]

``--check`` changes nothing and exits 1 when the README is stale (tests/test_readme.py
does the same check).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def tables() -> dict[str, str]:
    """Marker name -> the Markdown that goes between its start and end markers."""
    from vidlab.engine.config import schema_markdown

    return {"config-table": schema_markdown()}


def render(text: str) -> str:
    for name, body in tables().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start/end --> markers")
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is stale, change nothing")
    args = ap.parse_args()
    old = README.read_text()
    new = render(old)
    if args.check:
        sys.exit(0 if new == old else 1)
    if new != old:
        README.write_text(new)
        print("README.md updated")


if __name__ == "__main__":
    main()
