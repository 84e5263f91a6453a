"""Fetching a hub entry's file once, checking it, and converting it once into a vidlab checkpoint.

Cache layout (``$VIDLAB_HOME``, default ``~/.cache/vidlab``)::

    hub/downloads/<published file name>       the file as published, checked (an entry's ``local_name``
                                              where two entries publish files of one name)
    hub/downloads/<repository>/<file>         a Hugging Face model folder's files (``fetch_folder``)
    hub/downloads/<name>.part (+ .part.json)  an interrupted transfer, resumed with an HTTP Range request
    hub/checkpoints/<entry name>.safetensors  the converted vidlab checkpoint (+ .json sidecar)
    hub/files.json                            sha256, size and URL of every checked file; for files
                                              without a published checksum, the digest of the first
                                              download, which later downloads must match
    *.lock                                    fcntl locks: concurrent processes download and convert once

Where a file comes from: its published URLs in order, or, when ``VIDLAB_HUB_MIRROR`` is set, only the
mirror: a folder holding the files under their published names, or a base URL under which they sit
(``$VIDLAB_HUB_MIRROR/<file name>``). ``vidlab hub download NAME --to DIR`` writes what such a folder
needs. Nothing touches the network at import time, nor when the checkpoint is already in the cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidlab.hub.table import HubEntry, HubError, get_entry, label_names, url_basename
from vidlab.models.checkpoint import fsync_dir

try:
    import fcntl
except ImportError:  # not POSIX: no inter-process lock (one process at a time)
    fcntl = None  # type: ignore[assignment]

ENV_HOME = "VIDLAB_HOME"
ENV_MIRROR = "VIDLAB_HUB_MIRROR"
ENV_TIMEOUT = "VIDLAB_HUB_TIMEOUT"
DEFAULT_HOME = "~/.cache/vidlab"
RETRIES = 4  # resumed attempts after a transfer breaks off
_CHUNK = 1 << 20


class ChecksumError(HubError):
    """A downloaded file is not the published one (its sha256 differs)."""


# ----------------------------------------------------------------------------------------- paths
def home() -> Path:
    """``$VIDLAB_HOME`` (default ``~/.cache/vidlab``)."""
    return Path(os.environ.get(ENV_HOME) or DEFAULT_HOME).expanduser()


def hub_dir() -> Path:
    return home() / "hub"


def downloads_dir() -> Path:
    """Where published files are kept as downloaded."""
    return hub_dir() / "downloads"


def checkpoint_path(entry: HubEntry) -> Path:
    """Where an entry's converted vidlab checkpoint is (or will be) cached."""
    return hub_dir() / "checkpoints" / f"{entry.name}.safetensors"


def records_path() -> Path:
    return hub_dir() / "files.json"


def is_cached(entry: HubEntry) -> bool:
    """Whether ``entry`` is ready offline (its checkpoint, or for a pipeline entry its file)."""
    if entry.kind == "classifier":
        return checkpoint_path(entry).exists()
    return (downloads_dir() / entry.filename).exists()


# ----------------------------------------------------------------------------------------- locks, records
@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``TARGET.lock``, held for the block (blocks until free)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a+b") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_records() -> dict[str, dict[str, Any]]:
    """``files.json``: published file name -> {sha256, size, url, check, recorded}."""
    try:
        doc = json.loads(records_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_record(filename: str, record: dict[str, Any]) -> None:
    path = records_path()
    with file_lock(path):
        doc = read_records()
        doc[filename] = record
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digest(entry: HubEntry, digest: str, where: str) -> str:
    """Refuse ``digest`` unless it is ``entry``'s published one; returns how it was checked."""
    if entry.sha256:
        want, how = entry.sha256.lower(), "published sha256"
        ok = digest == want
    elif entry.sha256_prefix:
        want, how = entry.sha256_prefix.lower(), "published sha256 prefix"
        ok = digest.startswith(want)
    else:
        first = read_records().get(entry.filename, {}).get("sha256")
        if first is None:
            return "first download"
        want, how = first, f"sha256 recorded at its first download ({records_path()})"
        ok = digest == want
    if not ok:
        raise ChecksumError(f"{where}: sha256 {digest[:16]}... does not match the {how} {want[:16]}...: the file "
                            f"is corrupt or not the published {entry.filename}; nothing was cached")
    return how


# ----------------------------------------------------------------------------------------- transfer
def _timeout() -> float:
    try:
        return float(os.environ.get(ENV_TIMEOUT) or 60.0)
    except ValueError:
        return 60.0


def _user_agent() -> str:
    from vidlab import __version__

    return f"vidlab/{__version__} (+urllib)"


def _bar(total: int | None, initial: int, desc: str, progress: bool | None):
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, initial=initial, desc=desc[:40], unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False, dynamic_ncols=True, disable=None if progress is None else not progress)


