"""Benchmark a model: eager vs torch.compile, ours vs the reference formulation (markdown table).

    python tools/bench.py lightweight_isp_efficient [--batch-size 4] [--size 256] [--repeats 10]
"""

import argparse

from zoo.bench import run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    print(run_bench(args.name, args.batch_size, args.size, args.repeats, args.device))
