"""Models by name: the authors' published SHHS checkpoints, fetched on first use and verified, and the shipped ones.

Published checkpoints (Pathak et al. 2021, trained on SHHS-1) come from the authors' public repository
(:data:`PUBLISHED_URL`) through :mod:`pooch`, are checked against the SHA-256 pinned in :data:`PUBLISHED`, and are
kept in the user's cache folder. Two environment variables change where:

- ``STQS_MODELS_DIR``: the cache folder (default ``pooch.os_cache("stqs") / "models"``, e.g. ``~/.cache/stqs/models``);
- ``STQS_MODELS_URL``: the base URL to fetch from instead, e.g. a mirror (``https://...``), a local folder or a
  ``file://`` URL holding the same file names.

Shipped models are the ``trained_models/*.pt`` files of the package (:func:`stqs_core.resources.models_dir`),
named by their stem (``stqs-cnnlstm-sim``); they are trained on simulated nights only.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import ModelError
from .resources import models_dir

logger = logging.getLogger(__name__)

PUBLISHED_URL = "https://raw.githubusercontent.com/ShreyasiPathak/STQS/HEAD/trained_models/"
"""The ``trained_models/`` folder of github.com/ShreyasiPathak/STQS (``HEAD``: its default branch)."""

_PREFIX = "model2d_shhs1_4692_5213_allCh_"

PUBLISHED: dict[str, tuple[str, int]] = {
    "model2d_shhs1_4692_5213_allCh_cnn.tar": (
        "414e4d9589ae3357032a656df6c747ff99a85c537a9e68865ad9ecfa6062cbc6",
        214_866,
    ),
    "model2d_shhs1_4692_5213_allCh_cnnlstm_ReturnAllChunk_seq_info.tar": (
        "9cfb63d1aa7811136e3a0e7835951e300d779f595985b295b9774303d9f0e974",
        1_007_144,
    ),
    "model2d_shhs1_4692_5213_allCh_oversampling_cnn.tar": (
        "d428b114e42396a5aae787a417e8ba9c0fb294a72e3d4481e60da77f65a3e88b",
        214_866,
    ),
    "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info.tar": (
        "f9f42cd648d25531e3bf1c5b3db3d2a0676cb472f74e888959cc38d88a9502fc",
        1_007_144,
    ),
    "model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info_residual_con.tar": (
        "9a11217f9c78390b82614964a755970f42668f41195a7000b388152b42a92192",
        1_203_519,
    ),
    "model2d_shhs1_4692_5213_allCh_weightedloss1_cnn.tar": (
        "9473cf43b4ea3ff5179b33fd5a6881eb120e0263623bf98c525e7c0f272c6180",
        214_866,
    ),
    "model2d_shhs1_4692_5213_allCh_weightedloss1_cnnlstm_ReturnAllChunk_seq_info.tar": (
        "dcb0ecf8074cba727f7dc671c9048413145746a1fba6130c7aade53969dc7484",
        1_007_060,
    ),
    "model2d_shhs1_4692_5213_allCh_weightedloss2_cnn.tar": (
        "839abb3429a1a45894d73a536b910bff29a6feb8a3067b6bd6e9de5b85c70438",
        214_866,
    ),
    "model2d_shhs1_4692_5213_allCh_weightedloss2_cnnlstm_ReturnAllChunk_seq_info.tar": (
        "190962befb0ac54b46d8de80ea485dae71840ea871e466c77cebb11ec9e99ce9",
        1_007_060,
    ),
}
"""File name -> (SHA-256, bytes) of each published checkpoint (the authors' copies, as in ``../shared/reference``)."""

_SHHS_TRAINING = "SHHS-1 (4,692 training nights)"
_SHHS_CHANNELS = "EEG C3-A2, C4-A1; EOG L, R; EMG chin"


@dataclass(frozen=True)
class Entry:
    """One named model of the registry.

    Parameters
    ----------
    name : str
        The name to pass to :func:`~stqs_core.checkpoint.load_model` (e.g. ``"shhs-oversampling-cnn"``).
    kind : str
        ``"published"`` (fetched on first use) or ``"shipped"`` (in the package).
    file : str
        The checkpoint's file name.
    sha256 : str or None
        The published file's SHA-256, checked after download; None for shipped models.
    variant : str
        ``"cnn"``, ``"cnnlstm"`` or ``"cnnlstm-residual"``.
    trained_on : str
        The training data, in words.
    channels : str
        The input channels, in words.
    size : int
        File size in bytes.
    """

    name: str
    kind: str
    file: str
    sha256: str | None
    variant: str
    trained_on: str
    channels: str
    size: int


def _published_entry(file: str) -> Entry:
    """``model2d_shhs1_4692_5213_allCh_oversampling_cnnlstm_ReturnAllChunk_seq_info_residual_con.tar`` ->
    ``shhs-oversampling-cnnlstm-residual``."""
    stem = file.removeprefix(_PREFIX).removesuffix(".tar")
    stem = stem.replace("_ReturnAllChunk_seq_info", "").replace("_residual_con", "_residual")
    variant = "cnn" if stem.endswith("cnn") else "cnnlstm-residual" if stem.endswith("residual") else "cnnlstm"
    sha256, size = PUBLISHED[file]
    return Entry(
        f"shhs-{stem.replace('_', '-')}", "published", file, sha256, variant, _SHHS_TRAINING, _SHHS_CHANNELS, size
    )


@lru_cache(maxsize=32)
def _shipped_entry(path: Path, mtime_ns: int) -> Entry:
    """The entry of a shipped model file (read once per file version: ``mtime_ns`` is part of the cache key)."""
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    info = payload.get("info", {})
    training = str(info.get("model_card", {}).get("training_data", "?"))
    trained_on = "simulated nights" if "SIMULATED" in training else training
    channels = "; ".join(f"{role.upper()} {', '.join(names)}" for role, names in info.get("channels", {}).items())
    return Entry(
        path.stem, "shipped", path.name, None, payload["config"]["variant"], trained_on, channels, path.stat().st_size
    )


def entries() -> dict[str, Entry]:
    """Every named model, published first, by name.

    Returns
    -------
    dict of str to Entry
    """
    found = [_published_entry(file) for file in PUBLISHED]
    found += [_shipped_entry(path, path.stat().st_mtime_ns) for path in sorted(models_dir().glob("*.pt"))]
    return {entry.name: entry for entry in found}


def published_name(file: str) -> str | None:
    """The registry name of a published checkpoint's file name, or None.

    Parameters
    ----------
    file : str
        A file name such as ``model2d_shhs1_..._oversampling_cnn.tar``.

    Returns
    -------
    str or None
    """
    return _published_entry(file).name if file in PUBLISHED else None


def cache_dir() -> Path:
    """Where published checkpoints are kept: ``$STQS_MODELS_DIR``, else the user cache folder.

    Returns
    -------
    Path
    """
    import pooch

    return Path(os.environ.get("STQS_MODELS_DIR") or pooch.os_cache("stqs") / "models").expanduser()


def base_url() -> str:
    """Where published checkpoints are fetched from.

    Returns
    -------
    str
        ``$STQS_MODELS_URL`` (a URL or a local folder), else :data:`PUBLISHED_URL`; always ends in ``/``.
    """
    url = os.environ.get("STQS_MODELS_URL") or PUBLISHED_URL
    if "://" not in url:
        url = Path(url).expanduser().resolve().as_uri()
    return url.rstrip("/") + "/"


def _copy_local(url: str, output_file, pooch_obj, check_only: bool = False) -> bool | None:
    """A pooch downloader for ``file://`` URLs (a local mirror folder): copies the file."""
    source = Path(unquote(urlparse(url).path))
    if check_only:
        return source.is_file()
    shutil.copyfile(source, output_file)
    return None


def _path(entry: Entry) -> Path:
    return models_dir() / entry.file if entry.kind == "shipped" else cache_dir() / entry.file


def _is_cached(entry: Entry) -> bool:
    import pooch

    path = _path(entry)
    return path.is_file() and (entry.sha256 is None or pooch.file_hash(str(path)) == entry.sha256)


def list_models() -> list[dict]:
    """Every named model as a dict.

    Returns
    -------
    list of dict
        ``name, kind, file, sha256, variant, trained_on, channels, size`` (bytes), ``cached`` (a verified copy is on
        disk, always True for shipped models) and ``path`` (where it is or goes).
    """
    return [{**asdict(entry), "cached": _is_cached(entry), "path": str(_path(entry))} for entry in entries().values()]


def fetch(name: str) -> Path:
    """The local path of a model, downloading and verifying a published checkpoint on first use.

    Parameters
    ----------
    name : str
        A registry name (:func:`entries`).

    Returns
    -------
    Path

    Raises
    ------
    ModelError
        Unknown name; the download failed (offline, unreachable mirror: the message names the URL and the exact
        path to put the file at); the downloaded file's SHA-256 differs from the published one (the file is not
        kept).
    """
    known = entries()
    if name not in known:
        raise ModelError(
            f"unknown model name {name!r}; models: {', '.join(known)} (see `stqs models list`), "
            "or give a model file's path"
        )
    entry = known[name]
    path = _path(entry)
    if entry.kind == "shipped":
        return path
    import pooch

    url = base_url() + entry.file
    if path.is_file() and not _is_cached(entry):
        logger.warning("%s does not match the published SHA-256 of %s: fetching it again", path, name)
    downloader = _copy_local if url.startswith("file://") else pooch.HTTPDownloader(progressbar=True, timeout=30)
    try:
        fetched = Path(
            pooch.retrieve(url, f"sha256:{entry.sha256}", fname=entry.file, path=path.parent, downloader=downloader)
        )
    except ValueError as err:  # pooch's hash check: the download was deleted
        raise ModelError(
            f"{url} is not the published {entry.file}: its SHA-256 differs from {entry.sha256} "
            f"({err}); the file was not used. Check the mirror (STQS_MODELS_URL) or try again."
        ) from err
    except Exception as err:  # requests, OSError: offline, 404, unreachable mirror
        reason = f"{type(err).__name__}: {err}"
        raise ModelError(
            f"cannot fetch model {name!r} from {url} ({reason[:160]}). Offline? Put the file at {path} "
            f"(download it elsewhere from {PUBLISHED_URL}{entry.file}; the folder is $STQS_MODELS_DIR, else the "
            f"user cache), or set STQS_MODELS_URL to a mirror or a local folder holding {entry.file}; then "
            f"`stqs models fetch {name}` checks it."
        ) from err
    logger.info("model %s: %s", name, fetched)
    return fetched


def resolve(name_or_path: str | Path) -> Path:
    """A model file's path: the argument itself when it is an existing file, else the file of a registry name.

    Parameters
    ----------
    name_or_path : str or Path
        A model file, or a registry name (fetched if needed, see :func:`fetch`).

    Returns
    -------
    Path

    Raises
    ------
    ModelError
        Neither an existing file nor a known name (the message lists the names), or the fetch failed.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    text = str(name_or_path)
    known = entries()
    if text in known:
        return fetch(text)
    raise ModelError(
        f"no model file {text} and no model of that name. Names: {', '.join(known)} "
        "(`stqs models list` says which are cached)"
    )
