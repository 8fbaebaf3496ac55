"""Benchmark models: zoo's inference paths against the official formulation, as per-round ratios (markdown).

    python tools/bench.py lightweight_isp_efficient [--batch-size 1] [--size 1024] [--repeats 10]
    python tools/bench.py --all --markdown docs/benchmarks.md              # every model, one table
    python tools/bench.py --all --models rawformer tecogan --markdown docs/benchmarks.md
    python tools/bench.py --cold-start [--repeats 5]   # zoo predict in a fresh interpreter against `import torch`
    python tools/bench.py --profile [GOAL_OR_MODEL ...] --markdown docs/benchmarks.md   # profiles of the issue's goals

--threads sets torch's thread count (each row records it). With --markdown, each finished model's rows replace its own
rows in docs/benchmarks.json and the page is rendered again from all rows (zoo/bench_page.py).
"""

import argparse
import sys

import torch

from zoo.bench import DEFAULT_BUDGET_S, cold_start, run_all, run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?")
    parser.add_argument("--all", action="store_true", help="every registered model (or those of --models), one table")
    parser.add_argument("--models", nargs="+", help="with --all: only these models")
    parser.add_argument("--markdown", help="with --all: write the table into this file (between its bench markers)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the package's, sized for 3 minutes on 2 cores")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds of timed rounds per row")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--no-onnx", action="store_true", help="leave out the onnxruntime column")
    parser.add_argument("--device", default=None)
    parser.add_argument("--profile", nargs="*", default=None, metavar="GOAL", help="profile the goals' rows (labels or model names; none: all) into --markdown's goals section")
    parser.add_argument("--cold-start", action="store_true", help="time zoo predict (ISP) and zoo.load in fresh interpreters against import torch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile is not None:
        from zoo.bench_page import profile_into

        if not args.markdown:
            parser.error("--profile writes the page's goals section: expected --markdown FILE")
        profile_into(args.markdown, args.profile, log=lambda line: print(line, file=sys.stderr, flush=True))
    elif args.cold_start:
        print("\n".join(cold_start(args.repeats, log=lambda line: print(line, file=sys.stderr, flush=True))))
    elif args.all:
        print(run_all(args.models, args.markdown, args.device, args.budget, not args.no_onnx, log=lambda line: print(line, file=sys.stderr, flush=True)))
    elif args.name:
        print(run_bench(args.name, args.batch_size, args.size, args.repeats, args.device, args.budget, onnx=not args.no_onnx))
    else:
        parser.error("expected a model name or --all")
