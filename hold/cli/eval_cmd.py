"""`hold-fast eval`: score result folders against sequences with ground truth (HOLD's metrics),
or run the input-only baselines."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval", help="score a result against ground truth (MPJPE, CD, F5/F10, CD_h)",
        description=__doc__ + " RESULT_DIR and SEQ_DIR may be one result/sequence folder each, or "
        "two roots whose sub-folders pair up by name (then the mean over sequences is reported).",
    )
    p.add_argument("result_dir", nargs="?", metavar="RESULT_DIR")
    p.add_argument("seq_dir", nargs="?", metavar="SEQ_DIR")
    p.add_argument("--hold-exact", action="store_true",
                   help="HOLD's own evaluation code, approximated (vertices, first frame, restarts)")
    p.add_argument("--baselines", metavar="SEQ_DIR",
                   help="instead: write and score the baselines for SEQ_DIR (a sequence or a root)")
    p.add_argument("--out", metavar="DIR",
                   help="with --baselines: where to write them (default: SEQ_DIR + '_baselines')")
    p.add_argument("--json", metavar="PATH", help="also write all metrics as JSON")
    p.set_defaults(run=run)


def _is_sequence(path: Path) -> bool:
    return (path / "meta.json").is_file()


def run(args) -> int:
    from tqdm import tqdm

    from hold.eval.baselines import write_baselines
    from hold.eval.protocol import evaluate_many, evaluate_result, format_table, sequence_folders
    from hold.io.atomic import write_json_atomic
    from hold.io.errors import InputError

    if args.baselines is not None:
        if args.result_dir is not None or args.seq_dir is not None:
            raise InputError("--baselines SEQ_DIR takes no RESULT_DIR/SEQ_DIR arguments")
        seqs = Path(args.baselines)
        out = Path(args.out) if args.out else seqs.with_name(seqs.name + "_baselines")
        if _is_sequence(seqs):
            write_baselines(seqs, out)
            summary = {"sequences": {seqs.name: evaluate_result(out, seqs, args.hold_exact)}}
        else:
            for folder in tqdm(sequence_folders(seqs), desc="baselines", unit="seq"):
                write_baselines(folder, out / folder.name)
            summary = evaluate_many(out, seqs, args.hold_exact)
        print(f"baselines written to {out}")
    else:
        if args.result_dir is None or args.seq_dir is None:
            raise InputError("give RESULT_DIR and SEQ_DIR (or --baselines SEQ_DIR)")
        results, seqs = Path(args.result_dir), Path(args.seq_dir)
        if _is_sequence(seqs):
            summary = {"sequences": {seqs.name: evaluate_result(results, seqs, args.hold_exact)}}
        else:
            summary = evaluate_many(results, seqs, args.hold_exact)
    print(format_table(summary["sequences"], summary.get("mean")))
    if args.json:
        write_json_atomic(args.json, summary)
    return 0