class _Unreachable(Exception):
    """The URL gave no file (refused, offline, HTTP error): try the next source, else report."""


def _validator_file(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _part_info(part: Path) -> dict[str, Any] | None:
    """What ``PART.json`` says of a partial file: the URL it came from and that response's validator."""
    try:
        doc = json.loads(_validator_file(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _total_of(resp: http.client.HTTPResponse, start: int) -> int | None:
    length = resp.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validator_file(part).unlink(missing_ok=True)


def http_download(url: str, part: Path, *, progress: bool | None = None) -> None:
    """Fetch ``url`` into ``part``, resuming what ``part`` already holds with a Range request (and
    ``If-Range``, so a file changed meanwhile is fetched whole); retried when a transfer breaks off.
    A partial file from another URL is started again."""
    info = _part_info(part)
    if info is not None and info.get("url") != url:
        _discard(part)
    breaks = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = (_part_info(part) or {}).get("validator")
            if validator:
                headers["If-Range"] = validator
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_timeout())
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # nothing left to send: the part may already be whole
                whole = (e.headers.get("Content-Range") or "").rpartition("/")[2]
                if whole.isdigit() and int(whole) == offset:
                    return
                _discard(part)
                continue
            raise _Unreachable(f"HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise _Unreachable(str(e.reason)) from None
        except (OSError, http.client.HTTPException) as e:
            raise _Unreachable(f"{type(e).__name__}: {e}") from None
        broken, received = False, 0
        total: int | None = None
        with resp:
            if resp.status == 206 and not (resp.headers.get("Content-Range") or "").startswith(f"bytes {offset}-"):
                _discard(part)  # a range that is not the one asked for: start again, whole
                broken = True
            else:
                resumed = offset > 0 and resp.status == 206
                received = offset if resumed else 0
                total = _total_of(resp, received)
                validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
                _validator_file(part).write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")
                with open(part, "ab" if resumed else "wb") as f, _bar(total, received, part.name, progress) as bar:
                    while True:
                        try:
                            chunk = resp.read(_CHUNK)
                        except (OSError, http.client.HTTPException):
                            broken = True  # cut off: the next round resumes from what was written
                            break
                        if not chunk:
                            break
                        f.write(chunk)  # a write error (disk full) is not retried
                        received += len(chunk)
                        bar.update(len(chunk))
        if not broken and (total is None or received == total):
            _validator_file(part).unlink(missing_ok=True)
            return
        breaks += 1
        if breaks > RETRIES:
            got = f" ({received} of {total} bytes)" if total else ""
            raise HubError(f"{url}: the transfer broke off {breaks} times{got}; the partial file {part} is kept "
                           "and the next attempt resumes it")


def _copy(src: Path, part: Path, progress: bool | None) -> None:
    size = src.stat().st_size
    with open(src, "rb") as fi, open(part, "wb") as fo, _bar(size, 0, src.name, progress) as bar:
        for chunk in iter(lambda: fi.read(_CHUNK), b""):
            fo.write(chunk)
            bar.update(len(chunk))


def _mirror() -> str | None:
    value = (os.environ.get(ENV_MIRROR) or "").strip()
    return value or None


def _is_url(value: str) -> bool:
    return value.split("://", 1)[0].lower() in ("http", "https", "ftp") and "://" in value


def direct_url(url: str) -> str:
    """The URL that serves the file itself: a Dropbox share link (``?dl=0``, a web page) as its direct
    download (``?dl=1``); anything else unchanged."""
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    if host in ("www.dropbox.com", "dropbox.com") and url.endswith("dl=0"):
        return url[:-1] + "1"
    return url


def _names(entry: HubEntry) -> list[str]:
    """The file names a mirror may hold the entry under (each URL's basename, first URL first; only its
    ``local_name`` when it has one: the published name is another entry's file too)."""
    if entry.local_name:
        return [entry.local_name]
    out: list[str] = []
    for url in entry.urls:
        name = url_basename(url)
        if name not in out:
            out.append(name)
    return out


def _where_to_put(entry: HubEntry) -> str:
    return (f"without internet, put {entry.filename} in {downloads_dir()} or in a folder named by ${ENV_MIRROR} "
            f"(`vidlab hub download {entry.name} --to DIR` writes it on a machine with internet)")


def _fetch_into(entry: HubEntry, part: Path, progress: bool | None) -> str:
    """Fill ``part`` from the mirror or the published URLs; returns where it came from."""
    mirror = _mirror()
    if mirror is not None and not _is_url(mirror):
        folder = Path(mirror.removeprefix("file://")).expanduser()
        for name in _names(entry):
            if (folder / name).is_file():
                _copy(folder / name, part, progress)
                return str(folder / name)
        raise HubError(f"{entry.name}: {entry.filename} is not in the mirror folder {folder} (${ENV_MIRROR}); put it "
                       f"there (`vidlab hub download {entry.name} --to {folder}` writes it on a machine with internet)")
    urls = [f"{mirror.rstrip('/')}/{name}" for name in _names(entry)] if mirror else [direct_url(u) for u in entry.urls]
    failures = []
    for url in urls:
        try:
            http_download(url, part, progress=progress)
            return url
        except _Unreachable as e:
            failures.append(f"{url}: {e}")
    more = f" (and {len(failures) - 1} more URL{'s' if len(failures) > 2 else ''} failed)" if len(failures) > 1 else ""
    if mirror:
        raise HubError(f"cannot download {entry.name} from the mirror ${ENV_MIRROR}: {failures[0]}{more}; put "
                       f"{entry.filename} under {mirror}")
    raise HubError(f"cannot download {entry.name}: {failures[0]}{more}; {_where_to_put(entry)}")


def _known_good(path: Path, record: dict[str, Any] | None) -> bool:
    """Whether the cache's ``path`` is the file ``record`` says was checked (same size and mtime)."""
    if not record or not path.exists():
        return False
    st = path.stat()
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns


def _record(entry: HubEntry, digest: str, origin: str, how: str, cached: Path | None, key: str | None = None) -> None:
    """Note a checked file in ``files.json`` (under ``key``, default the entry's file name); ``cached``:
    the cache's copy (its size and mtime are noted, so later calls need not hash it again)."""
    key = key or entry.filename
    record = dict(read_records().get(key) or {})
    record.update(sha256=digest, url=origin, check=how if how != "first download" else "recorded at first download")
    record.setdefault("recorded", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    if cached is not None:
        st = cached.stat()
        record.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    _write_record(key, record)


def fetch_file(entry: HubEntry, folder: Path | None = None, *, progress: bool | None = None) -> Path:
    """``entry``'s published file in ``folder`` (default: the cache's downloads), fetched and checked
    once; a checked copy in the cache is used instead of the network."""
    cache = downloads_dir()
    folder = Path(folder) if folder is not None else cache
    in_cache = folder.expanduser().resolve() == cache.resolve()
    target = folder / entry.filename
    with file_lock(target):
        records = read_records()
        if target.exists():
            if in_cache and _known_good(target, records.get(entry.filename)):
                return target
            digest = sha256_file(target)  # placed there by hand, or an earlier --to
            try:
                how = check_digest(entry, digest, str(target))
            except ChecksumError:
                if in_cache:  # the cache holds only checked files
                    target.unlink(missing_ok=True)
                raise
            _record(entry, digest, str(target), how, target if in_cache else None)
            return target
        part = target.with_name(target.name + ".part")
        cached = cache / entry.filename
        if not in_cache and _known_good(cached, records.get(entry.filename)):
            _copy(cached, part, progress)
            origin = str(records[entry.filename].get("url") or cached)
        else:
            origin = _fetch_into(entry, part, progress)
        digest = sha256_file(part)
        try:
            how = check_digest(entry, digest, f"{entry.filename} from {origin}")
        except ChecksumError:
            _discard(part)
            raise
        os.replace(part, target)
        fsync_dir(folder)
        if how == "first download":
            print(f"{entry.filename}: no published checksum; recorded its sha256 {digest} in {records_path()}",
                  file=sys.stderr, flush=True)
        _record(entry, digest, origin, how, target if in_cache else None)
        return target


def fetch_folder(entry: HubEntry, folder: Path | None = None, *, progress: bool | None = None) -> Path:
    """A Hugging Face entry's model folder (``entry.files``, each the first alternative the source or the
    mirror has) in ``folder`` (default: ``downloads/<repository name>`` in the cache). Each file is
    resumed like a single download and its sha256 recorded at first download (``files.json`` key
    ``<repository name>/<file>``); a file already there is checked against that record."""
    folder = Path(folder) if folder is not None else downloads_dir() / entry.filename
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".folder"):
        records = read_records()
        for alternatives in entry.files:
            if any((folder / name).is_file() and _folder_file_ok(entry, folder / name, records) for name in alternatives):
                continue
            _fetch_one_of(entry, alternatives, folder, progress)
    return folder


def _folder_key(entry: HubEntry, name: str) -> str:
    return f"{entry.filename}/{name}"


def _folder_file_ok(entry: HubEntry, path: Path, records: dict[str, dict[str, Any]]) -> bool:
    record = records.get(_folder_key(entry, path.name))
    if record is None:  # placed by hand (a mirror copy): checked from now on
        _record_folder_file(entry, path, str(path))
        return True
    if _known_good(path, record):
        return True
    digest = sha256_file(path)
    if digest != record.get("sha256"):
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{path}: sha256 {digest} is not the {record.get('sha256')} recorded at its first download; "
                            f"the file was removed, download it again")
    return True


def _record_folder_file(entry: HubEntry, path: Path, origin: str) -> None:
    _record(entry, sha256_file(path), origin, "first download", path, key=_folder_key(entry, path.name))


def _fetch_one_of(entry: HubEntry, alternatives: tuple[str, ...], folder: Path, progress: bool | None) -> None:
    mirror = _mirror()
    failures = []
    for name in alternatives:
        part = folder / (name + ".part")
        if mirror is not None and not _is_url(mirror):
            src = Path(mirror.removeprefix("file://")).expanduser() / entry.filename / name
            if not src.is_file():
                failures.append(f"{src}: not there")
                continue
            _copy(src, part, progress)
            origin = str(src)
        else:
            origin = f"{mirror.rstrip('/')}/{entry.filename}/{name}" if mirror else entry.file_url(name)
            try:
                http_download(origin, part, progress=progress)
            except _Unreachable as e:
                failures.append(f"{origin}: {e}")
                continue
        os.replace(part, folder / name)
        fsync_dir(folder)
        _record_folder_file(entry, folder / name, origin)
        return
    wanted = " or ".join(alternatives)
    raise HubError(f"cannot download {entry.name}: {wanted} ({'; '.join(failures)}); without internet, put the "
                   f"model folder's files in {folder} or in {entry.filename}/ under a folder named by ${ENV_MIRROR} "
                   f"(`vidlab hub download {entry.name} --to DIR` writes it on a machine with internet)")


# ----------------------------------------------------------------------------------------- public
def _as_entry(entry: HubEntry | str) -> HubEntry:
    return entry if isinstance(entry, HubEntry) else get_entry(entry)


def download(entry: HubEntry | str, to: str | os.PathLike | None = None, *, progress: bool | None = None) -> Path:
    """Make ``entry`` available offline and return its local path.

    ``to=None``: a classifier's converted vidlab checkpoint in the cache (downloaded, checked and
    converted the first time, read from the cache afterwards), a pipeline entry's file as published.
    ``to=DIR``: the published file itself in ``DIR``, under its published name (what a mirror folder
    holds). ``progress``: None shows a bar on a terminal only.
    """
    entry = _as_entry(entry)
    fetch = fetch_folder if entry.files else fetch_file
    if to is not None:  # a model folder lands in DIR/<repository name>, a file in DIR
        return fetch(entry, Path(to) / entry.filename if entry.files else Path(to), progress=progress)
    if entry.kind != "classifier":
        return fetch(entry, progress=progress)
    ck = checkpoint_path(entry)
    if ck.exists():
        return ck
    with file_lock(ck):
        if ck.exists():  # another process converted it meanwhile
            return ck
        raw = fetch(entry, progress=progress)
        from vidlab.convert.core import convert_checkpoint

        labels = label_names(entry.labels) if entry.labels else None
        print(f"converting {raw.name} ({entry.converter} -> {entry.arch}) into {ck}", file=sys.stderr, flush=True)
        # the entry's own preprocessing (fps, multi_label, ...) over the architecture's and the converter's
        path, _ = convert_checkpoint(str(entry.converter), entry.arch, raw, ck.with_suffix(""), labels=labels,
                                     num_classes=entry.num_classes, preprocessing=entry.preprocessing,
                                     meta={"hub_entry": entry.name})
        return path


def load_checkpoint_path(arch: str, weights: str | os.PathLike | None = "DEFAULT", *,
                         progress: bool | None = None) -> Path:
    """The local vidlab checkpoint for ``arch`` (a vidlab name or alias, or an entry name) with
    ``weights``: a tag (``"DEFAULT"``, ``"kinetics400"``...) fetched through the hub, or a path as given."""
    from vidlab.models.registry import is_weights_path

    if weights is not None and is_weights_path(weights):
        return Path(weights)
    entry = get_entry(arch, None if weights is None else str(weights))
    if entry.kind != "classifier":
        raise HubError(f"{entry.name} is a {entry.kind} file ({entry.notes or entry.arch}), not a classifier "
                       f"checkpoint; `vidlab hub download {entry.name}` fetches it")
    return download(entry, progress=progress)


__all__ = ["ChecksumError", "HubError", "checkpoint_path", "check_digest", "download", "downloads_dir", "fetch_file",
           "fetch_folder",
           "file_lock", "home", "http_download", "hub_dir", "is_cached", "load_checkpoint_path", "read_records",
           "records_path", "sha256_file"]
