"""Channel roles: which channels of a recording feed the EEG, EOG and EMG blocks, chosen by name.

A mapping is ``{"eeg": [name, name], "eog": [name, name], "emg": [name]}``, with only the roles found when some
are optional (a model may lack a modality block). Names come from the user (``eeg=[...]``), from a preset, or are
found by reading the file's channel names: EEG derivations are parsed (``C3-A1``, ``EEG C3-A2``, ``C3:M2``,
``FP1-A1``, ``EEG Fpz-Cz``) and ranked by :data:`EEG_PREFERENCE`, central first, as the published models were
trained on C3-A2 and C4-A1. Channels recorded against the amplifier reference (``C3``, ``EEG C3-Ref``, ``A2``)
are subtracted into derivations (``C3 − A2``) when asked (``--eeg C3-A2``) or when the file has a central site
and mastoids but no derivation. EOG and EMG come from the first preset that has them, never from an EEG channel.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple

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
                "LEOG",
                "EOG1",
                "EOG 1",
                "EOG",
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
                "REOG",
                "EOG2",
                "EOG 2",
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
                "EMG",
                "EMG1",
                "EMG 1",
                "Chin EMG1",
            )
        ],
    },
    "sleep-edf": {
        "eeg": [("EEG Fpz-Cz", "Fpz-Cz"), ("EEG Pz-Oz", "Pz-Oz")],
        "eog": [("EOG horizontal", "horizontal")],
        "emg": [("EMG submental", "submental")],
    },
}


EEG_PREFERENCE: tuple[tuple[str, str], ...] = (
    ("central C3/C4", r"C[34](-.+)?"),
    ("central", r"C[Z1256](-.+)?"),
    ("frontal-central", r"(FP.|AF.|F.)-C.|FC.(-.+)?"),
    ("frontal", r"(FP.|AF.|F.)(-.+)?"),
    ("parietal, occipital or temporal", r".+"),
)
"""Where an EEG derivation sits, best first: ``(class, pattern)``, the pattern matched against ``ACTIVE-REFERENCE``
(e.g. ``FPZ-CZ``, ``C3`` for a channel against the amplifier reference). The first two classes are central; the
published models were trained on C3-A2 and C4-A1. Within a class, a contralateral mastoid or ear reference comes
first, then another ear reference, another site, and last the amplifier reference."""

DERIVED = " − "
"""Separator of a row computed by subtraction: ``"C3 − A2"`` is the file's channel ``C3`` minus its ``A2``."""


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
_MASTOIDS = ("A1", "A2", "M1", "M2")
_AMPLIFIER_REFERENCE = "REF"


