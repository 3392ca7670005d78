"""What a run writes, and nothing else: the output folder's manifest, and the previous run's outputs set aside.

A notebook writes only inside its ``output_dir``, and only through this package's writers
(:func:`gan_helpers.images.save_pngs` and ``save_samples``, :func:`gan_helpers.results.write_results`,
:func:`gan_helpers.plots.save_figure`, :func:`gan_helpers.selftrain.write_lists`,
:func:`gan_helpers.dedup.write_manifest`, ...). Each of them calls :func:`record` **before** it writes a
file: the file's path, relative to ``output_dir``, is appended to ``output_dir/MANIFEST.jsonl`` (one JSON
line per file, flushed at once), so the manifest of a run that was stopped half-way still lists every file
it had begun to write. JSON keeps any file name whole, line breaks included.

When a run starts (:func:`start`, called by :func:`gan_helpers.notebook.setup`, before any work):

1. every file in ``output_dir`` must be listed in the previous run's manifest; a file that no recorded run
   wrote (the user's own, or one from a run made before runs kept a manifest) is refused with one
   :class:`OutputFolderError` naming it, and nothing is written, moved or deleted;
2. the files that the older ``previous/`` folder's manifest lists are deleted (nothing else in it);
3. the previous run's files (by its manifest, never by a pattern) move into ``output_dir/previous/`` under
   the same relative paths, with that manifest, and the folders they leave empty are removed;
4. a new manifest is started.

So a fresh run owns its folder: old and new outputs never mix, a stopped run leaves only its own partial
files beside its ``INCOMPLETE`` marker, and the run before it is kept one step back in ``previous/``.
``output_dir/cache/`` (the per-task result cache) is not a run output: it is never moved, listed or
removed. Hidden files (``.DS_Store``, ``.ipynb_checkpoints``) are left alone too.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

MANIFEST = "MANIFEST.jsonl"
PREVIOUS = "previous"
CACHE = "cache"  # the per-task result cache (gan_helpers.runtime): not a run output


class OutputFolderError(ValueError):
    """An output folder a run may not use, or a write that would leave it or overwrite a file it did not write."""


def read_manifest(path: str | os.PathLike) -> list[str]:
    """The relative paths a manifest lists, in the order written, each once. A torn last line (a run
    stopped while writing it) is skipped."""
    seen: dict[str, None] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                seen[entry["path"]] = None
    return list(seen)


def _safe_relative(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts and parts[0] not in (PREVIOUS, CACHE)


def _files(root: Path, skip_top: tuple[str, ...] = (PREVIOUS, CACHE)) -> list[str]:
    """Every file and link below ``root`` (relative paths), hidden ones and ``skip_top`` folders excluded;
    links to folders are listed, not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        top = here == root
        keep = []
        for d in dirnames:
            if d.startswith(".") or (top and d in skip_top):
                continue
            if (here / d).is_symlink():
                found.append(str((here / d).relative_to(root)))
            else:
                keep.append(d)
        dirnames[:] = keep
        found += [str((here / f).relative_to(root)) for f in filenames
                  if not f.startswith(".") and not (top and f == MANIFEST)]
    return sorted(found)


def _prune(root: Path, rel: str) -> None:
    """Remove the folders between ``root/rel`` and ``root`` that are now empty (never ``root`` itself)."""
    parent = (root / rel).parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


class Manifest:
    """The record of one run's files in ``out``: :meth:`record` before writing each one."""

    def __init__(self, out: Path, smoke: bool = False):
        self.out = out
        self.real = Path(os.path.realpath(out))
        self.path = out / MANIFEST
        self.smoke = smoke
        self.files: set[str] = set()

    def _relative(self, path: str | os.PathLike) -> str | None:
        """``path`` relative to the output folder (the final name not followed if it is a link), or None
        for a path outside it. A path that reaches outside through a linked folder is an error."""
        p = Path(os.path.abspath(path))
        inside_by_name = p == Path(os.path.abspath(self.out)) or Path(os.path.abspath(self.out)) in p.parents
        real = Path(os.path.realpath(p.parent)) / p.name
        if real == self.real or self.real in real.parents:
            return str(real.relative_to(self.real))
        if inside_by_name:
            raise OutputFolderError(f"{str(path)!r} would be written outside the output folder {str(self.out)!r} "
                                    f"(through a link to {str(real.parent)!r}); nothing was written")
        return None

    def record(self, path: str | os.PathLike) -> Path:
        rel = self._relative(path)
        if rel is None or rel == "." or Path(rel).parts[0] in (CACHE, PREVIOUS) or rel == MANIFEST:
            return Path(path)
        if rel not in self.files:
            if os.path.lexists(self.real / rel):
                raise OutputFolderError(f"{str(path)!r} exists and was not written by this run: it is not "
                                        f"overwritten; move it out of {str(self.out)!r} or choose another output_dir")
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": rel}) + "\n")
            self.files.add(rel)
        return Path(path)


