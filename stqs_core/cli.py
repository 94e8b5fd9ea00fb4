"""The ``stqs`` command line: thin wrappers over the library, one ``_add_<command>`` per subcommand."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from . import __version__


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_channel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("channels (by name; roles left out are found with --preset or by trying every preset)")
    g.add_argument(
        "--eeg",
        type=_names,
        help="EEG channels, comma-separated, e.g. C3-M2,C4-M1; X-Y of two referential channels X and Y (C3 and M2, "
        "EEG C3-Ref and EEG M2-Ref) is computed as X minus Y",
    )
    g.add_argument("--eog", type=_names, help="EOG channels, left then right, e.g. E1-M2,E2-M1")
    g.add_argument("--emg", type=_names, help="chin EMG channel")
    g.add_argument("--preset", choices=["shhs", "sleep-edf", "aasm"], help="channel-name preset")


def _channels(args: argparse.Namespace) -> dict:
    """The channel options as keyword arguments; the channels chosen, and why, are shown (INFO of the mapper)."""
    logging.getLogger("stqs_core.channels").setLevel(logging.INFO)
    return {"eeg": args.eeg, "eog": args.eog, "emg": args.emg, "preset": args.preset}


def _model_inputs(model: str | None) -> list[Path]:
    """The files a ``--model`` value may name, for :func:`~stqs_core._atomic.check_output`."""
    from .checkpoint import DEFAULT_MODEL, MODELS_DIR

    model = model or DEFAULT_MODEL
    return [Path(model), MODELS_DIR / f"{model}.pt"]


def _shares(summary: dict) -> str:
    """``"W 4%, N1 12%, ..."``: the predicted stage shares of a scoring summary."""
    return ", ".join(f"{s} {v:.0%}" for s, v in summary["predicted_share"].items())


# a literal copy of adapt.METHODS: building the parser imports no torch
_ADAPT_METHODS = ("adabn-balanced", "adabn", "adabn-prior", "tent", "adabn-tent")


def _add_score(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score a PSG recording or a cohort: one row per 30-s epoch",
        description="Score an EDF/BDF recording and write its hypnogram with per-stage probabilities. "
        "Several recordings, a folder, a glob or --manifest score a cohort into the "
        "folder --out: a hypnogram per night and cohort.csv/.json (sleep statistics, "
        "confidence, expert agreement); a rerun skips the nights already scored.",
    )
    p.add_argument("recording", type=Path, nargs="*", help="EDF, EDF+ or BDF file; or several, a folder or a glob")
    p.add_argument(
        "--model",
        default=None,
        help="model file (.pt, or an original STQS .tar) or name (`stqs models list`); default: the published "
        "SHHS model for the modalities the file has (EEG only, EEG+EOG, EEG+EMG or a full PSG), fetched on first use",
    )
    p.add_argument("--annotations", type=Path, help="expert hypnogram (NSRR .xml, EDF+, .csv/.txt, .json)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output: .csv, .json, .edf (EDF+ annotations), .tsv (BIDS events) or .xml (NSRR); for a cohort, a folder",
    )
    p.add_argument(
        "--adapt",
        action="store_true",
        help="adapt a copy of the model to this recording without labels first (see --adapt-method)",
    )
    p.add_argument(
        "--adapt-method",
        choices=_ADAPT_METHODS,
        default=None,
        help="label-free adaptation method (implies --adapt; default adabn-balanced)",
    )
    p.add_argument(
        "--review-below",
        type=float,
        metavar="P",
        help="mark epochs whose confidence (highest stage probability) is below P for review",
    )
    p.add_argument("--figure", type=Path, metavar="PNG", help="also write a hypnodensity figure (.png, .svg, .pdf)")
    p.add_argument(
        "--triage",
        action="store_true",
        help="evidence triage: each epoch's deciding band x modality, whether the AASM rule of its stage names it, "
        "and why not (columns deciding_evidence ... triage_reason; per night a reliance profile in cohort.csv)",
    )
    _add_channel_options(p)
    g = p.add_argument_group("cohorts (--out is a folder)")
    g.add_argument(
        "--manifest",
        type=Path,
        help="UTF-8 CSV, one row per night: path, optional annotations, name, "
        "eeg/eog/emg/preset, and any columns to carry (subject, site, ...); a name is a plain file name "
        "(no '/', '\\' or NUL, not starting with '.' or '-')",
    )
    g.add_argument(
        "--format",
        choices=["csv", "json", "edf", "tsv", "xml"],
        default="csv",
        help="hypnogram format of each night (default csv)",
    )
    g.add_argument(
        "--workers",
        type=int,
        help="worker processes on this machine (1: this process, no Dask; default: "
        "one per core for 4 or more nights per core)",
    )
    g.add_argument(
        "--scheduler",
        help="score on a running Dask cluster, e.g. tcp://10.0.0.5:8786; its workers must see the files at the "
        "same absolute paths (a shared file system)",
    )
    p.set_defaults(func=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .errors import OutputError
    from .scoring import score_file

    if _is_cohort(args):
        return _cmd_score_cohort(args)
    args.recording = args.recording[0]
    if args.out.suffix.lower() not in (".csv", ".json", ".edf", ".tsv", ".xml"):
        raise OutputError(f"--out {args.out}: the output must end in .csv, .json, .edf, .tsv or .xml")
    inputs = [args.recording, args.annotations, *_model_inputs(args.model)]
    for out, option in ((args.out, "--out"), (args.figure, "--figure")):
        if out is not None:
            check_output(out, inputs, option)
    adapt = args.adapt_method or args.adapt
    night = score_file(
        args.recording,
        args.model,
        annotations=args.annotations,
        adapt=adapt,
        review_below=args.review_below,
        triage=args.triage,
        **_channels(args),
    )
    night.write(args.out)
    summary = night.summary()
    shares = _shares(summary)
    missing = ", ".join(summary["missing"]).upper() or "nothing"
    scored = "+".join(summary["modalities"]).upper()
    print(f"{summary['recording']}: scored {scored} (missing: {missing}) with {summary['why']}")
    print(f"{summary['recording']}: {summary['n_epochs']} epochs scored ({shares}) -> {args.out}")
    ood = "n/a (too short)" if summary["ood_score"] is None else f"{summary['ood_score']:.3f}"
    print(
        f"model adapted to the recording: {summary['adaptation'] or 'no'}; out-of-domain score {ood}; "
        f"mean confidence {summary['mean_confidence']:.3f}"
    )
    if args.review_below is not None:
        print(f"{summary['n_review']} of {summary['n_epochs']} epochs to review (confidence < {args.review_below:g})")
    if args.triage:
        print(
            f"{summary['n_flagged']} of {summary['n_epochs']} epochs flagged: decided on evidence the AASM rule of "
            "their stage does not name (column triage_reason)"
        )
    if args.figure:
        from .plots import plot_hypnodensity

        adapted = f" (adapted: {summary['adaptation']})" if summary["adaptation"] else ""
        title = f"{summary['recording']}: {summary['model']}{adapted}"
        plot_hypnodensity(night.proba, night.true, title=title).savefig(args.figure, dpi=120)
        print(f"hypnodensity -> {args.figure}")
    if night.true is not None and not summary["n_scored"]:
        print("the expert hypnogram scores none of these epochs: no agreement to report")
    elif night.true is not None:
        print(
            f"against the expert hypnogram ({summary['n_scored']} scored epochs): "
            f"accuracy {summary['accuracy']:.3f}, Cohen's kappa {summary['kappa']:.3f}"
        )
    return 0


def _add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="preprocess a folder of PSG files into an HDF5 epoch store",
        description="Preprocess every EDF/BDF file of a folder into one HDF5 epoch store. Bad files "
        "are skipped and reported; a killed run resumes where it stopped.",
    )
    p.add_argument("edf_dir", type=Path, help="folder of EDF/BDF recordings")
    p.add_argument(
        "--annotations",
        type=Path,
        help="folder of hypnogram files, paired with recordings by the naming conventions of SHHS "
        "(shhs1-200001.edf: shhs1-200001-nsrr.xml), Sleep-EDF (SC4001E0-PSG.edf: "
        "SC4001EC-Hypnogram.edf), MASS ('01-02-0001 PSG.edf': '01-02-0001 Base.edf') or equal stems",
    )
    p.add_argument(
        "--pairs",
        type=Path,
        help="CSV with columns recording,hypnogram (file names or paths) pairing each recording with its "
        "hypnogram; overrides the naming conventions",
    )
    p.add_argument("--out", type=Path, required=True, help="the .h5 store to write")
    _add_channel_options(p)
    p.set_defaults(func=_cmd_prepare)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .annotations import is_hypnogram_file
    from .errors import RecordingError
    from .store import build_store

    for option, folder in (("edf_dir", args.edf_dir), ("--annotations", args.annotations)):
        if folder is not None and not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise RecordingError(f"{option} {folder} {what}; give the folder that holds the files")
    hypnograms = sorted(p for p in args.annotations.iterdir() if p.is_file()) if args.annotations else None
    recordings = sorted(
        p
        for p in args.edf_dir.iterdir()
        if p.suffix.lower() in (".edf", ".bdf") and p not in (hypnograms or []) and not is_hypnogram_file(p)
    )
    if not recordings:
        raise RecordingError(f"no .edf or .bdf recordings in {args.edf_dir}")
    check_output(args.out, [*recordings, *(hypnograms or []), args.pairs])
    errors = build_store(recordings, args.out, hypnograms, pairs=args.pairs, **_channels(args))
    print(f"{len(recordings) - len(errors)} of {len(recordings)} recordings -> {args.out}")
    for path, error in errors.items():
        print(f"skipped {path}: {error}", file=sys.stderr)
    return 1 if errors else 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a night, score it and write its hypnogram and figure",
        description="The built-in demo: a simulated night (true stages known) scored by a shipped "
        "model; writes night.edf, night.events.csv, hypnogram.csv and hypnogram.png.",
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    p.add_argument("--hours", type=float, default=8.0, help="night length in hours (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default: 0)")
    p.add_argument("--model", default=None, help="model file or name (default: the shipped stqs-cnnlstm-sim)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .checkpoint import DEMO_MODEL
    from .demo import run_demo

    if args.out.exists():  # a new folder holds no input; run_demo creates it, and removes it if the demo fails
        check_output(args.out, _model_inputs(args.model), folder=True)
        for name in ("night.edf", "night.events.csv", "hypnogram.csv", "hypnogram.png"):
            check_output(args.out / name, _model_inputs(args.model))
    summary = run_demo(args.out, args.hours, args.seed, args.model or DEMO_MODEL)
    shares = _shares(summary)
    print(
        f"demo night: {summary['n_epochs']} epochs scored by {summary['model']} ({shares})\n"
        f"against the simulated truth: accuracy {summary['accuracy']:.3f}, Cohen's kappa {summary['kappa']:.3f}\n"
        f"wrote {args.out}/night.edf, night.events.csv, hypnogram.csv, hypnogram.png"
    )
    return 0


def _add_notebooks(sub) -> None:
    p = sub.add_parser(
        "notebooks",
        help="run the notebook chain headless (papermill), or strip notebook outputs",
        description="Run notebooks/ (prepare data, train, evaluate, interpret, AASM lesson) with "
        "papermill into one output folder, each feeding the next through files.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="execute the chain into --out")
    run.add_argument("--out", type=Path, required=True, help="run folder: executed notebooks and their results")
    run.add_argument("--tiny", action="store_true", help="a few short simulated nights, two training epochs")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (a Python literal or a string), e.g. -p variant cnn",
    )
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


# literal copies of model.VARIANTS, sampling.IMBALANCE, evaluation.SPLITS: building the parser imports no torch
_VARIANTS = ("cnn", "cnnlstm", "cnnlstm-residual")
_IMBALANCE = ("none", "oversampling", "weighted-inverse", "weighted-balanced")
_SPLITS = ("test", "validation", "train", "all")


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on HDF5 epoch stores (split by recording)",
        description="Train an STQS model on epoch stores, the recordings split into training, "
        "validation and test sets by recording; saves the model with its model card. "
        "A killed run continues with --resume.",
    )
    p.add_argument("--data", type=Path, nargs="+", required=True, help="epoch stores (.h5) from `stqs prepare`")
    p.add_argument("--variant", choices=_VARIANTS, default="cnnlstm", help="network variant (default cnnlstm)")
    p.add_argument("--imbalance", choices=_IMBALANCE, default="oversampling", help="class-imbalance handling")
    p.add_argument("--epochs", type=int, default=20, help="maximum passes over the training data, per stage")
    p.add_argument("--patience", type=int, default=5, help="early stopping: passes without a better validation loss")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--batch-size", type=int, default=64, help="epochs per batch (CNN stage)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and shuffling")
    p.add_argument(
        "--fractions",
        type=lambda t: tuple(float(v) for v in _names(t)),
        default=(0.7, 0.15, 0.15),
        help="train,validation,test fractions of the recordings (default 0.7,0.15,0.15)",
    )
    p.add_argument("--validation", type=_names, help="validation recordings by name, comma-separated (with --test)")
    p.add_argument("--test", type=_names, help="test recordings by name, comma-separated")
    p.add_argument("--fine-tune-cnn", action="store_true", help="sequence variants: also train the CNN in stage 2")
    p.add_argument(
        "--single-stage",
        action="store_true",
        help="sequence variants: skip the per-epoch CNN stage, train everything on whole nights",
    )
    p.add_argument("--nights-per-batch", type=int, default=8, help="sequence stage: nights trained side by side")
    p.add_argument(
        "--bptt-windows",
        type=int,
        default=4,
        help="sequence stage: windows of 8 epochs per optimiser step (state carried across)",
    )
    p.add_argument("--init-cnn", help="sequence variants: start from this trained model's CNN, skip stage 1")
    p.add_argument("--resume", action="store_true", help="continue from <out>.resume if a killed run left one")
    p.add_argument("--out", type=Path, required=True, help="the model file (.pt) to write")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .training import TrainConfig, train

    inputs = [*args.data, *(_model_inputs(args.init_cnn) if args.init_cnn else [])]
    check_output(args.out, inputs)
    check_output(args.out.with_name(args.out.name + ".resume"), inputs)
    config = TrainConfig(
        variant=args.variant,
        imbalance=args.imbalance,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        fractions=args.fractions,
        validation=args.validation,
        test=args.test,
        two_stage=not args.single_stage,
        fine_tune_cnn=args.fine_tune_cnn,
        init_cnn=args.init_cnn,
        nights_per_batch=args.nights_per_batch,
        bptt_windows=args.bptt_windows,
    )
    result = train(args.data, args.out, config, resume=args.resume)
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports
        return 0
    sizes = ", ".join(f"{k} {len(v)}" for k, v in result.split.items())
    print(f"{args.variant} trained on {sizes} recordings -> {result.path}")
    for part, m in result.card["metrics"].items():
        print(
            f"{part}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, kappa {m['kappa']:.3f} "
            f"({m['n_scored']} epochs)"
        )
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on an epoch store: metrics, confusion, figures",
        description="Score the recordings of a model's test split (or all) and compare with the "
        "expert stages; writes report.json, per_recording.csv and figures.",
    )
    p.add_argument("--model", required=True, help="model file (.pt / original .tar) or name (`stqs models list`)")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="epoch stores (.h5)")
    p.add_argument("--split", choices=_SPLITS, default="test", help="recordings of the model card's split, or all")
    p.add_argument(
        "--human-reference",
        type=Path,
        default=None,
        help="recompute the human reference from this folder of scorer_*/<night>.json hypnograms "
        "(default: the stored figures of the five DOD-H experts)",
    )
    p.add_argument("--no-figures", action="store_true", help="write the report without figures")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .evaluation import evaluate, write_report

    check_output(args.out, [*args.data, *_model_inputs(args.model)], folder=True)
    report = evaluate(args.model, args.data, args.split, human_reference=args.human_reference or True)
    files = write_report(report, args.out, figures=not args.no_figures)
    o = report["overall"]
    print(
        f"{report['n_recordings']} recordings, {report['n_scored']} scored epochs: accuracy {o['accuracy']:.3f}, "
        f"macro-F1 {o['macro_f1']:.3f}, kappa {o['kappa']:.3f} -> {files['json']}"
    )
    ref = report["human_reference"]
    if ref:
        s = ref["summary"]["vs_consensus"]["kappa"]
        print(
            f"human reference ({ref['n_nights']} nights, {len(ref['scorers'])} scorers): scorer vs consensus "
            f"kappa {s['mean']:.3f} ({s['min']:.3f}-{s['max']:.3f})"
        )
    return 0


_SFREQ_RANGE = (50, 512)  # literal copy of simulate.SFREQ_RANGE: building the parser imports no torch


def _sim_sfreq(text: str) -> int:
    """``--sfreq``: a whole number of Hz within the simulator's range."""
    low, high = _SFREQ_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of Hz from {low} to {high}")
    return int(text)


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a PSG night (EEG, EOG, chin EMG) with known stages and events",
        description="Simulate an AASM-like night following a hypnogram file or the stage model, and "
        "write it as EDF with its hypnogram and an events CSV (<out stem>.events.csv). "
        "A lab profile (--profile) shifts it the way another lab's recordings differ.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--hypnogram", type=Path, help="hypnogram file to follow (EDF+, .json, .csv/.txt, NSRR .xml)")
    src.add_argument("--hours", type=float, default=8.0, help="night length drawn from the stage model (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (the same seed gives the same night)")
    p.add_argument(
        "--sfreq",
        type=_sim_sfreq,
        default=None,
        help="sampling rate, any whole number of Hz from 50 to 512 (default: the profile's, else 125)",
    )
    p.add_argument("--line-noise", type=int, choices=[50, 60], help="add mains interference at 50 or 60 Hz")
    p.add_argument("--no-artefacts", action="store_true", help="leave out movement artefacts, pops and sweat drift")
    p.add_argument(
        "--profile",
        default="in-domain",
        help="lab profile: montage, sampling rate, filters, noise, subjects, scorer (default in-domain)",
    )
    p.add_argument("--list-profiles", action="store_true", help="describe the lab profiles and exit")
    p.add_argument("--out", type=Path, help="the .edf file to write (required unless --list-profiles)")
    p.add_argument(
        "--hypnogram-format",
        choices=["edf", "csv"],
        default="edf",
        help="stages as EDF+ annotations in the file (edf) or as <stem>-hypnogram.csv beside it (csv)",
    )
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .constants import EPOCH_SEC
    from .errors import StqsError
    from .simulate import profile_table, simulate_night

    if args.list_profiles:
        print(profile_table())
        return 0
    if args.out is None:
        raise StqsError("name the .edf file to write with --out (or use --list-profiles)")
    for out in (
        args.out,
        args.out.with_name(f"{args.out.stem}.events.csv"),
        args.out.with_name(f"{args.out.stem}-hypnogram.csv"),
    ):
        check_output(out, [args.hypnogram])
    night = simulate_night(
        args.hypnogram,
        hours=args.hours,
        seed=args.seed,
        sfreq=args.sfreq,
        line_noise=args.line_noise,
        artefacts=not args.no_artefacts,
        name=args.out.stem,
        profile=args.profile,
    )
    written = night.write_edf(args.out, hypnogram=args.hypnogram_format)
    written.append(night.write_events(args.out.with_name(f"{args.out.stem}.events.csv")))
    hours = len(night.stages) * EPOCH_SEC / 3600
    print(
        f"simulated {hours:.1f} h ({len(night.stages)} epochs, {len(night.events)} events) at "
        f"{night.recording.sfreq:g} Hz, profile {night.profile}:"
    )
    for path in written:
        print(f"  {path}")
    return 0