def parse_derivation(name: str) -> tuple[str, str | None] | None:
    """``(active electrode, reference or None)`` of an EEG channel name, or None if it names no 10-20 site.

    Parameters
    ----------
    name : str
        A channel name.

    Returns
    -------
    tuple of (str, str or None), or None
        The reference is None for a bare site (``C3``) and ``"REF"`` for one named against the amplifier
        reference (``EEG C3-Ref``).

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


def referential(available: list[str]) -> dict[str, str]:
    """The channels recorded against the amplifier reference, by site: ``{"C3": "EEG C3-Ref", "A2": "A2"}``.

    A site is the name without a leading ``EEG``/``EOG``/``EMG`` and a trailing ``-Ref``, and holds no ``-``
    (``C3``, ``M1``, ``E1``, ``CHIN1``); two such channels can be subtracted into a derivation.

    Parameters
    ----------
    available : list of str
        The recording's channel names.

    Returns
    -------
    dict of str to str
        Normalised site to the file's channel name (the first channel of a site).
    """
    sites: dict[str, str] = {}
    for name in available:
        site = re.sub(rf"-{_AMPLIFIER_REFERENCE}$", "", normalise(name))
        site = re.sub(r"^(EEG|EOG|EMG)[-_]?(?=.)", "", site)
        if site and "-" not in site:
            sites.setdefault(site, name)
    return sites


def derive(spec: str, available: list[str]) -> str | None:
    """The row ``"X − Y"`` that a derivation ``spec`` (``"C3-A2"``) means when ``X`` and ``Y`` are referential
    channels of the file (see :func:`referential`), else None.

    Parameters
    ----------
    spec : str
        A derivation, e.g. ``"C3-A2"`` or ``"EEG C4-M1"``.
    available : list of str
        The recording's channel names.

    Returns
    -------
    str or None
        E.g. ``"EEG C3-Ref − EEG A2-Ref"`` (see :data:`DERIVED` and :func:`row_sources`).
    """
    sites = referential(available)
    text = re.sub(r"^(EEG|EOG|EMG)[-_]?", "", normalise(spec))
    for cut in (i for i, char in enumerate(text) if char == "-"):
        active, ref = text[:cut], text[cut + 1 :]
        if active in sites and ref in sites and active != ref:
            return f"{sites[active]}{DERIVED}{sites[ref]}"
    return None


def row_sources(row: str) -> tuple[str, str | None]:
    """The file channels of a row name: ``(channel, None)``, or ``(active, reference)`` for a derived row.

    Parameters
    ----------
    row : str
        A row name as :func:`map_channels` gives it, e.g. ``"C3-A2"`` or ``"C3 − A2"``.

    Returns
    -------
    tuple of (str, str or None)
        The channel to read, and the channel to subtract from it (None for none).
    """
    active, _, ref = row.partition(DERIVED)
    return active, ref or None


class _Eeg(NamedTuple):
    """One usable EEG row: its sort key (lower is better), its row name, active site and reference."""

    rank: tuple[int, int, int]
    row: str
    active: str
    ref: str | None  # None: the amplifier reference
    derived: bool


def _site_class(active: str, ref: str | None) -> int:
    """The index of a derivation's class in :data:`EEG_PREFERENCE`."""
    text = active if ref is None else f"{active}-{ref}"
    return next(i for i, (_, pattern) in enumerate(EEG_PREFERENCE) if re.fullmatch(pattern, text))


def _reference_rank(active: str, ref: str | None) -> int:
    """0 contralateral mastoid or ear, 1 another ear reference, 2 another site, 3 the amplifier reference."""
    if ref is None:
        return 3
    if _EAR.fullmatch(ref) is None:
        return 2
    side = active[-1:]  # odd digits are left, even right, Z the midline
    contralateral = "2" if side in "13579" else "1" if side in "2468" else None
    return 0 if ref[-1:] == contralateral else 1


def _eeg(row: str, active: str, ref: str | None, derived: bool) -> _Eeg:
    ref = None if ref == _AMPLIFIER_REFERENCE else ref
    return _Eeg((_site_class(active, ref), _reference_rank(active, ref), int(derived)), row, active, ref, derived)


def _eeg_candidates(available: list[str]) -> list[_Eeg]:
    """Every EEG row ``available`` offers, best first by :data:`EEG_PREFERENCE`: its derivations, and each
    referential EEG site minus each referential mastoid (``C3`` and ``A2`` give ``C3 − A2``).

    Parameters
    ----------
    available : list of str
        The recording's channel names.

    Returns
    -------
    list of _Eeg
        ``(rank, row, active, ref, derived)`` tuples; ``ref`` is None for the amplifier reference.
    """
    found = [_eeg(name, *parsed, derived=False) for name in available if (parsed := parse_derivation(name))]
    sites = referential(available)
    recorded = {(c.active, c.ref) for c in found}
    for active, name in sites.items():
        if re.fullmatch(_ELECTRODE, active):
            found += [
                _eeg(f"{name}{DERIVED}{sites[ear]}", active, ear, derived=True)
                for ear in _MASTOIDS
                if ear in sites and (active, ear) not in recorded
            ]
    return sorted(found)


def _describe(eeg: _Eeg) -> str:
    """``"C3-A2"``, ``"C3-A2 derived as C3 − A2"`` or ``"C3 against the amplifier reference"``."""
    if eeg.derived:
        return f"{eeg.active}-{eeg.ref} derived as {eeg.row}"
    return f"{eeg.row} against the amplifier reference" if eeg.ref is None else eeg.row


