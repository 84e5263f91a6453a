"""The README's generated tables are what the code generates today."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_table_is_generated_from_the_schema():
    from vidlab.engine.config import schema

    text = (ROOT / "README.md").read_text()
    assert _script().render(text) == text, "README.md is stale: run python scripts/readme_tables.py"
    table = text.split("<!-- config-table:start -->")[1].split("<!-- config-table:end -->")[0]
    rows = [ln for ln in table.splitlines() if ln.startswith("| `")]
    assert [ln.split("`")[1] for ln in rows] == [r.key for r in schema()]
    batch = next(ln for ln in rows if ln.startswith("| `data.batch_size`"))
    assert "| `8` | >= 1 |" in batch
