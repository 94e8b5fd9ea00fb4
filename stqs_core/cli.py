"""The ``stqs`` command line: thin wrappers over the library, one ``_add_<command>`` per subcommand."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_channel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("channels (by name; roles left out are found with --preset or by trying every preset)")
    g.add_argument("--eeg", type=_names, help="EEG channels, comma-separated, e.g. C3-M2,C4-M1")
    g.add_argument("--eog", type=_names, help="EOG channels, left then right, e.g. E1-M2,E2-M1")
    g.add_argument("--emg", type=_names, help="chin EMG channel")
    g.add_argument("--preset", choices=["shhs", "sleep-edf", "aasm"], help="channel-name preset")


def _channels(args: argparse.Namespace) -> dict:
    return {"eeg": args.eeg, "eog": args.eog, "emg": args.emg, "preset": args.preset}


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score a PSG recording: one row per 30-s epoch",
                       description="Score an EDF/BDF recording and write its hypnogram with per-stage probabilities.")
    p.add_argument("recording", type=Path, help="EDF, EDF+ or BDF file")
    p.add_argument("--model", default=None, help="model file (.pt, or an original STQS .tar) or shipped model name")
    p.add_argument("--annotations", type=Path, help="expert hypnogram (NSRR .xml, EDF+, .csv/.txt, .json)")
    p.add_argument("--out", type=Path, required=True, help="output: .csv, .json or .edf (EDF+ annotations)")
    _add_channel_options(p)
    p.set_defaults(func=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from .checkpoint import DEFAULT_MODEL
    from .scoring import score_file

    night = score_file(args.recording, args.model or DEFAULT_MODEL, annotations=args.annotations, **_channels(args))
    night.write(args.out)
    summary = night.summary()
    shares = ", ".join(f"{s} {v:.0%}" for s, v in summary["predicted_share"].items())
    print(f"{summary['recording']}: {summary['n_epochs']} epochs scored ({shares}) -> {args.out}")
    if night.true is not None:
        print(f"against the expert hypnogram ({summary['n_scored']} scored epochs): "
              f"accuracy {summary['accuracy']:.3f}, Cohen's kappa {summary['kappa']:.3f}")
    return 0


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="preprocess a folder of PSG files into an HDF5 epoch store",
                       description="Preprocess every EDF/BDF file of a folder into one HDF5 epoch store. Bad files "
                                   "are skipped and reported; a killed run resumes where it stopped.")
    p.add_argument("edf_dir", type=Path, help="folder of EDF/BDF recordings")
    p.add_argument("--annotations", type=Path, help="folder of hypnogram files, paired with recordings by name")
    p.add_argument("--out", type=Path, required=True, help="the .h5 store to write")
    _add_channel_options(p)
    p.set_defaults(func=_cmd_prepare)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .store import build_store

    if not args.edf_dir.is_dir():
        raise FileNotFoundError(f"{args.edf_dir} is not a folder")
    hypnograms = sorted(p for p in args.annotations.iterdir() if p.is_file()) if args.annotations else None
    recordings = sorted(p for p in args.edf_dir.iterdir() if p.suffix.lower() in (".edf", ".bdf")
                        and p not in (hypnograms or []) and "hypnogram" not in p.name.lower())
    if not recordings:
        raise FileNotFoundError(f"no .edf or .bdf recordings in {args.edf_dir}")
    errors = build_store(recordings, args.out, hypnograms, **_channels(args))
    print(f"{len(recordings) - len(errors)} of {len(recordings)} recordings -> {args.out}")
    for path, error in errors.items():
        print(f"skipped {path}: {error}", file=sys.stderr)
    return 1 if errors else 0


COMMANDS = (_add_score, _add_prepare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stqs", description="STQS: interpretable multi-modal sleep staging.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, OSError, KeyError) as err:  # bad input: a message, not a traceback
        print(f"stqs {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
