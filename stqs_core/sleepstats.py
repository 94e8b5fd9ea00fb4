"""Sleep statistics of a hypnogram (the first table of every sleep paper), and their agreement between scorers.

Definitions follow the AASM manual's summary statistics (Berry et al., *The AASM Manual for the Scoring of Sleep and
Associated Events*, v2.6, 2020, "Summary statistics"; Iber et al. 2007), with the hypnogram taken as the time in
bed (lights out to lights on: the whole recording). Where the manual is silent the choice is written down below.
"""

from __future__ import annotations

import numpy as np

from .constants import EPOCH_SEC, STAGES, UNSCORED
from .errors import HypnogramError

PERSISTENT_SLEEP_MIN = 10.0
"""Run of uninterrupted sleep (min) that defines latency to persistent sleep (the convention of insomnia trials)."""


def sleep_statistics(stages, epoch_sec: float = EPOCH_SEC, persistent_min: float = PERSISTENT_SLEEP_MIN) -> dict:
    """Standard sleep statistics of one night.

    Parameters
    ----------
    stages : array-like of int, shape (n_epochs,)
        Stage codes 0-4 (W, N1, N2, N3, REM), -1 for unscored, one per epoch from lights out to lights on.
    epoch_sec : float
        Epoch length (s).
    persistent_min : float
        Length (min) of the run of consecutive sleep epochs that defines ``LPS``.

    Returns
    -------
    dict
        Durations and latencies in minutes, ``SE``/``SME``/``%stage`` in percent, counts as ints:

        - ``TIB`` time in bed (AASM total recording time): all epochs, unscored included.
        - ``SPT`` sleep period: first to last epoch of any sleep stage, inclusive.
        - ``TST`` total sleep time: N1 + N2 + N3 + REM epochs (unscored epochs are not sleep).
        - ``SE`` sleep efficiency, 100 TST / TIB; ``SME`` sleep maintenance efficiency, 100 TST / SPT.
        - ``SOL`` sleep onset latency (AASM sleep latency): lights out to the first epoch of any sleep.
        - ``LPS`` latency to persistent sleep: lights out to the first of ``persistent_min`` minutes of
          consecutive sleep epochs (an unscored epoch interrupts the run).
        - ``WASO`` wake after sleep onset: wake epochs within the sleep period.
        - ``REM_latency`` (AASM R latency): sleep onset to the first REM epoch.
        - ``W``, ``N1``, ``N2``, ``N3``, ``REM`` minutes in each stage (W over the whole night); ``%N1`` ... ``%REM``
          percent of TST; ``unscored`` minutes unscored.
        - ``n_awakenings``: runs of wake inside the sleep period; ``n_transitions``: changes of stage between
          neighbouring scored epochs inside the sleep period; ``SFI`` sleep fragmentation index: transitions from a
          sleep stage straight into wake per hour of TST.

        Without any sleep, TST is 0 and the latencies, WASO, SME and SFI are NaN (undefined, not zero).
    """
    stages = np.asarray(stages)
    if stages.ndim != 1 or len(stages) == 0:
        raise HypnogramError(f"stages must be a non-empty 1-D array of stage codes, got shape {stages.shape}")
    if not np.isin(stages, (UNSCORED, *range(len(STAGES)))).all():
        raise HypnogramError(
            "stages must hold codes 0-4 (W, N1, N2, N3, REM) or -1 (unscored); "
            "convert names with stqs_core.hypnogram.stage_code"
        )
    per_min = 60.0 / epoch_sec
    sleep = stages > 0
    scored = stages != UNSCORED
    out: dict = {"TIB": len(stages) / per_min}
    for code, name in enumerate(STAGES):
        out[name] = float(np.sum(stages == code)) / per_min
    out["unscored"] = float(np.sum(~scored)) / per_min
    tst = float(sleep.sum()) / per_min
    out["TST"] = tst
    out["SE"] = 100 * tst / out["TIB"]
    nan = float("nan")
    if not sleep.any():
        out.update(
            SPT=0.0,
            SME=nan,
            SOL=nan,
            LPS=nan,
            WASO=nan,
            REM_latency=nan,
            n_awakenings=0,
            n_transitions=0,
            SFI=nan,
            **{f"%{s}": nan for s in STAGES[1:]},
        )
        return out
    first, last = np.flatnonzero(sleep)[[0, -1]]
    period = stages[first : last + 1]
    out["SPT"] = len(period) / per_min
    out["SME"] = 100 * tst / out["SPT"]
    out["SOL"] = first / per_min
    out["LPS"] = _first_run(sleep, int(np.ceil(persistent_min * per_min - 1e-9))) / per_min
    out["WASO"] = float(np.sum(period == 0)) / per_min
    rem = np.flatnonzero(stages == STAGES.index("REM"))
    out["REM_latency"] = (rem[0] - first) / per_min if len(rem) else nan
    for name in STAGES[1:]:
        out[f"%{name}"] = 100 * out[name] / tst
    wake = period == 0
    out["n_awakenings"] = int(np.sum(wake[1:] & ~wake[:-1]))  # the period starts with sleep
    both = (period[1:] != UNSCORED) & (period[:-1] != UNSCORED)
    out["n_transitions"] = int(np.sum(both & (period[1:] != period[:-1])))
    out["SFI"] = float(np.sum(sleep[:-1] & (stages[1:] == 0))) / (tst / 60)
    return {key: value if isinstance(value, int) else float(value) for key, value in out.items()}


