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


def test_model_table_lists_every_architecture_with_its_params_and_sources():
    """The cheap columns of the generated model table (GFLOPs take a minute: `scripts/readme_tables.py
    --models` rewrites it all)."""
    import torch

    from vidlab import models
    from vidlab.apps.model_table import convertible_from

    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- model-table:start -->")[1].split("<!-- model-table:end -->")[0]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in table.splitlines() if ln.startswith("| `")]
    names = [r[0].split("`")[1] for r in rows]
    assert names == models.list_models(), "README.md's model table is stale: run scripts/readme_tables.py --models"
    for (name_cell, _, params, _, sources), name in zip(rows, names):
        with torch.device("meta"):
            n = sum(p.numel() for p in models.build(name).parameters())
        assert params == f"{n / 1e6:.2f} M", name
        assert sources == (", ".join(convertible_from(name)) or "-"), name