def choose_eeg(available: list[str]) -> tuple[list[str], str] | None:
    """The EEG rows for the two network rows among ``available``, and why; None without a central derivation.

    Two central sites C3 and C4: the best derivation of each (C3 first, the SHHS order), derived by subtraction
    from referential channels and mastoids where the file has no derivation. One central site only (e.g.
    ``C3-A1`` beside ``FP1-A1`` and ``O1-A1``): that derivation for both rows, since on a real clinical PSG
    feeding the one central EEG to both rows beat pairing it with a frontal or occipital channel (Cohen's kappa
    0.19 against 0.09 and 0.12 with the published ``oversampling_cnn``).

    Parameters
    ----------
    available : list of str
        The recording's channel names.

    Returns
    -------
    tuple of (list of str, str), or None
        The two row names (see :func:`row_sources`) and a sentence saying why they were chosen.
    """
    candidates = _eeg_candidates(available)
    central = [c for c in candidates if c.rank[0] <= 1]
    if not central:
        return None
    best: dict[str, _Eeg] = {}
    for eeg in central:
        best.setdefault(eeg.active, eeg)
    if "C3" in best and "C4" in best:
        pair = best["C3"], best["C4"]
        if all(c.ref is None for c in pair):
            why = f"the central pair {pair[0].row} and {pair[1].row} against the amplifier reference"
            return [c.row for c in pair], why + " (the file has no mastoid or ear channel to re-reference them)"
        why = f"the central pair {_describe(pair[0])} and {_describe(pair[1])}"
        if all(c.rank[1] <= 1 for c in pair):
            why += ", as the published models were trained on"
        return [c.row for c in pair], why
    chosen = central[0]
    others = [c.row for c in candidates if c.rank[0] > 1 and not c.derived]
    why = f"{_describe(chosen)}, the {'only' if len(best) == 1 else 'best'} central derivation, for both rows"
    if others:
        why += (
            f", not paired with {', '.join(others)}: with one central EEG, feeding it to both rows scored better "
            "than pairing it with a frontal or occipital channel on a clinical PSG (kappa 0.19 vs 0.09/0.12)"
        )
    return [chosen.row, chosen.row], why


def _any_eeg(available: list[str]) -> tuple[list[str], str] | None:
    """The best EEG of a file without a central one, for both rows, and why; None without any EEG."""
    candidates = _eeg_candidates(available)
    if not candidates:
        return None
    chosen = candidates[0]
    order = " > ".join(dict.fromkeys(name for name, _ in EEG_PREFERENCE))
    why = f"{_describe(chosen)}, the best EEG in the file (no central derivation; preference {order}), for both rows"
    return [chosen.row, chosen.row], why


def map_channels(
    available: list[str],
    eeg: list[str] | None = None,
    eog: list[str] | None = None,
    emg: list[str] | None = None,
    preset: str | None = None,
    required: tuple[str, ...] = ROLES,
) -> dict[str, list[str]]:
    """Choose the channels of each role among ``available`` names.

    Explicit lists win, and a name absent from the file that is a derivation of two referential channels
    (``C3-A2`` of ``C3`` and ``A2``) is computed by subtraction. EEG left out comes from :func:`choose_eeg`
    (a central derivation), else a preset, else the best EEG by :data:`EEG_PREFERENCE`; EOG and EMG come from
    ``preset``, or from the first preset that has them when ``preset`` is None. A role may get fewer channels
    than the network wants (see :func:`fill_rows`).

    Parameters
    ----------
    available : list of str
        The recording's channel names.
    eeg, eog, emg : list of str or None
        Channel names per role; None to find them.
    preset : str or None
        ``"shhs"``, ``"sleep-edf"`` or ``"aasm"`` (see :data:`PRESETS`); None tries each.
    required : tuple of str
        The roles that must be found; another role not found is left out of the mapping (logged at INFO).

    Returns
    -------
    dict of str to list of str
        Row names per role found, in :data:`~stqs_core.constants.ROLES` order, e.g. ``{"eeg": [...],
        "eog": [...], "emg": [...]}``; a derived row is named ``"C3 − A2"`` (see :func:`row_sources`).

    Raises
    ------
    ChannelError
        When a named channel is absent, a required role's channels are not found, or no role's are.
    """
    if preset is not None and preset not in PRESETS:
        raise ChannelError(f"unknown preset {preset!r}; presets: {sorted(PRESETS)}")
    explicit = {"eeg": eeg, "eog": eog, "emg": emg}
    mapping: dict[str, list[str]] = {}
    for role in ROLES:
        if explicit[role]:
            found, why = _named(role, explicit[role], available), "as given"
        else:
            found, why = _find(role, available, preset)
        if found is None:
            what = f"no {role.upper()} channel found" + (f" with preset {preset!r}" if preset else "")
            if role in required:
                raise ChannelError(_missing_message(what, available))
            logger.info("%s: scoring without %s", what, role.upper())
            continue
        mapping[role] = found
        logger.info("%s rows = %s; %s", role.upper(), ", ".join(found), why)
    if not mapping:
        raise ChannelError(_missing_message("no EEG, EOG or EMG channel found", available))
    return mapping


