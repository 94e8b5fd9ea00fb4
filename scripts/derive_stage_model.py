"""Derive stqs_core/simulate/stage_model.json from the real expert hypnograms in ../shared/data/hypnograms.

Reads Sleep-EDF-20 (EDF+), DOD-H scorer 1 (JSON), HMC (EDF+) and the YASA nights (text) where they are, trims wake
to 30 min before sleep onset and after the last sleep epoch, and writes the per-third transition matrices and
bout-length quantiles. Run: ``python scripts/derive_stage_model.py [--hypnograms DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from stqs_core import read_hypnogram
from stqs_core.constants import STAGES
from stqs_core.hypnogram import trim_wake
from stqs_core.simulate.stage_model import MODEL_PATH, derive_stage_model

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "sleep-edf-20": "sleep-edf-20/*-Hypnogram.edf",
    "dod-h scorer_1": "dod-h/scorer_1/*.json",
    "hmc": "hmc/*.edf",
    "yasa": "yasa/*.txt",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypnograms", type=Path, default=ROOT.parent / "shared" / "data" / "hypnograms")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    nights, sources = [], {}
    for source, pattern in SOURCES.items():
        paths = sorted(args.hypnograms.glob(pattern))
        trimmed = [trim_wake(read_hypnogram(p)) for p in paths]
        trimmed = [t for t in trimmed if len(t) >= 120]  # at least an hour: the YASA nap-length file is left out
        sources[source] = len(trimmed)
        nights += trimmed
    if not nights:
        raise SystemExit(f"no hypnograms found under {args.hypnograms}")
    model = derive_stage_model(nights, sources=sources)
    args.out.write_text(json.dumps(model, separators=(",", ":")))
    shares = ", ".join(f"{s} {p:.1%}" for s, p in zip(STAGES, model["proportions"]))
    hours = np.mean([len(n) for n in nights]) / 120
    print(
        f"{len(nights)} nights ({sources}), mean {hours:.1f} h, stages {shares} -> {args.out} "
        f"({args.out.stat().st_size} bytes)"
    )


if __name__ == "__main__":
    main()