def _add_interpret(sub) -> None:
    p = sub.add_parser(
        "interpret",
        help="explain a model on a recording: band/modality occlusion, filters, AASM",
        description="Occlude each frequency band and modality of a recording, tabulate the model's "
        "learned filters, and check the AASM stage rules; writes CSV tables, "
        "aasm_report.md and filters.png into --out.",
    )
    p.add_argument("recording", type=Path, help="EDF, EDF+ or BDF file")
    p.add_argument(
        "--model",
        default=None,
        help="model file (.pt, or an original STQS .tar) or name (`stqs models list`); default: shhs-oversampling-cnn",
    )
    p.add_argument("--annotations", type=Path, help="expert hypnogram (else the model's own stages are used)")
    p.add_argument(
        "--epoch",
        type=int,
        action="append",
        default=[],
        help="also time-occlude this epoch (0-based; repeat for several)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_channel_options(p)
    p.set_defaults(func=_cmd_interpret)


def _cmd_interpret(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .errors import StqsError
    from .interpret import (
        BaselinePass,
        agreement_line,
        filter_peaks,
        frequency_occlusion,
        modality_importance,
        render_markdown,
        rule_table,
        spatial_filters,
        time_occlusion,
    )
    from .interpret.bands import absent_modalities
    from .plots import plot_filters
    from .recording import read_recording
    from .scoring import choose_model, recording_epochs

    check_output(args.out, [args.recording, args.annotations, *_model_inputs(args.model)], folder=True)
    recording = read_recording(args.recording, annotations=args.annotations, required=("eeg",), **_channels(args))
    model, why = choose_model(recording.modalities, args.model)
    prepared, labels = recording_epochs(recording, model.config.modalities)
    epochs = prepared.data
    outside = [i for i in args.epoch if not 0 <= i < len(epochs)]
    if outside:
        raise StqsError(f"--epoch {outside[0]} is outside the recording's epochs 0-{len(epochs) - 1}")
    print(f"{recording.name}: model {why}")
    args.out.mkdir(parents=True, exist_ok=True)
    baseline = BaselinePass(model, epochs)  # the unoccluded pass, shared by every analysis below
    occlusion = frequency_occlusion(model, epochs, labels, baseline=baseline)
    occlusion.summary.to_csv(args.out / "frequency_occlusion.csv", index=False)
    modality_importance(model, epochs, labels, baseline=baseline).to_csv(
        args.out / "modality_importance.csv", index=False
    )
    filter_peaks(model).to_csv(args.out / "filter_peaks.csv", index=False)
    spatial_filters(model).to_csv(args.out / "spatial_filters.csv", index=False)
    plot_filters(model, args.out / "filters.png", title=f"{args.model or model.name}: layer-1 temporal filters")
    report = rule_table(occlusion.per_epoch, absent=absent_modalities(model))
    report.to_csv(args.out / "aasm_report.csv", index=False)
    (args.out / "aasm_report.md").write_text(render_markdown(report, f"{recording.name}: AASM correspondence"))
    for index in args.epoch:
        result = time_occlusion(model, epochs, index, baseline=baseline)
        result.per_sample.to_csv(args.out / f"time_occlusion_{index}.csv", index=False)
    print(f"{recording.name}: {len(epochs)} epochs; {agreement_line(report)} -> {args.out}")
    return 0


def _add_dashboard(sub) -> None:
    p = sub.add_parser(
        "dashboard",
        help="open the interactive dashboard (Panel) in a browser",
        description="Serve dashboards/app.py with `panel serve`: a demo night, its hypnogram, "
        "spectral and time occlusion, filters and AASM rules. Visitors open files only "
        "in the --data-dir folders (besides the demo, their uploads and the shipped "
        "models). Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=5006, help="port to serve on (default 5006)")
    p.add_argument("--show", action="store_true", help="open the page in the default browser")
    p.add_argument("--hours", type=float, help="length of the simulated demo night (default 8)")
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose EDF/BDF recordings, HDF5 stores and model files visitors may open "
        "(repeatable; default: none, or those of $STQS_DASHBOARD_DATA_DIRS)",
    )
    p.add_argument("--max-upload-mb", type=float, help="largest upload accepted (MB, default 1024)")
    p.add_argument("--cache-mb", type=float, help="memory for cached nights (MB, default 1024)")
    p.add_argument("--address", help="network address to listen on (default: all interfaces)")
    p.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="host name a browser may reach the page by, e.g. sleeplab.example.org (repeatable; default: localhost)",
    )
    p.add_argument(
        "--basic-auth",
        metavar="PASSWORD|FILE",
        help="ask visitors for this password (or the user:password lines of FILE); see the README",
    )
    p.set_defaults(func=_cmd_dashboard)


def dashboard_command(argv: list[str] = (), app: str | Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``panel serve`` command line and environment that ``stqs dashboard ARGV...`` runs.

    Parameters
    ----------
    argv : list of str
        The options of ``stqs dashboard``, e.g. ``["--port", "5007", "--hours", "0.5"]``.
    app : str | Path | None
        Another ``app.py`` to serve (e.g. another checkout's, for benchmarks); None: the installed dashboard.

    Returns
    -------
    cmd : list of str
        The command line, ``[python, "-m", "panel", "serve", app, ...]``; append panel's own options to it.
    env : dict of str to str
        The environment to run it in (the process's, plus the dashboard's settings).
    """
    return _dashboard_command(build_parser().parse_args(["dashboard", *argv]), app)


def _dashboard_command(args: argparse.Namespace, app: str | Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``panel serve`` command line and environment of ``stqs dashboard`` (see :func:`dashboard_command`)."""
    import os
    import secrets

    from .errors import StqsError
    from .resources import dashboard_app

    app = dashboard_app() if app is None else Path(app)
    folders = [Path(d).expanduser().resolve() for d in args.data_dir]
    for folder in folders:
        if not folder.is_dir():
            raise StqsError(f"--data-dir {folder} is not a folder; give an existing folder of recordings")
    settings = {
        "STQS_DASHBOARD_HOURS": args.hours,
        "STQS_DASHBOARD_MAX_UPLOAD_MB": args.max_upload_mb,
        "STQS_DASHBOARD_CACHE_MB": args.cache_mb,
        "STQS_DASHBOARD_DATA_DIRS": os.pathsep.join(map(str, folders)) or None,
    }
    env = {**os.environ, **{k: str(v) for k, v in settings.items() if v is not None}}
    cmd = [sys.executable, "-m", "panel", "serve", str(app), "--port", str(args.port), *(["--show"] * args.show)]
    if args.address:
        cmd += ["--address", args.address]
    cmd += [f"--allow-websocket-origin={origin}" for origin in args.allow_websocket_origin]
    if args.basic_auth:
        cmd += ["--basic-auth", args.basic_auth]
        if not env.get("PANEL_COOKIE_SECRET"):
            env["PANEL_COOKIE_SECRET"] = secrets.token_hex(32)  # signs the login cookie; new at each start
    return cmd, env


def _cmd_dashboard(args: argparse.Namespace) -> int:
    cmd, env = _dashboard_command(args)
    folders = env.get("STQS_DASHBOARD_DATA_DIRS", "").split(os.pathsep)
    print(
        f"serving {cmd[4]} at http://localhost:{args.port}/app; data folders: "
        f"{', '.join(f for f in folders if f) or 'none'} (Ctrl-C stops it)",
        flush=True,
    )
    os.execve(sys.executable, cmd, env)  # panel replaces this process (never returns): Ctrl-C reaches the server


def _add_models(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the models by name, or fetch published ones into the cache",
        description="Models by name: the authors' published SHHS checkpoints (fetched from "
        "github.com/ShreyasiPathak/STQS on first use, verified by SHA-256, cached; "
        "STQS_MODELS_DIR sets the cache folder, STQS_MODELS_URL a mirror or local folder) "
        "and the shipped models trained on simulated nights.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="name, variant, training data, channels, size, cached or not")
    fetch = actions.add_parser("fetch", help="download and verify published models (NAME ... or all)")
    fetch.add_argument("name", nargs="+", help="model names, or `all`")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from . import registry

    if args.action == "list":
        rows = [
            (
                m["name"],
                m["variant"],
                m["trained_on"],
                m["channels"],
                f"{m['size'] / 1e6:.1f} MB",
                "yes" if m["cached"] else "no",
            )
            for m in registry.list_models()
        ]
        header = ("name", "variant", "trained on", "channels", "size", "cached")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
        print(f"cache: {registry.cache_dir()} (STQS_MODELS_DIR); source: {registry.base_url()} (STQS_MODELS_URL)")
        return 0
    names = (
        [e.name for e in registry.entries().values() if e.kind == "published"] if args.name == ["all"] else args.name
    )
    for name in names:
        print(f"{name}: {registry.fetch(name)}")
    return 0


def _add_finetune(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a trained model on a few scored nights of your lab",
        description="Start from a published or shipped model and train it on N scored nights of the "
        "lab's epoch stores (split by recording: N training nights, held-out validation "
        "nights for early stopping, the rest test nights for before/after metrics). "
        "--curve fine-tunes on 0, 1, 2, 4, 8 nights instead and writes a learning curve. "
        "A killed run continues with --resume.",
    )
    p.add_argument("--model", required=True, help="model to start from: file (.pt / original .tar) or model name")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="the lab's epoch stores (.h5) with hypnograms")
    p.add_argument("--out", type=Path, required=True, help="the model file (.pt) to write; with --curve a folder")
    p.add_argument(
        "--freeze",
        choices=["cnn", "none"],
        default="cnn",
        help="cnn: train only the sequence head / classifier (default); none: everything, smaller lr",
    )
    p.add_argument("--nights", type=int, help="training nights (default: all but the validation and test nights)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    p.add_argument("--draw", type=int, default=0, help="which draw of training nights from the pool (default 0)")
    p.add_argument("--validation-nights", type=int, default=1, help="held-out nights for early stopping (default 1)")
    p.add_argument(
        "--test-nights",
        type=int,
        help="held-out nights for the before/after metrics (default: all left; 1 without --nights)",
    )
    p.add_argument("--epochs", type=int, default=10, help="maximum passes over the training nights (default 10)")
    p.add_argument("--patience", type=int, default=3, help="early stopping: passes without a better validation loss")
    p.add_argument(
        "--lr",
        type=float,
        help="Adam learning rate (default: 1e-4 with --freeze none; with --freeze cnn "
        "1e-2 for the cnn variant, 1e-3 for sequence variants)",
    )
    p.add_argument("--imbalance", choices=_IMBALANCE, default="oversampling", help="class-imbalance handling")
    p.add_argument("--batch-size", type=int, default=64, help="epochs per batch (per-epoch training)")
    p.add_argument("--resume", action="store_true", help="continue from <out>.resume if a killed run left one")
    g = p.add_argument_group("learning curve")
    g.add_argument("--curve", action="store_true", help="fine-tune on several night counts; --out is a folder")
    g.add_argument(
        "--curve-nights",
        type=lambda t: tuple(int(v) for v in _names(t)),
        default=(0, 1, 2, 4, 8),
        help="night counts of the curve (default 0,1,2,4,8; capped by the data)",
    )
    g.add_argument("--draws", type=int, default=1, help="draws of training nights per count (default 1)")
    g.add_argument(
        "--adapt",
        action="store_true",
        help="also score each test night with the model adapted to it without labels (stqs score --adapt)",
    )
    g.add_argument(
        "--human-reference",
        type=Path,
        default=None,
        help="folder of scorer_*/<night>.json hypnograms for the human band (default: stored DOD-H)",
    )
    p.set_defaults(func=_cmd_finetune)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from ._atomic import check_output
    from .finetune import finetune, learning_curve

    inputs = [*args.data, *_model_inputs(args.model)]
    check_output(args.out, inputs, folder=args.curve)
    if not args.curve:
        check_output(args.out.with_name(args.out.name + ".resume"), inputs)

    options = dict(
        freeze=args.freeze,
        seed=args.seed,
        validation_nights=args.validation_nights,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        imbalance=args.imbalance,
        batch_size=args.batch_size,
    )
    if args.curve:
        from .adapt import adapt_model

        adapters = {"off": None, **({"on": adapt_model} if args.adapt else {})}
        learning_curve(
            args.model,
            args.data,
            args.out,
            nights=args.curve_nights,
            draws=args.draws,
            adapters=adapters,
            human_reference=args.human_reference,
            **options,
        )
        print((args.out / "curve.md").read_text(), end="")
        print(f"-> {args.out}/curve.csv, curve.md, curve.png")
        return 0
    result = finetune(
        args.model,
        args.data,
        args.out,
        nights=args.nights,
        draw=args.draw,
        test_nights=args.test_nights,
        resume=args.resume,
        **options,
    )
    print(
        f"fine-tuned {args.model} on {len(result.split['train'])} night(s) ({', '.join(result.split['train'])}), "
        f"freeze {args.freeze} -> {result.path}"
    )
    for label, m in (("before", result.before), ("after", result.after)):
        print(
            f"{label}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, kappa {m['kappa']:.3f} "
            f"on {len(result.split['test'])} test night(s) ({m['n_scored']} epochs)"
        )
    return 0


def _is_cohort(args: argparse.Namespace) -> bool:
    """Whether ``stqs score`` scores a cohort: anything but one recording with --out a file name."""
    if len(args.recording) != 1 or args.manifest:
        return True
    one = args.recording[0]
    return (
        one.is_dir()
        or one.suffix.lower() == ".csv"
        or (not one.exists() and any(c in str(one) for c in "*?["))
        or args.out.is_dir()
        or not args.out.suffix
    )


def _cmd_score_cohort(args: argparse.Namespace) -> int:
    from .cohort import score_cohort
    from .errors import StqsError

    if args.annotations:
        raise StqsError(
            "--annotations names one night's hypnogram: for a cohort give an 'annotations' column in --manifest"
        )
    inputs = [*args.recording, *([args.manifest] if args.manifest else [])]
    if not inputs:
        raise StqsError("nothing to score: give recordings, a folder, a glob or --manifest")
    options = {k: v for k, v in _channels(args).items() if v}
    adapt = args.adapt_method or args.adapt
    options.update({k: v for k, v in (("adapt", adapt), ("review_below", args.review_below)) if v})
    if args.triage:
        options["triage"] = True
    result = score_cohort(
        inputs,
        args.out,
        args.model,
        workers=args.workers,
        scheduler=args.scheduler,
        fmt=args.format,
        **options,
    )
    failed = result.failed
    print(
        f"{len(result.rows)} nights: {result.n_scored - len(failed)} scored, {result.n_skipped} already done, "
        f"{len(failed)} failed -> {result.csv}"
    )
    for row in failed:
        print(f"failed {row['path']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0


COMMANDS = (
    _add_score,
    _add_prepare,
    _add_demo,
    _add_notebooks,
    _add_train,
    _add_evaluate,
    _add_simulate,
    _add_interpret,
    _add_dashboard,
    _add_models,
    _add_finetune,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stqs", description="STQS: interpretable multi-modal sleep staging.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None, fast_exit: bool = False) -> int:
    """Run one ``stqs`` command; returns its exit code.

    Bad input (a :class:`~stqs_core.errors.StqsError`) prints one line and returns 2; any other exception is a
    bug and propagates with its traceback. ``fast_exit`` (the console script): after ``stqs score``, whose output
    is written and closed, leave with ``os._exit`` instead of tearing down PyTorch's modules, which takes 0.4 s of
    a 3-s command.
    """
    from .allocator import keep_freed_memory
    from .errors import StqsError

    keep_freed_memory()  # the command owns its process: fast CPU inference and training
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args.func(args)
    except StqsError as err:  # bad input: one line (-v adds the traceback); anything else is a bug and shows its own
        if args.verbose:
            traceback.print_exc()
        print(f"stqs {args.command}: error: {err}", file=sys.stderr)
        code = 2
    if fast_exit and args.command == "score":
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def run() -> None:
    """The ``stqs`` console script."""
    sys.exit(main(fast_exit=True))


if __name__ == "__main__":
    run()
