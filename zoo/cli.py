"""The ``zoo`` command.

    zoo list [PATTERN]                 models, as a table
    zoo info NAME                      spec, checkpoint record and config as JSON
    zoo demo [-m NAME] [-o OUT.png]    shipped ISP on the bundled RAW sample -> before/after PNG
    zoo predict NAME INPUT -o OUT      run a model on a file (video models: a video in, a video out)
    zoo train RECIPE.yaml [ARGS...]    LightningCLI ``fit`` with the recipe (extra args override it)
    zoo card NAME                      the model card as it stands on the Hub
    zoo bench NAME                     eager vs torch.compile (and vs the reference formulation)
    zoo unlearn METHOD --model NAME --forget SPEC -o OUT [--evaluate]
                                       unlearn part of a zoo model's training set (``zoo unlearn --list``: methods)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def _cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import REGISTRY, list_models, models_table

    names = list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}; registered: {', '.join(sorted(REGISTRY))}", file=sys.stderr)
        return 1
    lines = models_table().splitlines()
    print("\n".join(lines[:2] + [l for l in lines[2:] if l.split("`")[1] in names]))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from zoo.registry import checkpoint_record, get_spec

    spec = get_spec(args.name)
    record = checkpoint_record(args.name)
    fields = {**asdict(spec), "record_type": spec.record_type.__name__}
    print(json.dumps({"spec": fields, "checkpoint": record.to_dict() if record else None}, indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from zoo.demo import run_demo

    path = run_demo(args.model, args.output)
    print(f"before/after written to {path}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import zoo

    model = zoo.load(args.name, weights=args.weights, device=args.device)
    if hasattr(model, "predict_to_file"):  # video models stream input to output (e.g. clip.mp4 -> out.mp4)
        model.predict_to_file(args.input, args.output)
        print(f"wrote {args.output}")
        return 0
    result = model.predict(args.input)
    if hasattr(result, "save"):
        result.save(args.output)
    else:
        _save_array(result, args.output)
    print(f"wrote {args.output}")
    return 0


def _save_array(result, output: str) -> None:
    """Write a (3, H, W) / (H, W, 3) tensor or array in [0, 1] as an 8-bit image."""
    import numpy as np
    from PIL import Image

    array = result.numpy() if hasattr(result, "numpy") else result
    array = np.moveaxis(array, 0, -1) if array.ndim == 3 and array.shape[0] == 3 else array
    Image.fromarray((np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)).save(output)


def _cmd_train(args: argparse.Namespace) -> int:
    from zoo.training import run_cli

    run_cli(["fit", "--config", args.recipe, *args.overrides])
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    import zoo

    print(str(zoo.card(args.name)))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from zoo.bench import run_bench

    print(run_bench(args.name, batch_size=args.batch_size, size=args.size, repeats=args.repeats))
    return 0


def _parse_assignments(items: list[str], what: str) -> dict:
    """``["lr=0.001", "layers=[\"conv1\"]"]`` -> ``{"lr": 0.001, "layers": ["conv1"]}`` (JSON values, else strings)."""
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what}: expected KEY=VALUE, received {item!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def _cmd_unlearn(args: argparse.Namespace) -> int:
    from zoo.unlearning.api import METHODS, method_names
    from zoo.unlearning.base import hyperparameters

    if args.list:
        for name in method_names():
            defaults = ", ".join(f"{k}={v!r}" for k, v in hyperparameters(METHODS[name]).items())
            print(f"{name}: {defaults}")
        return 0
    if not (args.method and args.model and args.forget and args.output):
        raise ValueError("expected METHOD, --model, --forget and -o/--output (or --list)")
    return _run_unlearn(args)


def _run_unlearn(args: argparse.Namespace) -> int:
    from pathlib import Path

    import zoo
    from zoo.unlearning import compare_methods, make_split, run_method
    from zoo.unlearning.report import results_table

    hparams = _parse_assignments(args.set, "--set")
    retrain = {"progress": False, **_parse_assignments(args.retrain, "--retrain")}
    model = zoo.load(args.model, weights=args.weights, device=args.device)
    if not hasattr(model, "unlearning_dataset"):
        raise ValueError(f"--model: {args.model} is not a classifier or regressor with a training set to split")
    dataset, train, test = model.unlearning_dataset()
    split = make_split(dataset.tensors[1].numpy(), train, test, args.forget, seed=args.seed)
    out = Path(args.output)
    split.save(out / "split.json")
    task = model.config.task
    if args.evaluate:
        rows, nets = compare_methods(model.net, dataset, split, task, {args.method: {"method": args.method, **hparams}}, retrain)
        (out / "metrics.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(results_table(rows, task))
        net, seconds = nets[args.method], rows[args.method]["seconds"]
    else:
        net, seconds = run_method(model.net, args.method, dataset, split, task, **hparams)
    model.net.load_state_dict(net.state_dict())
    model.save_pretrained(out)
    print(f"{args.method}: forgot {len(split.forget)} samples ({split.forget_spec}) in {seconds:.1f} s; wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from zoo import __version__

    parser = argparse.ArgumentParser(prog="zoo", description="Model zoo of unpaired translation and machine-unlearning models.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. '*isp*'")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="spec and checkpoint record of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="run the shipped ISP on the bundled RAW sample")
    p.add_argument("-m", "--model", default="lightweight_isp_efficient")
    p.add_argument("-o", "--output", default="zoo_demo.png")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("predict", help="run a model on an input file")
    p.add_argument("name")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--weights", default=None, help="local weights directory (default: shipped, then Hub)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("train", help="train from a recipe (LightningCLI fit)")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="LightningCLI overrides, e.g. --trainer.max_epochs=2")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("card", help="print the model card")
    p.add_argument("name")
    p.set_defaults(func=_cmd_card)

    p = sub.add_parser("bench", help="eager vs torch.compile benchmark, markdown table")
    p.add_argument("name")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--size", type=int, default=256, help="output side in pixels")
    p.add_argument("--repeats", type=int, default=10)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("unlearn", help="unlearn part of a model's training set; --evaluate compares with retraining")
    p.add_argument("method", nargs="?", help="unlearning method (zoo unlearn --list)")
    p.add_argument("--model", help="a zoo classifier or regressor")
    p.add_argument("--forget", help="random:0.1 | class:3[,5] | subclass:12 | range:0:2")
    p.add_argument("-o", "--output", help="directory for the unlearned weights, split.json and metrics.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a hyper-parameter of the method (repeatable)")
    p.add_argument("--retrain", action="append", default=[], metavar="KEY=VALUE", help="a hyper-parameter of the retrained reference")
    p.add_argument("--evaluate", action="store_true", help="measure against the model retrained without the forget set (cached)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="local weights directory (default: shipped, then Hub)")
    p.add_argument("--device", default=None)
    p.add_argument("--list", action="store_true", help="list the methods and their hyper-parameters")
    p.set_defaults(func=_cmd_unlearn)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"zoo {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
