"""Label maps: class index -> class name.

:func:`read_label_map` reads the formats the action-recognition ecosystems
ship, and always returns a plain ``list[str]`` whose position ``i`` is the
name of class ``i`` (0-based, what a classifier's logits are indexed by).
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["read_label_map"]

# "<id><sep><name>": sep is ":", ",", a tab or spaces. An optional letter prefix
# shared by all ids is allowed (Charades: "c000 Holding some clothes").
_ID_LINE = re.compile(r"^(?P<prefix>[A-Za-z]{0,3})(?P<id>\d+)\s*(?:[:,\t]|\s)\s*(?P<name>\S.*?)\s*$")
_KINDS = ("auto", "names", "ids", "json", "pbtxt")


def read_label_map(
    path: str | os.PathLike,
    *,
    kind: str = "auto",
    base: int | None = None,
    missing: str = "",
) -> list[str]:
    """Read a label map into ``names`` with ``names[i]`` the name of class ``i``.

    Accepted formats (``kind="auto"`` tells them apart):

    - **one name per line** (``kind="names"``): line ``k`` (counting non-blank,
      non-``#`` lines from 0) is class ``k``. Kinetics ``label_map_k400.txt``,
      SSv2 / HMDB51 MMAction2 label maps, SlowFast ``ava.names``.
    - **id and name per line** (``kind="ids"``): ``id name``, ``id: name``,
      ``id,name`` (a CSV header such as ``id,name`` is skipped; quoted CSV names
      may contain commas) or ``id<TAB>name``; the ids may carry one shared
      letter prefix (Charades ``c000 ...``). UCF101 ``classInd.txt``, MMAction2's
      AVA ``label_map.txt``, SlowFast's ``kinetics_400_labels.csv``.
      A file is read this way when *every* line has an id; if its first line
      has one and a later line does not, that line is reported as malformed
      (pass ``kind="names"`` if such names are meant literally).
    - **JSON** (``kind="json"``): a list of names, a dict ``name -> id`` (ids as
      ints or digit strings, e.g. the SSv2 ``labels.json``) or ``id -> name``.
    - **pbtxt** (``kind="pbtxt"``): ``item { name: "..." id: N }`` blocks (AVA's
      ``ava_action_list_v2.1.pbtxt``; ``display_name`` wins over ``name``,
      ``label_id`` is accepted for ``id``).

    Ids are kept as given and the list is filled by id, not by line order:
    with ``base=None`` the ids are 0-based when the smallest one is 0 and
    1-based otherwise, and id ``k`` lands at index ``k - base`` -- so UCF101's
    ``1 ApplyEyeMakeup`` is class 0 and AVA's sparse 1-based ids keep their
    places (index ``id - 1``, as in SlowFast's ``ava.names``). Ids missing in
    between are filled with ``missing`` (``""``). Pass ``base=0`` or ``base=1``
    to fix the convention.

    Raises ``ValueError`` naming the file and the line for malformed input
    (a line without a name, duplicate ids, an empty line inside a one-name-per-
    line file, bad JSON, ...), and ``FileNotFoundError`` when the file is missing.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown label map kind {kind!r}; choose one of {', '.join(_KINDS)}")
    if base not in (None, 0, 1):
        raise ValueError(f"base must be None, 0 or 1, got {base!r}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    lines = text.splitlines()
    stripped = text.lstrip()
    if kind == "auto":
        if path.suffix.lower() == ".json" or stripped[:1] in ("{", "["):
            kind = "json"
        elif path.suffix.lower() == ".pbtxt" or re.match(r"^item\s*\{", stripped):
            kind = "pbtxt"
    if kind == "json":
        pairs = _json_pairs(path, text)
    elif kind == "pbtxt":
        pairs = _pbtxt_pairs(path, lines)
    else:
        pairs = _text_pairs(path, lines, kind)
    if pairs is None:  # plain names
        return _names(path, lines)
    return _fill(path, pairs, base, missing)


# ----------------------------------------------------------------------------------
def _err(path: Path, lineno: int | None, msg: str) -> ValueError:
    where = f"{path}:{lineno}" if lineno else str(path)
    return ValueError(f"{where}: {msg}")


def _content(lines: list[str]) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank, non-comment lines."""
    out = []
    for no, raw in enumerate(lines, 1):
        s = raw.strip()
        if s and not s.startswith("#"):
            out.append((no, s))
    return out


def _names(path: Path, lines: list[str]) -> list[str]:
    content = _content(lines)
    if not content:
        raise _err(path, None, "no labels found (empty label map)")
    last = content[-1][0]
    for no, raw in enumerate(lines, 1):
        if no > last:
            break
        if not raw.strip():
            raise _err(path, no, "empty line inside a one-name-per-line label map "
                                 "(it would shift every index after it)")
    return [s for _, s in content]


def _split_id_line(s: str) -> tuple[str, int, str] | None:
    m = _ID_LINE.match(s)
    if not m:
        return None
    name = m.group("name")
    if s[len(m.group("prefix")) + len(m.group("id")):].lstrip().startswith(",") and name.startswith('"'):
        # quoted CSV field: let the csv module undo the quoting
        row = next(csv.reader([s]))
        if len(row) >= 2:
            name = ",".join(row[1:]).strip()
    return m.group("prefix"), int(m.group("id")), name


def _is_header(s: str) -> bool:
    fields = [f.strip().strip('"').lower() for f in re.split(r"[,\t;]", s)]
    has_id = any("id" in f or "index" in f for f in fields)
    has_name = any("name" in f or "label" in f or "class" in f for f in fields)
    return len(fields) >= 2 and has_id and has_name


def _text_pairs(path: Path, lines: list[str], kind: str) -> list[tuple[int, int, str]] | None:
    """[(line, id, name)] for an id-per-line file; None when it is one name per line."""
    if kind == "names":
        return None
    content = _content(lines)
    if not content:
        raise _err(path, None, "no labels found (empty label map)")
    reversed_cols = False
    if _is_header(content[0][1]):
        fields = [f.strip().strip('"').lower() for f in re.split(r"[,\t;]", content[0][1])]
        reversed_cols = "name" in fields[0] or "label" in fields[0] or "class" in fields[0]
        content = content[1:]
        if not content:
            raise _err(path, None, "no labels found (only a header)")
        kind = "ids"
    if reversed_cols:
        return _name_id_rows(path, content)
    parsed = [(no, _split_id_line(s)) for no, s in content]
    if kind == "auto":
        if parsed[0][1] is None:
            return None  # first line has no id: one name per line
    pairs: list[tuple[int, int, str]] = []
    prefix = None
    for no, p in parsed:
        if p is None:
            raise _err(path, no, f"expected '<id> <name>' (as on line {content[0][0]}), got {_show(lines[no - 1])}; "
                                  "pass kind='names' if the file has one name per line")
        pre, ident, name = p
        if prefix is None:
            prefix = pre
        elif pre != prefix:
            raise _err(path, no, f"id prefix {pre!r} differs from {prefix!r} on the lines before")
        pairs.append((no, ident, name))
    return pairs


def _name_id_rows(path: Path, content: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    pairs = []
    for no, s in content:
        row = next(csv.reader([s]))
        if len(row) < 2 or not row[-1].strip().isdigit() or not ",".join(row[:-1]).strip():
            raise _err(path, no, f"expected 'name,id', got {_show(s)}")
        pairs.append((no, int(row[-1]), ",".join(row[:-1]).strip()))
    return pairs


def _json_pairs(path: Path, text: str) -> list[tuple[int, int, str]] | None:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as e:
        raise _err(path, e.lineno, f"invalid JSON ({e.msg}, column {e.colno})") from None
    if isinstance(data, list):
        if not data:
            raise _err(path, None, "no labels found (empty JSON list)")
        for i, name in enumerate(data):
            if not isinstance(name, str) or not name.strip():
                raise _err(path, None, f"JSON list item {i} is not a non-empty string: {name!r}")
        return [(0, i, name.strip()) for i, name in enumerate(data)]
    if not isinstance(data, dict) or not data:
        raise _err(path, None, "JSON label map must be a non-empty list or object")

    def as_id(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, int):
            return v
        if isinstance(v, str) and v.strip().isdigit():
            return int(v.strip())
        return None

    keys_are_ids = all(as_id(k) is not None for k in data)
    values_are_ids = all(as_id(v) is not None for v in data.values())
    pairs = []
    if keys_are_ids and all(isinstance(v, str) for v in data.values()):
        for k, v in data.items():
            if not v.strip():
                raise _err(path, None, f"JSON entry {k!r} has an empty name")
            pairs.append((0, as_id(k), v.strip()))
    elif values_are_ids:
        for k, v in data.items():
            if not str(k).strip():
                raise _err(path, None, "JSON entry with an empty name")
            pairs.append((0, as_id(v), str(k).strip()))
    else:
        bad = next(((k, v) for k, v in data.items() if as_id(v) is None), next(iter(data.items())))
        raise _err(path, None, "JSON object must map names to integer ids or ids to names; "
                               f"bad entry {bad[0]!r}: {bad[1]!r}")
    return pairs  # type: ignore[return-value]


def _pbtxt_pairs(path: Path, lines: list[str]) -> list[tuple[int, int, str]]:
    pairs = []
    item: dict[str, Any] | None = None
    start = 0
    field = re.compile(r'^(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$')
    for no, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if re.match(r"^item\s*\{$", s):
            if item is not None:
                raise _err(path, no, "'item {' inside another item (missing '}')")
            item, start = {}, no
            continue
        if s == "}":
            if item is None:
                raise _err(path, no, "'}' without 'item {'")
            ident = item.get("id", item.get("label_id"))
            name = item.get("display_name") or item.get("name")
            if ident is None or not str(ident).isdigit():
                raise _err(path, start, "item without an integer 'id'")
            if not name:
                raise _err(path, start, "item without a 'name'")
            pairs.append((start, int(ident), name))
            item = None
            continue
        m = field.match(s)
        if item is None or not m:
            raise _err(path, no, f"unexpected pbtxt line {_show(s)}")
        item[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    if item is not None:
        raise _err(path, start, "unterminated item (missing '}')")
    if not pairs:
        raise _err(path, None, "no labels found (no 'item { ... }' blocks)")
    return pairs


def _fill(path: Path, pairs: list[tuple[int, int, str]], base: int | None, missing: str) -> list[str]:
    seen: dict[int, int] = {}
    for no, ident, name in pairs:
        if not name:
            raise _err(path, no or None, f"id {ident} has an empty name")
        if ident in seen:
            first = f"line {seen[ident]}" if seen[ident] else "an earlier entry"
            raise _err(path, no or None, f"duplicate id {ident} (already used on {first})")
        seen[ident] = no
    ids = [i for _, i, _ in pairs]
    if base is None:
        base = 0 if min(ids) == 0 else 1
    if min(ids) < base:
        no = next(n for n, i, _ in pairs if i < base)
        raise _err(path, no or None, f"id {min(ids)} is below the first id {base} of a {base}-based label map")
    names = [missing] * (max(ids) - base + 1)
    for _, ident, name in pairs:
        names[ident - base] = name
    return names


def _show(s: str, limit: int = 60) -> str:
    s = s.strip()
    return repr(s if len(s) <= limit else s[: limit - 3] + "...")
