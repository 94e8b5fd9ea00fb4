"""Channel roles: which channels of a recording feed the EEG, EOG and EMG blocks, chosen by name.

A mapping is ``{"eeg": [name, name], "eog": [name, name], "emg": [name]}``. Names come from the user
(``eeg=[...]``), from a preset, or are found by trying every preset against the file's channel names.
"""
from __future__ import annotations

import logging
import re

from .constants import N_CHANNELS, ROLES
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
        "eeg": [("EEG C3-A2", "C3-A2", "C3-M2", "EEG C3-M2", "EEG C3-CLE", "EEG C3-LER", "C3"),
                ("EEG C4-A1", "C4-A1", "C4-M1", "EEG C4-M1", "EEG C4-CLE", "EEG C4-LER", "C4")],
        "eog": [("EOG E1-M2", "E1-M2", "EOG LOC-A2", "LOC-A2", "EOG Left Horiz", "E1", "EOG left"),
                ("EOG E2-M1", "E2-M1", "EOG ROC-A1", "ROC-A1", "EOG Right Horiz", "E2", "EOG right")],
        "emg": [("EMG chin", "Chin1-Chin2", "EMG Chin1", "EMG Chin", "Chin EMG", "EMG chin1-chin2", "EMG submental")],
    },
    "sleep-edf": {
        "eeg": [("EEG Fpz-Cz", "Fpz-Cz"), ("EEG Pz-Oz", "Pz-Oz")],
        "eog": [("EOG horizontal", "horizontal")],
        "emg": [("EMG submental", "submental")],
    },
}


def normalise(name: str) -> str:
    return re.sub(r"\s+", "", name).replace(":", "-").upper()


def map_channels(available: list[str], eeg: list[str] | None = None, eog: list[str] | None = None,
                 emg: list[str] | None = None, preset: str | None = None) -> dict[str, list[str]]:
    """Choose the channels of each role among ``available`` names.

    Explicit lists win; roles left out come from ``preset``, or from the first preset that fits when
    ``preset`` is None. A role may get fewer channels than the network wants (see :func:`fill_rows`).

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
            continue
        for name in [preset] if preset else list(PRESETS):
            found = _match(PRESETS[name][role], by_norm)
            if found:
                mapping[role] = found
                break
        else:
            raise ChannelError(_missing_message(f"no {role.upper()} channel found"
                                                + (f" with preset {preset!r}" if preset else ""), available))
    logger.info("channels: %s", "; ".join(f"{r.upper()} {', '.join(v)}" for r, v in mapping.items()))
    return mapping


def _match(slots: list[tuple[str, ...]], by_norm: dict[str, str]) -> list[str]:
    found = []
    for slot in slots:
        hit = next((by_norm[normalise(n)] for n in slot if normalise(n) in by_norm), None)
        if hit is not None and hit not in found:
            found.append(hit)
    return found


def fitting_presets(available: list[str]) -> list[str]:
    """Presets that find at least one channel of every role among ``available``."""
    by_norm = {normalise(ch): ch for ch in available}
    return [name for name, roles in PRESETS.items() if all(_match(slots, by_norm) for slots in roles.values())]


def _missing_message(what: str, available: list[str]) -> str:
    fits = fitting_presets(available)
    return (f"{what}. The file has: {available}. Presets that fit: {fits or 'none'}. "
            "Name the channels yourself, e.g. --eeg C3-M2,C4-M1 --eog E1-M2,E2-M1 --emg Chin1-Chin2 "
            "(Python: eeg=[...], eog=[...], emg=[...]).")


def fill_rows(mapping: dict[str, list[str]], n_channels: dict[str, int] = N_CHANNELS) -> list[str]:
    """The channel name feeding each network row, EEG, EOG, EMG in order.

    A role with fewer channels than the network wants repeats its last channel (e.g. Sleep-EDF's single
    horizontal EOG feeds both EOG rows); extra channels beyond the network's are an error.
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
