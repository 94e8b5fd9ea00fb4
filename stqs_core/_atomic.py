"""Write files safely: a crash leaves the old file or nothing, never half a file, and never overwrites an input.

A write goes to a temporary ``.<name>.<random>.part<suffix>`` beside the target, renamed over it when complete.
The writer holds an advisory lock on its temporary file while it writes; temporary files left by a killed run
(older than this process and not locked by a live writer) are removed the next time the same output is written.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; stale files are then judged by age alone
    fcntl = None

logger = logging.getLogger(__name__)

_STARTED = time.time()
"""Temporary files newer than this may belong to a writer running now; they are never cleaned."""


def file_keys(path: str | Path) -> list:
    """Keys under which a path names a file: same key, same file (by path, symbolic or hard link).

    Parameters
    ----------
    path : str | Path
        Any path; it need not exist.

    Returns
    -------
    list
        Its resolved path and, if it exists, its ``(device, inode)``.
    """
    path = Path(path)
    keys: list = [path.resolve()]
    try:
        st = path.stat()
        keys.append((st.st_dev, st.st_ino))
    except OSError:
        pass
    return keys


def json_safe(value):
    """``value`` with a non-finite float (NaN, inf) replaced by None, since JSON has neither."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Raises
    ------
    OutputError
        When ``path`` is a folder or its folder cannot be created or written to, or the write fails with an
        ``OSError`` (disk full, permission denied).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the folder {path.parent} for {path.name} ({err.strerror or err}); "
            "choose an output in a folder you can write to"
        ) from err
    clean_stale(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    except OSError as err:
        raise OutputError(
            f"cannot write in {path.parent} ({err.strerror or err}); choose an output in a folder you can write to"
        ) from err
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until closed: tells cleaners the file is live
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the permissions of a normal new file
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({err.strerror or err}); nothing was written") from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def clean_stale(path: str | Path) -> list[Path]:
    """Remove temporary files of ``path`` left by killed runs; returns the removed files.

    Only this module's own pattern (``.<name>.*.part<suffix>``) is touched, and only files older than this
    process that no live writer holds locked.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*.part{_glob_escape(path.suffix)}"):
        try:
            if tmp.stat().st_mtime >= _STARTED or not tmp.is_file() or tmp.is_symlink():
                continue
            with open(tmp, "rb") as f:
                if fcntl is not None:
                    try:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # a live writer holds it
                tmp.unlink()
        except OSError:
            continue
        removed.append(tmp)
        logger.info("removed %s, left by an interrupted run", tmp)
    return removed


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def check_output(
    out: str | Path, inputs: Iterable[str | Path | None], option: str = "--out", folder: bool = False
) -> Path:
    """Refuse an output path that is (or would replace) one of ``inputs``, or lies in a missing folder.

    Parameters
    ----------
    out : str | Path
        The file the command will write.
    inputs : iterable of str | Path | None
        Files the command reads (None entries are ignored; files that do not exist cannot collide).
    option : str
        The command-line option naming ``out``, for the message.
    folder : bool
        ``out`` is an output folder, created here when missing, rather than a file.

    Raises
    ------
    OutputError
        When ``out`` is the same file as an input (same path, or a link to it); a file output that is a folder
        or whose folder does not exist; a folder output that is a file.
    """
    out = Path(out)
    out_keys = set(file_keys(out))
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        if out_keys & set(file_keys(source)):
            raise OutputError(
                f"{option} {out} is the input file {source}: writing it would destroy the input; "
                f"choose another {option} path"
            )
    if folder:
        if out.exists() and not out.is_dir():
            raise OutputError(f"{option} {out} is a file, not a folder; choose a folder path")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(
                f"cannot create the folder {option} {out} ({err.strerror or err}); choose a folder you can write to"
            ) from err
        return out
    if out.is_dir():
        raise OutputError(f"{option} {out} is a folder; give a file name, e.g. {out / 'result'}{out.suffix}")
    if not out.parent.is_dir():
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise OutputError(
            f"the folder of {option} {out} ({out.parent}) {what}; create it first "
            f"(mkdir -p {out.parent}) or choose another {option} path"
        )
    return out