def _named(role: str, names: list[str], available: list[str]) -> list[str]:
    """The rows of explicitly named channels: the file's channel, or a derivation computed by subtraction."""
    by_norm = {normalise(ch): ch for ch in available}
    rows = [by_norm.get(normalise(name)) or derive(name, available) for name in names]
    missing = [name for name, row in zip(names, rows) if row is None]
    if missing:
        raise ChannelError(_missing_message(f"{role.upper()} channel(s) {missing} not in the file", available))
    for name, row in zip(names, rows):
        if DERIVED in row:
            logger.info("%s derived as %s", name, row)
    return rows


def _find(role: str, available: list[str], preset: str | None) -> tuple[list[str] | None, str]:
    """A role's rows found by name, and why; ``(None, "")`` when none is."""
    if role == "eeg" and preset in (None, "aasm") and (central := choose_eeg(available)) is not None:
        return central
    usable = [ch for ch in available if role == "eeg" or not _is_eeg(ch)]  # never an EEG as EOG or EMG
    by_norm = {normalise(ch): ch for ch in usable}
    for name in [preset] if preset else list(PRESETS):
        found = _match(PRESETS[name][role], by_norm)
        if found:
            return found, f"preset {name}"
    if role == "eeg" and (best := _any_eeg(available)) is not None:
        return best
    return None, ""


def _match(slots: list[tuple[str, ...]], by_norm: dict[str, str]) -> list[str]:
    found = []
    for slot in slots:
        hit = next((by_norm[normalise(n)] for n in slot if normalise(n) in by_norm), None)
        if hit is not None and hit not in found:
            found.append(hit)
    return found


def _is_eeg(name: str) -> bool:
    """Whether a channel name is an EEG derivation or a referential EEG site (``C3-A2``, ``EEG C3-Ref``)."""
    site = next(iter(referential([name])), "")
    return parse_derivation(name) is not None or re.fullmatch(_ELECTRODE, site) is not None


def guess_type(name: str) -> str:
    """What a channel name suggests it holds: ``"EEG"``, ``"EOG"``, ``"EMG"``, ``"mastoid"`` or ``"other"``.

    Parameters
    ----------
    name : str
        A channel name.

    Returns
    -------
    str
        The guessed type, for messages.
    """
    norm = normalise(name)
    if _is_eeg(name) or any(norm == normalise(n) for slot in PRESETS["shhs"]["eeg"] for n in slot):
        return "EEG"
    if next(iter(referential([name])), "") in _MASTOIDS:
        return "mastoid"
    for role, pattern in (("EOG", r"EOG|LOC|ROC|^E[12](-|$)"), ("EMG", r"EMG|CHIN|SUBMENTAL")):
        if re.search(pattern, norm):
            return role
    return "other"


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
    found = ", ".join(f"{name} ({guess_type(name)})" for name in available) or "no signals"
    return (
        f"{what}. The file has: {found}. Presets that fit: {fits or 'none'}. "
        "Name the channels yourself, e.g. --eeg C3-M2,C4-M1 --eog E1-M2,E2-M1 --emg Chin1-Chin2 "
        "(Python: eeg=[...], eog=[...], emg=[...]); a derivation of two referential channels, e.g. --eeg C3-A2, "
        "is computed by subtraction."
    )


def row_roles(modalities: tuple[str, ...] = ROLES, n_channels: dict[str, int] = N_CHANNELS) -> list[str]:
    """The role of each network row for the modalities present, in :data:`~stqs_core.constants.ROLES` order.

    Parameters
    ----------
    modalities : tuple of str
        The modalities present, e.g. ``("eeg",)``.
    n_channels : dict of str to int
        Network rows per role.

    Returns
    -------
    list of str
        E.g. ``["eeg", "eeg"]`` for ``("eeg",)``.
    """
    return [r for r in ROLES if r in modalities for _ in range(n_channels[r])]


