"""``graphdistill {condense,evaluate,experts} <modality> ...`` and ``graphdistill bench SPEC.toml``.

The modalities are found through the ``graphdistill.modalities`` entry points; this module imports none
of them and holds nothing specific to one.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Sequence

from graphdistill import __version__
from graphdistill.core import distributed
from graphdistill.core.errors import InputError
from graphdistill.core.modality import modalities


class _OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes end like every other bad input: exit code 2 and one line (``--help`` shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"graphdistill: error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="graphdistill", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"graphdistill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    found = modalities()
    condense = commands.add_parser("condense", help="synthesize a small dataset").add_subparsers(
        dest="modality", required=True, metavar="{" + ",".join(found) + "}")
    evaluate = commands.add_parser("evaluate", help="train models on a condensed dataset and test them"
                                   ).add_subparsers(dest="modality", required=True, metavar="{" + ",".join(found) + "}")
    with_experts = {name: modality for name, modality in found.items() if modality.expert_config is not None}
    experts = commands.add_parser("experts", help="train expert trajectories for trajectory matching"
                                  ).add_subparsers(dest="modality", required=True, metavar="{" + ",".join(with_experts) + "}")
    for name, modality in found.items():
        modality.configure_condense(condense.add_parser(name, help=modality.help))
        modality.configure_evaluate(evaluate.add_parser(name, help=f"evaluate: {modality.help}"))
    for name, modality in with_experts.items():
        modality.configure_experts(experts.add_parser(name, help=f"experts: {modality.help}"))
    from graphdistill.bench import configure_bench

    configure_bench(commands.add_parser("bench", help="run a benchmark spec: JSON + Markdown + PNG plots"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = ["graphdistill", *argv]
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    try:
        if args.command == "bench":
            from graphdistill.bench import run_bench

            return run_bench(args)
        modality = modalities()[args.modality]
        if args.command == "condense" and args.nproc < 1:
            raise InputError(f"--nproc must be at least 1 (got {args.nproc})")
        if args.command == "condense" and args.nproc > 1 and not distributed.launched():
            again = [*args.command_line, *([] if args.resume else ["--resume"])]
            return distributed.launch(args.nproc, argv, f"the last checkpoint is kept in {args.out}.partial: "
                                                        f"continue with {' '.join(again)}")
        if args.command == "condense":
            condensed = modality.run_condense(args)
            if not distributed.world().main:
                return 0
            summary = {"out": args.out, "modality": modality.name, "budget": condensed.meta["budget"],
                       "wall_s": condensed.meta["wall_s"]}
            print(json.dumps(summary) if args.json else modality.condense_summary(condensed, args.out))
        elif args.command == "experts":
            result = modality.run_experts(args)
            print(json.dumps(result) if args.json else
                  f"{modality.name} {args.dataset}: {result['experts']} experts in {result['directory']} "
                  f"({result['bytes'] / 2**20:.1f} MiB, epochs {result['kept_epochs']}) in {result['wall_s']:.1f} s")
        else:
            result = modality.run_evaluate(args)
            print(json.dumps(result) if args.json else modality.summary(result))
    except InputError as exc:
        if distributed.world().main:  # the other ranks read the same inputs; the launcher names the rank that ended
            print(f"graphdistill: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except distributed.PeerLost as exc:
        print(f"graphdistill: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        if args.command == "condense" and out:
            print(f"graphdistill: interrupted; the last checkpoint is kept in {out}.partial: continue with "
                  f"{' '.join(args.command_line)} --resume", file=sys.stderr)
        else:
            print("graphdistill: interrupted", file=sys.stderr)
        return 130
    finally:
        distributed.leave()
    return 0


if __name__ == "__main__":
    sys.exit(main())
