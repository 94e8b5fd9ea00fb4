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


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="simulate a night, score it and write its hypnogram and figure",
                       description="The built-in demo: a simulated night (true stages known) scored by a shipped "
                                   "model; writes night.edf, night.events.csv, hypnogram.csv and hypnogram.png.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    p.add_argument("--hours", type=float, default=8.0, help="night length in hours (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default: 0)")
    p.add_argument("--model", default=None, help="model file or shipped model name (default: the default model)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .checkpoint import DEFAULT_MODEL
    from .demo import run_demo

    summary = run_demo(args.out, args.hours, args.seed, args.model or DEFAULT_MODEL)
    shares = ", ".join(f"{s} {v:.0%}" for s, v in summary["predicted_share"].items())
    print(f"demo night: {summary['n_epochs']} epochs scored by {summary['model']} ({shares})\n"
          f"against the simulated truth: accuracy {summary['accuracy']:.3f}, Cohen's kappa {summary['kappa']:.3f}\n"
          f"wrote {args.out}/night.edf, night.events.csv, hypnogram.csv, hypnogram.png")
    return 0


def _add_notebooks(sub) -> None:
    p = sub.add_parser("notebooks", help="run the notebook chain headless (papermill), or strip notebook outputs",
                       description="Run notebooks/ (prepare data, train, evaluate, interpret, AASM lesson) with "
                                   "papermill into one output folder, each feeding the next through files.")
    actions = p.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="execute the chain into --out")
    run.add_argument("--out", type=Path, required=True, help="run folder: executed notebooks and their results")
    run.add_argument("--tiny", action="store_true", help="a few short simulated nights, two training epochs")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter (a Python literal or a string), e.g. -p variant cnn")
    run.add_argument("--only", type=_names, help="run only these notebooks, e.g. 03_evaluate,04_interpret")
    strip = actions.add_parser("strip", help="clear the outputs of the committed notebooks (or of NOTEBOOK ...)")
    strip.add_argument("notebook", nargs="*", type=Path, help="notebook files (default: notebooks/*.ipynb)")
    p.set_defaults(func=_cmd_notebooks)


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .notebooks import CHAIN, NotebookError, parse_value, run_chain, strip_outputs

    if args.action == "strip":
        changed = strip_outputs(args.notebook or None)
        print(f"stripped {len(changed)} notebook(s)" + "".join(f"\n  {p}" for p in changed))
        return 0
    params = {name: parse_value(value) for name, value in args.parameter}
    try:
        runs = run_chain(args.out, params, tiny=args.tiny, notebooks=tuple(args.only or CHAIN))
    except NotebookError as err:
        print(f"stqs notebooks: {err}", file=sys.stderr)
        return 1
    for run in runs:
        print(f"{run.name}: {run.seconds:.1f} s -> {run.path}")
    return 0


COMMANDS = (_add_score, _add_prepare, _add_demo, _add_notebooks)


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