def fill_rows(mapping: dict[str, list[str]], n_channels: dict[str, int] = N_CHANNELS) -> list[str]:
    """The row name feeding each network row of the roles in ``mapping``: EEG, then EOG, then EMG.

    A role with fewer channels than the network wants repeats its last channel (e.g. Sleep-EDF's single
    horizontal EOG feeds both EOG rows); extra channels beyond the network's are an error. Roles absent from
    ``mapping`` get no rows.

    Parameters
    ----------
    mapping : dict of str to list of str
        Channels per role, as :func:`map_channels` returns.
    n_channels : dict of str to int
        Network rows per role.

    Returns
    -------
    list of str
        One name per row (5 for the published network with every role).

    Raises
    ------
    ChannelError
        When a role has more channels than its rows.
    """
    rows = []
    for role in (r for r in ROLES if r in mapping):
        names, want = mapping[role], n_channels[role]
        if len(names) > want:
            raise ChannelError(f"{role.upper()} takes {want} channel(s), got {len(names)}: {names}")
        if len(names) < want:
            logger.warning("%s has %d channel(s) for %d rows: repeating %s", role.upper(), len(names), want, names[-1])
        rows += names + [names[-1]] * (want - len(names))
    return rows


def edf_lowpass(path: str | Path) -> dict[str, float]:
    """Per-channel low-pass cut-offs that an EDF header's prefiltering field records (``"HP:0.3Hz LP:35Hz"``).

    ``LP:0Hz`` means no low-pass and is left out, as is any channel without an ``LP:`` entry.

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
        if match and (cutoff := float(match[1].replace(",", "."))) > 0:
            found[signal.label] = cutoff
    return found


def check_bands(
    rows: list[str], sfreq: float, lowpass: dict[str, float] | None = None, roles: list[str] | None = None
) -> list[str]:
    """Warn where a modality's pass band (:data:`~stqs_core.constants.BANDPASS`) cannot be in the file.

    That is, where it lies above the Nyquist frequency ``sfreq / 2`` or above a channel's recorded low-pass.

    Parameters
    ----------
    rows : list of str
        The row names (see :func:`row_sources`; a derived row has the lower cut-off of its two channels).
    sfreq : float
        Sampling rate in Hz.
    lowpass : dict of str to float or None
        Channel names to low-pass cut-offs in Hz (see :func:`edf_lowpass`).
    roles : list of str or None
        The role of each row; None for the network's ``eeg, eeg, eog, eog, emg``.

    Returns
    -------
    list of str
        The warnings logged.
    """
    roles = roles or row_roles()
    if len(roles) != len(rows):
        raise ValueError(f"{len(rows)} rows for {len(roles)} roles")
    present = [r for r in ROLES if r in roles]
    warnings = []
    nyquist = sfreq / 2
    bands = {role: BANDPASS[role] for role in present}
    cut = [
        f"{role.upper()} {low:g}-{high:g} Hz loses {(high - max(nyquist, low)) / (high - low):.0%}"
        for role, (low, high) in bands.items()
        if nyquist < high
    ]
    if cut:
        warnings.append(
            f"a {sfreq:g} Hz recording holds nothing above {nyquist:g} Hz: of the bands the models read, "
            f"{', '.join(cut)}"
        )
    for role, (low, high) in bands.items():
        for name in dict.fromkeys(n for n, r in zip(rows, roles) if r == role):
            cutoffs = [(lowpass or {}).get(ch) for ch in row_sources(name) if ch is not None]
            cutoff = min((c for c in cutoffs if c is not None), default=None)
            if cutoff is not None and cutoff < min(high, nyquist):
                warnings.append(
                    f"{role.upper()} {name}: low-pass filtered at {cutoff:g} Hz when recorded (EDF "
                    f"prefiltering), so the {low:g}-{high:g} Hz band the models read is "
                    + ("empty" if cutoff <= low else f"missing above {cutoff:g} Hz")
                )
    for text in warnings:
        logger.warning(text)
    return warnings