def _first_run(mask: np.ndarray, length: int) -> float:
    """Index of the first run of at least ``length`` True values in ``mask``, or NaN."""
    padded = np.r_[False, mask, False].astype(np.int8)
    starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
    long_enough = starts[(ends - starts) >= max(length, 1)]
    return float(long_enough[0]) if len(long_enough) else float("nan")


def statistics_agreement(reference: list[dict], other: list[dict], keys: list[str] | None = None):
    """Bland-Altman agreement of sleep statistics between two scorings of the same nights.

    Parameters
    ----------
    reference, other : list of dict
        :func:`sleep_statistics` of the same nights, in the same order (e.g. the expert's and the model's).
    keys : list of str | None
        Statistics to compare (default: the durations, efficiencies and latencies).

    Returns
    -------
    pandas.DataFrame
        One row per statistic: ``reference_mean``, ``other_mean``, ``bias`` (mean of other - reference),
        ``sd`` of the differences, limits of agreement ``loa_low``/``loa_high`` (bias -/+ 1.96 sd), ``n`` nights
        where both are defined, and ``mae``.
    """
    import pandas as pd

    if len(reference) != len(other) or not reference:
        raise HypnogramError(
            f"need the same non-zero number of nights in both scorings, got {len(reference)} and {len(other)}"
        )
    keys = keys or ["TST", "SE", "SOL", "LPS", "WASO", "REM_latency", "N1", "N2", "N3", "REM", "n_awakenings"]
    rows = []
    for key in keys:
        ref = np.array([r[key] for r in reference], dtype=float)
        oth = np.array([o[key] for o in other], dtype=float)
        ok = np.isfinite(ref) & np.isfinite(oth)
        diff = oth[ok] - ref[ok]
        sd = float(diff.std(ddof=1)) if ok.sum() > 1 else float("nan")
        bias = float(diff.mean()) if ok.any() else float("nan")
        rows.append(
            {
                "statistic": key,
                "reference_mean": float(ref[ok].mean()) if ok.any() else float("nan"),
                "other_mean": float(oth[ok].mean()) if ok.any() else float("nan"),
                "bias": bias,
                "sd": sd,
                "loa_low": bias - 1.96 * sd,
                "loa_high": bias + 1.96 * sd,
                "n": int(ok.sum()),
                "mae": float(np.abs(diff).mean()) if ok.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)
