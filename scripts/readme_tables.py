"""Rewrite the README's generated tables from the code (the config schema, the model registry).

    python scripts/readme_tables.py [--check] [--models]

``--check`` changes nothing and exits 1 when the README is stale (tests/test_readme.py
does the same check for the config table, and checks the model table's names, parameter
counts and converter sources). ``--models`` also rewrites the model table (`vidlab models`:
it counts every architecture's GFLOPs, about a minute).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def tables(models: bool = False) -> dict[str, str]:
    """Marker name -> the Markdown that goes between its start and end markers."""
    from vidlab.engine.config import schema_markdown

    out = {"config-table": schema_markdown()}
    if models:
        from vidlab.apps.model_table import markdown_table

        out["model-table"] = markdown_table() + "\n"
    return out


def render(text: str, models: bool = False) -> str:
    for name, body in tables(models).items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start/end --> markers")
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is stale, change nothing")
    ap.add_argument("--models", action="store_true", help="also the model table (counts GFLOPs: about a minute)")
    args = ap.parse_args()
    old = README.read_text()
    new = render(old, models=args.models)
    if args.check:
        sys.exit(0 if new == old else 1)
    if new != old:
        README.write_text(new)
        print("README.md updated")


if __name__ == "__main__":
    main()
