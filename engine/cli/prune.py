"""``prune``: fine-grained magnitude pruning of a finished run into a new, recorded run."""

from __future__ import annotations

import argparse

from engine.console import console


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="prune a trained run's smallest weights into a new run (optionally fine-tuned)",
        description="Zero the smallest-magnitude conv and linear weights of RUN's final network "
        "(torch.nn.utils.prune, fine-grained), then record the pruned network as a new run "
        "that remembers its parent. With --finetune-epochs it trains on with the zeros held.",
        epilog="example:\n  python -m engine prune vggcifar-cifar10 --sparsity 0.5 "
        "--finetune-epochs 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", help="a finished run (name under runs/ or a folder)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="fraction zeroed (0.5)")
    parser.add_argument(
        "--scope", default="global", help="global (rank all layers together, default) or layer"
    )
    parser.add_argument("--finetune-epochs", type=int, default=0, help="default 0: no fine-tune")
    parser.add_argument("--name", help="the new run (default: RUN-pruned<percent>)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.analysis.pruning import prune_run
    from engine.store import Run, schema

    result, report = prune_run(
        args.run,
        args.sparsity,
        scope=args.scope,
        finetune_epochs=args.finetune_epochs,
        name=args.name,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    parent_acc = float(Run(args.run).read(schema.VAL_ACC, -1))
    console.print(
        f"pruned {report.sparsity:.0%} of the conv and linear weights ({report.scope} ranking): "
        f"{report.nonzero_before:,} → {report.nonzero_after:,} non-zero parameters "
        f"({report.mib_before:.2f} → {report.mib_after:.2f} MiB); validation accuracy "
        f"{parent_acc:.1%} → {result.val_acc:.1%}. New run: {result.folder}"
    )
    return 0