_active: Manifest | None = None


def active() -> Manifest | None:
    """The manifest of the run in progress in this process (set by :func:`start`), or None."""
    return _active


def record(*paths: str | os.PathLike) -> None:
    """Record that the run in progress is about to write ``paths`` (call it before writing). Paths outside
    the run's output folder, and calls outside a run (scripts, tests), are left alone; a path inside it that
    exists but was not written by this run raises :class:`OutputFolderError` instead of being overwritten."""
    if _active is not None:
        for p in paths:
            _active.record(p)


def start(out: str | os.PathLike, smoke: bool = False) -> Manifest:
    """Begin a run in ``out`` (see the module): check the folder, set the previous run's outputs aside into
    ``out/previous/``, start a new manifest and make it the active one. Every check comes before any change."""
    global _active
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{str(out)!r} is a file, not a folder")
    old: list[str] = []
    prev = out / PREVIOUS
    moves: list[str] = []
    drop: list[str] = []
    if out.is_dir():
        manifest = out / MANIFEST
        old = read_manifest(manifest) if manifest.is_file() else []
        listed = set(old)
        foreign = [f for f in _files(out) if f not in listed]
        if foreign:
            shown = ", ".join(repr(f) for f in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"the folder holds {len(foreign)} file{'s' if len(foreign) > 1 else ''} that no recorded run wrote "
                f"({shown}): a run removes only what its own earlier run listed in {MANIFEST}, so it cannot share the "
                f"folder with them. Choose another output_dir, or move those files out (if they are from a run made "
                f"before runs kept {MANIFEST}, delete them). Nothing was written, moved or deleted.")
        if prev.is_symlink() or (prev.exists() and not prev.is_dir()):
            raise OutputFolderError(f"{str(prev)!r} is not a folder this run can set outputs aside in "
                                    f"(a link or a file); move it away")
        moves = [r for r in old if _safe_relative(r) and os.path.lexists(out / r) and
                 ((out / r).is_symlink() or not (out / r).is_dir())]
        if moves:
            drop = read_manifest(prev / MANIFEST) if (prev / MANIFEST).is_file() else []
            dropped = set(drop)
            clash = [r for r in moves if os.path.lexists(prev / r) and r not in dropped]
            if clash:
                raise OutputFolderError(f"{str(prev / clash[0])!r} is in the way of the previous run's outputs and was not "
                                        f"set aside by a run; move it out of {str(prev)!r}. Nothing was moved.")
    out.mkdir(parents=True, exist_ok=True)
    if moves:  # 2. empty the older previous/ of its own files, 3. move the last run's files into it
        for r in drop:
            if _safe_relative(r) and os.path.lexists(prev / r) and ((prev / r).is_symlink() or not (prev / r).is_dir()):
                (prev / r).unlink()
                _prune(prev, r)
        (prev / MANIFEST).unlink(missing_ok=True)
        for r in moves:
            (prev / r).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / r, prev / r)
            _prune(out, r)
        with open(prev / MANIFEST, "w", encoding="utf-8") as f:
            f.write(json.dumps({"manifest": "the outputs of the run before the current one", "set_aside":
                                datetime.now(timezone.utc).isoformat(timespec="seconds")}) + "\n")
            f.writelines(json.dumps({"path": r}) + "\n" for r in moves)
    (out / MANIFEST).unlink(missing_ok=True)  # what it listed has moved (or no longer exists)
    m = Manifest(out, smoke)
    with open(m.path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"manifest": "every file this run wrote in this folder, recorded before writing",
                            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "scale": "smoke" if smoke else "full"}) + "\n")
    _active = m
    return m


def stop() -> None:
    """End recording in this process (the next :func:`start` begins a new run)."""
    global _active
    _active = None
