"""Channel roles: which channels of a recording feed the EEG, EOG and EMG blocks, chosen by name.

A mapping is ``{"eeg": [name, name], "eog": [name, name], "emg": [name]}``. Names come from the user
(``eeg=[...]``), from a preset, or are found by reading the file's channel names: EEG derivations are parsed
(``C3-A1``, ``EEG C3-A2``, ``C3:M2``, ``FP1-A1``, ``EEG Fpz-Cz``) and central ones preferred, as the published
models were trained on C3-A2 and C4-A1; EOG and EMG come from the first preset that has them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .constants import BANDPASS, N_CHANNELS, ROLES
from .errors import ChannelError

logger = logging.getLogger(__name__)

# Each slot lists the names one channel goes by; matching ignores case, spaces and ':' vs '-'.
PRESETS: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "shhs": {
        "eeg": [("EEG(sec)", "EEG2", "EEG 2", "EEG(SEC)"), ("EEG", "EEG1")],
        "eog": [("EOG(L)", "EOGL", "LOC"), ("EOG(R)", "EOGR", "ROC")],
        "emg": [("EMG", "EMG1", "Chin")],
    },
    "aasm": {  # AASM / MASS / HMC-style derivations, with the C3-A2 naming of older montages
        "eeg": [
            ("EEG C3-A2", "C3-A2", "C3-M2", "EEG C3-M2", "EEG C3-CLE", "EEG C3-LER", "C3"),
            ("EEG C4-A1", "C4-A1", "C4-M1", "EEG C4-M1", "EEG C4-CLE", "EEG C4-LER", "C4"),
        ],
        "eog": [
            (
                "EOG E1-M2",
                "E1-M2",
                "EOG LOC-A2",
                "LOC-A2",
                "EOG Left Horiz",
                "E1",
                "EOG left",
                "E1-A2",
                "LOC-M2",
                "LOC-A1",
                "EOG LOC",
                "LOC",
                "EOG L",
                "EOG-L",
                "L-EOG",
            ),
            (
                "EOG E2-M1",
                "E2-M1",
                "EOG ROC-A1",
                "ROC-A1",
                "EOG Right Horiz",
                "E2",
                "EOG right",
                "E2-A1",
                "ROC-M1",
                "ROC-A2",
                "EOG ROC",
                "ROC",
                "EOG R",
                "EOG-R",
                "R-EOG",
            ),
        ],
        "emg": [
            (
                "EMG chin",
                "Chin1-Chin2",
                "EMG Chin1",
                "EMG Chin",
                "Chin EMG",
                "EMG chin1-chin2",
                "EMG submental",
                "Chin",
                "EMG Chin1-Chin2",
                "Chin1-Chin3",
                "Chin2-Chin3",
                "EMG1-EMG2",
                "Chin1",
                "Submental",
            )
        ],
    },
    "sleep-edf": {
        "eeg": [("EEG Fpz-Cz", "Fpz-Cz"), ("EEG Pz-Oz", "Pz-Oz")],
        "eog": [("EOG horizontal", "horizontal")],
        "emg": [("EMG submental", "submental")],
    },
}


def normalise(name: str) -> str:
    """A channel name in the form presets compare: blanks removed, ``:`` as ``-``, upper case.

    Parameters
    ----------
    name : str
        A channel name, e.g. ``"EEG C3:M2"``.

    Returns
    -------
    str
        E.g. ``"EEGC3-M2"``.
    """
    return re.sub(r"\s+", "", name).replace(":", "-").upper()


_ELECTRODE = r"FP[12Z]|AF[3478Z]|F[1-8Z]|FC[1-6Z]|C[1-6Z]|CP[1-6Z]|P[1-8Z]|PO[3478Z]|O[12Z]|T[3-8]|TP[78]"
_DERIVATION = re.compile(rf"(?:EEG)?[-_]?(?P<active>{_ELECTRODE})(?:-(?P<ref>[A-Z0-9+]+)|(?P<joined>[AM][12]))?")
_EAR = re.compile(r"[AM][12]|A1\+A2|M1\+M2|CLE|LER|LE")  # mastoid or ear: single, linked, computed linked


def parse_derivation(name: str) -> tuple[str, str | None] | None:
    """``(active electrode, reference or None)`` of an EEG channel name, or None if it names no 10-20 site.

    Parameters
    ----------
    name : str
        A channel name.

    Returns
    -------
    tuple of (str, str or None), or None

    Examples
    --------
    >>> from stqs_core.channels import parse_derivation
    >>> parse_derivation("EEG C3-A2"), parse_derivation("C3"), parse_derivation("EEG Fpz-Cz")
    (('C3', 'A2'), ('C3', None), ('FPZ', 'CZ'))
    >>> parse_derivation("EEG(sec)") is None
    True
    """
    match = _DERIVATION.fullmatch(normalise(name))
    if match is None:
        return None
    return match["active"], match["ref"] or match["joined"]


def _central_rank(active: str, ref: str | None) -> tuple[int, int] | None:
    """Sort key of a central derivation (lower is better), None for other sites: C3/C4 against a mastoid or ear
    (contralateral first, as C3-A2 and C4-A1 of SHHS), then C3/C4 against anything else, then Cz and the rest."""
    if not active.startswith("C") or active.startswith("CP"):
        return None
    ear = ref is not None and _EAR.fullmatch(ref) is not None
    if active in ("C3", "C4"):
        contralateral = ear and ref[-1:] == ("2" if active == "C3" else "1")
        return (0 if ear else 1), (0 if contralateral else 1)
    return (2 if active == "CZ" else 3), (0 if ear else 1)


def choose_eeg(available: list[str]) -> tuple[list[str], str] | None:
    """The EEG channels for the two network rows among ``available``, and why; None without a central derivation.

    Two central sites C3 and C4: the best derivation of each (C3 first, the SHHS order). One central site only
    (e.g. ``C3-A1`` beside ``FP1-A1`` and ``O1-A1``): that derivation for both rows, since on a real clinical PSG
    feeding the one central EEG to both rows beat pairing it with a frontal or occipital channel (Cohen's kappa
    0.19 against 0.09 and 0.12 with the published ``oversampling_cnn``, issue 14).

    Parameters
    ----------
    available : list of str
        The recording's channel names.

    Returns
    -------
    tuple of (list of str, str), or None
        The two channel names and a sentence saying why they were chosen.
    """
    parsed = {name: parse_derivation(name) for name in available}
    central = sorted((rank, name) for name, p in parsed.items() if p and (rank := _central_rank(*p)) is not None)
    if not central:
        return None
    best = {}
    for _, name in central:
        best.setdefault(parsed[name][0], name)
    others = [name for name, p in parsed.items() if p and _central_rank(*p) is None]
    if "C3" in best and "C4" in best:
        return [best["C3"], best["C4"]], "the central pair C3 and C4, as the published models were trained on"
    chosen = central[0][1]
    why = f"the {'only' if len(central) == 1 else 'best'} central derivation, for both rows"
    if others:
        why += (
            f", not paired with {', '.join(others)}: with one central EEG, feeding it to both rows scored better "
            "than pairing it with a frontal or occipital channel on a clinical PSG (kappa 0.19 vs 0.09/0.12)"
        )
    return [chosen, chosen], why


def map_channels(
    available: list[str],
    eeg: list[str] | None = None,
    eog: list[str] | None = None,
    emg: list[str] | None = None,
    preset: str | None = None,
) -> dict[str, list[str]]:
    """Choose the channels of each role among ``available`` names.

    Explicit lists win; roles left out come from ``preset``, or from the first preset that fits when
    ``preset`` is None. A role may get fewer channels than the network wants (see :func:`fill_rows`).

    Parameters
    ----------
    available : list of str
        The recording's channel names.
    eeg, eog, emg : list of str or None
        Channel names per role; None to find them with a preset.
    preset : str or None
        ``"shhs"``, ``"sleep-edf"`` or ``"aasm"`` (see :data:`PRESETS`); None tries each.

    Returns
    -------
    dict of str to list of str
        ``{"eeg": [...], "eog": [...], "emg": [...]}``.

    Raises
    ------
    ChannelError
        When a named channel is absent or no preset finds a role's channels.
    """
    by_norm = {normalise(ch): ch for ch in available}
    explicit = {"eeg": eeg, "eog": eog, "emg": emg}
    if preset is not None and preset not in PRESETS:
        raise ChannelError(f"unknown preset {preset!r}; presets: {sorted(PRESETS)}")
    mapping: dict[str, list[str]] = {}
    for role in ROLES:
        if explicit[role]:
            missing = [n for n in explicit[role] if normalise(n) not in by_norm]
            if missing:
                raise ChannelError(_missing_message(f"{role.upper()} channel(s) {missing} not in the file", available))
            mapping[role] = [by_norm[normalise(n)] for n in explicit[role]]
            why = "as given"
        elif role == "eeg" and preset in (None, "aasm") and (central := choose_eeg(available)) is not None:
            mapping[role], why = central
        else:
            for name in [preset] if preset else list(PRESETS):
                found = _match(PRESETS[name][role], by_norm)
                if found:
                    mapping[role], why = found, f"preset {name}"
                    break
            else:
                raise ChannelError(
                    _missing_message(
                        f"no {role.upper()} channel found" + (f" with preset {preset!r}" if preset else ""), available
                    )
                )
        logger.info("%s rows = %s; %s", role.upper(), ", ".join(mapping[role]), why)
    return mapping


def _match(slots: list[tuple[str, ...]], by_norm: dict[str, str]) -> list[str]:
    found = []
    for slot in slots:
        hit = next((by_norm[normalise(n)] for n in slot if normalise(n) in by_norm), None)
        if hit is not None and hit not in found:
            found.append(hit)
    return found


def fitting_presets(available: list[str]) -> list[str]:
    """Presets that find at least one channel of every role among ``available``.

    Parameters
    ----------
    available : list of str
        The recording's channel names.

    Returns
    -------
    list of str
        Preset names.
    """
    by_norm = {normalise(ch): ch for ch in available}
    return [name for name, roles in PRESETS.items() if all(_match(slots, by_norm) for slots in roles.values())]


def _missing_message(what: str, available: list[str]) -> str:
    fits = fitting_presets(available)
    return (
        f"{what}. The file has: {available}. Presets that fit: {fits or 'none'}. "
        "Name the channels yourself, e.g. --eeg C3-M2,C4-M1 --eog E1-M2,E2-M1 --emg Chin1-Chin2 "
        "(Python: eeg=[...], eog=[...], emg=[...])."
    )


def fill_rows(mapping: dict[str, list[str]], n_channels: dict[str, int] = N_CHANNELS) -> list[str]:
    """The channel name feeding each network row, EEG, EOG, EMG in order.

    A role with fewer channels than the network wants repeats its last channel (e.g. Sleep-EDF's single
    horizontal EOG feeds both EOG rows); extra channels beyond the network's are an error.

    Parameters
    ----------
    mapping : dict of str to list of str
        Channels per role, as :func:`map_channels` returns.
    n_channels : dict of str to int
        Network rows per role.

    Returns
    -------
    list of str
        One name per row (5 for the published network).

    Raises
    ------
    ChannelError
        When a role has more channels than its rows.
    """
    rows = []
    for role in ROLES:
        names, want = mapping[role], n_channels[role]
        if len(names) > want:
            raise ChannelError(f"{role.upper()} takes {want} channel(s), got {len(names)}: {names}")
        if len(names) < want:
            logger.warning("%s has %d channel(s) for %d rows: repeating %s", role.upper(), len(names), want, names[-1])
        rows += names + [names[-1]] * (want - len(names))
    return rows


def edf_lowpass(path: str | Path) -> dict[str, float]:
    """Per-channel low-pass cut-offs that an EDF header's prefiltering field records (``"HP:0.3Hz LP:35Hz"``).

    Parameters
    ----------
    path : str or Path
        An EDF file.

    Returns
    -------
    dict of str to float
        Channel name to low-pass cut-off in Hz; channels without one are left out, and so is any file edfio
        cannot read (BDF, non-conforming headers).
    """
    from edfio import read_edf

    try:
        signals = read_edf(path, lazy_load_data=True).signals
    except Exception as err:  # edfio is stricter than MNE and fails in many ways on odd headers: skip this check
        logger.debug("no prefiltering read from %s: %s", path, err)
        return {}
    found = {}
    for signal in signals:
        match = re.search(r"LP:\s*([0-9]+(?:[.,][0-9]+)?)", signal.prefiltering, re.IGNORECASE)
        if match:
            found[signal.label] = float(match[1].replace(",", "."))
    return found


def check_bands(rows: list[str], sfreq: float, lowpass: dict[str, float] | None = None) -> list[str]:
    """Warn where a modality's pass band (:data:`~stqs_core.constants.BANDPASS`) cannot be in the file.

    That is, where it lies above the Nyquist frequency ``sfreq / 2`` or above a channel's recorded low-pass.

    Parameters
    ----------
    rows : list of str
        The channel names feeding the network rows (EEG, EEG, EOG, EOG, EMG).
    sfreq : float
        Sampling rate in Hz.
    lowpass : dict of str to float or None
        Channel names to low-pass cut-offs in Hz (see :func:`edf_lowpass`).

    Returns
    -------
    list of str
        The warnings logged.
    """
    warnings = []
    nyquist = sfreq / 2
    cut = [
        f"{role.upper()} {low:g}-{high:g} Hz loses {(high - max(nyquist, low)) / (high - low):.0%}"
        for role, (low, high) in BANDPASS.items()
        if nyquist < high
    ]
    if cut:
        warnings.append(
            f"a {sfreq:g} Hz recording holds nothing above {nyquist:g} Hz: of the bands the models read, "
            f"{', '.join(cut)}"
        )
    roles = [r for r in ROLES for _ in range(N_CHANNELS[r])]
    for role in ROLES:
        low, high = BANDPASS[role]
        for name in dict.fromkeys(n for n, r in zip(rows, roles) if r == role):
            cutoff = (lowpass or {}).get(name)
            if cutoff is not None and cutoff < min(high, nyquist):
                warnings.append(
                    f"{role.upper()} {name}: low-pass filtered at {cutoff:g} Hz when recorded (EDF "
                    f"prefiltering), so the {low:g}-{high:g} Hz band the models read is "
                    + ("empty" if cutoff <= low else f"missing above {cutoff:g} Hz")
                )
    for text in warnings:
        logger.warning(text)
    return warnings
