"""Derive stqs_core/human_reference.json, the human reference, from the DOD-H hypnograms in ../shared/data.

The five DOD-H experts scored the same 25 nights: their agreement with each other (pairwise, and each against the
consensus of the other four; Cohen's kappa and accuracy, :func:`stqs_core.metrics.inter_scorer_agreement`) is how
well a human scorer does. ``stqs evaluate`` puts these stored figures beside every report, so an install needs
no copy of the hypnograms. Run: ``python scripts/derive_human_reference.py [--hypnograms DIR] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stqs_core.evaluation import HUMAN_REFERENCE, read_human_reference

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (
    "DOD-H, the Dreem Open Dataset of healthy adults (Guillot et al., IEEE TNSRE 2020; MIT licence): "
    "25 nights, each scored by 5 experts after the AASM rules; read from {folder}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hypnograms",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "hypnograms" / "dod-h",
        help="folder of scorer_*/<night>.json hypnograms (default: ../shared/data/hypnograms/dod-h)",
    )
    parser.add_argument("--out", type=Path, default=HUMAN_REFERENCE)
    args = parser.parse_args()
    reference = read_human_reference(args.hypnograms)
    label = "/".join(args.hypnograms.resolve().parts[-3:])  # e.g. data/hypnograms/dod-h, no machine's path
    reference["provenance"].update(
        source=SOURCE.format(folder=label), script=str(Path(__file__).resolve().relative_to(ROOT))
    )
    args.out.write_text(json.dumps(reference, indent=1) + "\n")
    s = reference["summary"]
    print(
        f"{reference['n_nights']} nights, {reference['provenance']['n_files']} files: pairwise kappa "
        f"{s['pairwise']['kappa']['mean']:.3f}, vs consensus {s['vs_consensus']['kappa']['mean']:.3f} -> {args.out}"
    )


if __name__ == "__main__":
    main()
