"""The ``zoo`` command.

    zoo list [PATTERN]                 models, as a table
    zoo info NAME                      spec, checkpoint record and config as JSON
    zoo demo [-m NAME] [-o OUT.png]    shipped ISP on the bundled RAW sample -> before/after PNG
    zoo predict NAME [INPUT [QUERY]] -o OUT [--modality M] [--direction ab|ba] [--weights DIR [--official]] [--device D]
                [--KEY VALUE ...]      run a model on a file; OUT's suffix picks the format; other --KEY VALUE options
                                       go to the model's predict (``zoo predict --help``)
    zoo train RECIPE.yaml [ARGS...]    LightningCLI ``fit`` with the recipe (extra args override it;
                                       ``--init_weights zoo:NAME`` fine-tunes from a shipped checkpoint)
    zoo export-weights CKPT DIR        a Lightning checkpoint -> a Hub-layout weights folder ``zoo.load`` reads
    zoo card NAME                      the model card as it stands on the Hub
    zoo bench NAME                     zoo's paths (eager, compiled, frozen, onnxruntime) vs the official formulation
    zoo bench --all --markdown FILE    every model, one table (docs/benchmarks.md)
    zoo unlearn METHOD --model NAME --forget SPEC -o OUT [--evaluate]
                                       unlearn part of a zoo model's training set (``zoo unlearn --list``: methods)
    zoo export NAME -o OUT [--modality M] [--direction ab|ba] [--opset N] [--weights DIR]
                                       ONNX graph(s) of the model, checked against onnxruntime (the ``export`` extra)

Bad arguments or input end with one line on stderr, ``zoo COMMAND: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from dataclasses import asdict
from pathlib import Path


def _cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import REGISTRY, list_models, models_table

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        which = " with a shipped checkpoint" if args.pretrained else ""
        print(f"no model{which} matches {args.pattern!r}; registered: {', '.join(sorted(REGISTRY))}", file=sys.stderr)
        return 1
    lines = models_table().splitlines()
    print("\n".join(lines[:2] + [l for l in lines[2:] if l.split("`")[1] in names]))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from zoo.registry import checkpoint_record, get_spec, pinned_revision

    spec = get_spec(args.name)
    record = checkpoint_record(args.name)
    fields = {**asdict(spec), "record_type": spec.record_type.__name__, "pinned_revision": pinned_revision(spec)}
    print(json.dumps({"spec": fields, "checkpoint": record.to_dict() if record else None}, indent=2))
    return 0


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DATA_SUFFIXES = (".json", ".npz", ".npy")


def _device(text: str | None):
    """``--device`` -> a torch device that exists here (None: the default, CPU)."""
    if text is None:
        return None
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise ValueError(f"--device: expected cpu, cuda, cuda:N or mps, received {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: expected an available device, received {text!r} (no CUDA device here: torch.cuda.is_available() is False)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device: expected cuda:0 to cuda:{torch.cuda.device_count() - 1}, received {text!r}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device: expected an available device, received {text!r} (MPS is not available here)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device: expected cpu, cuda, cuda:N or mps, received {text!r}")
    return device


def _check_output(output: str, inputs: list[str | None], suffixes: tuple[str, ...], new_folder: bool = False) -> Path:
    """``-o``: a file of a known suffix, none of the inputs, in an existing directory (or, with ``new_folder``, in one
    the command creates)."""
    path = Path(output)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"-o: expected a file name ending in one of {', '.join(suffixes)}, received {output!r}")
    if path.is_dir():
        raise ValueError(f"-o: expected a file name, received {output!r} (a directory)")
    if not new_folder and not path.resolve().parent.is_dir():
        raise ValueError(f"-o: expected a file in an existing directory, received {output!r} (no directory {str(path.parent)!r})")
    if any(i is not None and Path(i).resolve() == path.resolve() for i in inputs):
        raise ValueError(f"-o: expected a file other than the input, received {output!r} (it would overwrite the input)")
    return path


def _cmd_demo(args: argparse.Namespace) -> int:
    from zoo.demo import DEMO_MODEL, run_demo
    from zoo.registry import REGISTRY, get_spec

    isp = get_spec(DEMO_MODEL).module
    if get_spec(args.model).module != isp:
        names = ", ".join(sorted(n for n, spec in REGISTRY.items() if spec.module == isp))
        raise ValueError(f"-m/--model: expected a RAW-to-RGB ISP model ({names}), received {args.model!r}")
    _check_output(args.output, [], IMAGE_SUFFIXES, new_folder=True)  # run_demo creates the folder
    path = run_demo(args.model, args.output)
    print(f"before/after written to {path}")
    return 0


def _light_class(args: argparse.Namespace) -> type | None:
    """The model's light pipeline class when ``zoo predict`` can use it (torch backend, not an official file)."""
    if args.official or getattr(args, "backend", "torch") != "torch":
        return None
    from zoo.pipelines import pipeline_class

    return pipeline_class(args.name)


def _load(args: argparse.Namespace, light: bool = False):
    """``zoo.load`` with ``--weights``, ``--official`` and ``--device``; an official file that fails to read is one line.

    With ``light``, the model's light pipeline when it has one (no Lightning import: a fast cold start).
    """
    import pickle
    import zipfile

    import zoo

    device = _device(args.device)
    if light and _light_class(args) is not None:
        return zoo.pipeline(args.name, weights=args.weights, device=device)
    backend = getattr(args, "backend", "torch")  # zoo predict --backend
    if not args.official:
        return zoo.load(args.name, weights=args.weights, device=device, backend=backend)
    if args.weights is None:
        raise ValueError("--official: expected --weights PATH (the official checkpoint file or run directory), received none")
    try:
        return zoo.load(args.name, weights=args.weights, device=device, official=True, backend=backend)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, AttributeError, TypeError, LookupError) as error:
        # torch.load and the converters fail in their own ways on a file that is not a checkpoint; the first line says which.
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(
            f"--weights: expected an official {args.name} checkpoint (--official), received {args.weights!r} ({type(error).__name__}: {first})"
        ) from None


def _load_npy(path: Path, what: str):
    """An .npy array, or an .npz file as a dict of arrays; pickled objects are refused."""
    import zipfile

    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return dict(data.items())
        return data
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{what}: expected a readable {path.suffix} file of numeric arrays, received {str(path)!r} ({error})") from None


def _read_input(path: str, query: str | None):
    """``INPUT [QUERY]`` -> what ``predict`` takes: arrays from .npy / .npz files (an .npz of support, support_labels
    and query arrays is a few-shot task, of nodes and adjacency a graph, of one array that array); other files and
    folders as paths."""
    from zoo.core import checks

    source = Path(path)
    if query is not None:
        support = _load_npy(checks.check_path(source, "SUPPORT"), "SUPPORT")
        queries = _load_npy(checks.check_path(query, "QUERY"), "QUERY")
        if not isinstance(support, dict) or not {"support", "support_labels"} <= set(support):
            raise ValueError(f"SUPPORT: expected an .npz file with arrays support and support_labels, received {path!r}")
        queries = queries.get("query", next(iter(queries.values()), None)) if isinstance(queries, dict) else queries
        return {"support": support["support"], "support_labels": support["support_labels"], "query": queries}
    if source.suffix.lower() not in (".npy", ".npz"):
        return path
    data = _load_npy(checks.check_path(source, "INPUT"), "INPUT")
    if not isinstance(data, dict):
        return data
    if {"support", "support_labels", "query"} <= set(data):
        return {key: data[key] for key in ("support", "support_labels", "query")}
    if {"nodes", "adjacency"} <= set(data):
        return data["nodes"], data["adjacency"]
    if len(data) == 1:
        return next(iter(data.values()))
    raise ValueError(f"INPUT: expected an .npz of one array, of support/support_labels/query or of nodes/adjacency, received arrays {sorted(data)}")


def _as_numpy(value):
    """Tensors -> numpy arrays, inside dicts too."""
    if isinstance(value, dict):
        return {key: _as_numpy(v) for key, v in value.items()}
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _write_output(result, output: Path) -> None:
    """Write ``predict``'s result in the format ``output``'s suffix names (videos are written by ``predict_to_file``).

    Images (PIL images, (H, W, 3) / (3, H, W) arrays in [0, 1] or uint8) as image files; labels, probabilities, values
    and features as JSON (``{"value": ...}`` for a bare number or array) or NPZ; one array as NPY.
    """
    import numpy as np

    suffix = output.suffix.lower()
    result = np.asarray(result) if hasattr(result, "getbands") and suffix not in IMAGE_SUFFIXES else _as_numpy(result)
    is_array = isinstance(result, np.ndarray)
    if suffix in IMAGE_SUFFIXES:
        if hasattr(result, "save"):
            result.save(output)
            return
        image = np.moveaxis(result, 0, -1) if is_array and result.ndim == 3 and result.shape[0] in (1, 3) and result.shape[-1] not in (1, 3) else result
        if not (is_array and (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3)))):
            raise ValueError(f"-o: expected .json or .npz for this model's output, received {output.name!r} (the output is {_kind(result)}, not an image)")
        from PIL import Image

        image = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image).save(output)
    elif suffix == ".npy":
        if not is_array:
            raise ValueError(f"-o: expected .json or .npz for this model's output, received {output.name!r} (the output is {_kind(result)}, not one array)")
        np.save(output, result)
    elif suffix == ".npz":
        np.savez(output, **(result if isinstance(result, dict) else {"value": result}))
    else:
        output.write_text(json.dumps(_jsonable(result if isinstance(result, dict) else {"value": result})) + "\n")


def _kind(result) -> str:
    from zoo.core.checks import describe

    return "a dict of " + ", ".join(sorted(result)) if isinstance(result, dict) else describe(result)


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def _split_predict_options(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take the model's own options (``--person P``, ``--expression=smile``) out of a ``zoo predict`` command line.

    Every ``--key VALUE`` that ``zoo predict`` does not define itself becomes the string keyword ``key=VALUE`` of
    the model's ``predict`` (dashes -> underscores); :func:`_cmd_predict` refuses the ones ``predict`` does not take.

    Returns:
        The command line without those options, and option name -> value.
    """
    if "predict" not in argv or argv.index("predict") != next((i for i, a in enumerate(argv) if not a.startswith("-")), -1):
        return argv, {}
    start = argv.index("predict") + 1
    known = set(_PREDICT_PARSER._option_string_actions) if _PREDICT_PARSER is not None else set()
    rest, options, i = argv[:start], {}, start
    while i < len(argv):
        token = argv[i]
        key, sep, value = token.partition("=")
        if token == "--":
            rest += argv[i:]
            break
        if token.startswith("--") and key not in known and len(key) > 2:
            if not sep:
                if i + 1 >= len(argv):
                    raise ValueError(f"{key}: expected a value after it, received none")
                value, i = argv[i + 1], i + 1
            options[key[2:].replace("-", "_")] = value
        else:
            rest.append(token)
        i += 1
    return rest, options


def _output_suffixes(model_class: type) -> tuple[str, ...]:
    """The output suffixes a model writes itself with ``predict_to_file`` (videos for the video models)."""
    from zoo.core.files import VIDEO_SUFFIXES

    if not hasattr(model_class, "predict_to_file"):
        return ()
    return tuple(getattr(model_class, "OUTPUT_SUFFIXES", VIDEO_SUFFIXES))


def _is_many(args: argparse.Namespace) -> bool:
    """``zoo predict NAME DIR_OR_GLOB -o OUT_DIR/``: many inputs, when INPUT is a glob pattern, or a folder while -o
    names a folder (a trailing slash, an existing folder, or no suffix). A frame folder to a video file stays one input."""
    if args.input is None or args.query is not None:
        return False
    import glob

    out = args.output
    out_is_folder = out.endswith(("/", os.sep)) or Path(out).is_dir() or not Path(out).suffix
    if Path(args.input).is_dir():
        return out_is_folder
    # a pattern that matches files; text that only looks like one ("Where was she born?") goes to predict as it is
    return not Path(args.input).exists() and any(c in args.input for c in "*?[") and (out_is_folder or bool(glob.glob(args.input)))


def _many_inputs(pattern: str) -> list[Path]:
    """The files a glob pattern or a folder names, sorted; hidden files left out."""
    import glob

    source = Path(pattern)
    paths = sorted(source.iterdir()) if source.is_dir() else sorted(Path(p) for p in glob.glob(pattern))
    files = [p for p in paths if p.is_file() and not p.name.startswith(".")]
    if not files:
        raise ValueError(f"INPUT: expected a folder or glob pattern that names files, received {pattern!r} (no file matches)")
    return files


def _looks_like_image(result) -> bool:
    import numpy as np

    if hasattr(result, "getbands"):
        return True
    array = result.detach().cpu().numpy() if hasattr(result, "detach") else result
    return isinstance(array, np.ndarray) and (array.ndim == 2 or (array.ndim == 3 and 3 in (array.shape[0], array.shape[-1])))


def _predict_many(args: argparse.Namespace, own_suffixes: tuple[str, ...]) -> int:
    """Run the model over every file of a folder or glob, one output per input in ``-o OUT_DIR`` (``<stem><suffix>``),
    with a progress bar on a terminal (none with --quiet or when stderr is not a terminal)."""
    from zoo.core.progress import progress

    files = _many_inputs(args.input)
    out_dir = Path(args.output)
    if out_dir.is_file():
        raise ValueError(f"-o: expected a folder for the outputs of {len(files)} inputs, received {args.output!r} (a file)")
    suffix = args.suffix.lower() if args.suffix else None
    if suffix is not None and suffix not in IMAGE_SUFFIXES + own_suffixes + DATA_SUFFIXES:
        raise ValueError(f"--suffix: expected one of {', '.join(IMAGE_SUFFIXES + own_suffixes + DATA_SUFFIXES)}, received {args.suffix!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    model, options = _load(args, light=True), _predict_options(args)
    _check_predict_options(args, model, options, has_input=True)
    for path in progress(files, args.name, unit="file"):
        try:
            if suffix in own_suffixes:
                model.predict_to_file(str(path), out_dir / f"{path.stem}{suffix}", **options)
                continue
            result = model.predict(_read_input(str(path), None), **options)
            chosen = suffix or (".png" if _looks_like_image(result) else ".json")
            _write_output(result, out_dir / f"{path.stem}{chosen}")
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if not args.quiet:
        print(f"wrote {len(files)} outputs to {out_dir}")
    return 0


def _predict_options(args: argparse.Namespace) -> dict[str, str]:
    options = {key: value for key, value in (("modality", args.modality), ("direction", args.direction)) if value is not None}
    options.update(getattr(args, "model_options", {}))
    return options


def _check_predict_options(args: argparse.Namespace, model, options: dict[str, str], has_input: bool) -> None:
    """Refuse the options ``model.predict`` does not take, and name the ones it needs that are missing."""
    import inspect

    accepted = inspect.signature(model.predict).parameters
    for key in options:
        if key not in accepted and key in ("modality", "direction"):
            raise ValueError(f"--{key}: expected only for models whose predict takes a {key}, received it for {args.name}")
        if key not in accepted:
            flag = "--" + key.replace("_", "-")
            takes = ", ".join("--" + k.replace("_", "-") for k in list(accepted)[1:] if accepted[k].kind is not inspect.Parameter.VAR_KEYWORD)
            raise ValueError(f"{flag}: expected one of the options {args.name}'s predict takes ({takes or 'none'}), received {flag}")
    required = [k for k, p in accepted.items() if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    missing = [k for k in required[1 if has_input else 0 :] if k not in options]
    if missing:
        what = "INPUT" if not has_input and missing[0] == required[0] and len(required) == 1 else ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ValueError(f"expected {what} for {args.name}, received none")


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.quiet:
        os.environ["ZOO_QUIET"] = "1"  # every bar of this run, the model's own (video frames) included
    from zoo.core.files import VIDEO_SUFFIXES
    from zoo.registry import get_spec, resolve_class

    own_suffixes = _output_suffixes(_light_class(args) or resolve_class(get_spec(args.name)))
    if _is_many(args):
        return _predict_many(args, own_suffixes)
    output = _check_output(args.output, [args.input, args.query], IMAGE_SUFFIXES + VIDEO_SUFFIXES + own_suffixes + DATA_SUFFIXES)
    if output.suffix.lower() in VIDEO_SUFFIXES and output.suffix.lower() not in own_suffixes:
        raise ValueError(f"-o: expected an image, .json, .npz or .npy output for {args.name}, received {args.output!r} (a video)")
    options = _predict_options(args)
    x = _read_input(args.input, args.query) if args.input is not None else None
    model = _load(args, light=True)
    _check_predict_options(args, model, options, has_input=x is not None)
    inputs = () if x is None else (x,)
    if output.suffix.lower() in own_suffixes:  # models that write their own formats (videos stream frame by frame)
        model.predict_to_file(*inputs, output, **options)
    else:
        _write_output(model.predict(*inputs, **options), output)
    if not args.quiet:
        print(f"wrote {output}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from zoo.training import run_cli

    # `zoo train fit ...` is LightningCLI's own subcommand: its usage and error hints name `zoo train fit --help`.
    command = ["fit", *args.overrides] if args.recipe == "fit" else ["fit", "--config", args.recipe, *args.overrides]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")  # zoo passes its own args on purpose
        try:
            run_cli(command, prog="zoo train")
        except SystemExit as done:  # jsonargparse exits after --help (0) and after printing a bad argument's usage (2)
            return done.code if isinstance(done.code, int) else 2
    return 0


def _cmd_export_weights(args: argparse.Namespace) -> int:
    from zoo.core import checks
    from zoo.training import export_weights

    checks.check_path(args.checkpoint, "CHECKPOINT")
    out = Path(args.directory)
    if out.is_file():
        raise ValueError(f"DIRECTORY: expected a folder for the weights, received {args.directory!r} (a file)")
    folder = export_weights(args.checkpoint, out)
    print(f"wrote {folder} (load it with zoo.load(NAME, weights={str(folder)!r}) or ZooModule.from_pretrained)")
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    import zoo

    print(str(zoo.card(args.name)))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from zoo.bench import run_all, run_bench

    if args.all:
        print(run_all(None, args.markdown, log=lambda line: print(line, file=sys.stderr, flush=True)))
        return 0
    if args.name is None or args.markdown:
        raise ValueError("zoo bench: expected a model name, or --all (with --markdown FILE to write the table), received "
                         + ("--markdown without --all" if args.markdown else "neither"))
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

    if args.list or getattr(args, "taxonomy", False):
        from zoo.unlearning.taxonomy import text_table

        if args.list:
            for name in method_names():
                defaults = ", ".join(f"{k}={v!r}" for k, v in hyperparameters(METHODS[name]).items())
                print(f"{name}: {defaults}")
            print()
        print(text_table())  # every family's methods: intention (SoK), approach (survey), where measured
        return 0
    if not (args.method and args.model and args.forget and args.output):
        raise ValueError("expected METHOD, --model, --forget and -o/--output (or --list)")
    if args.quiet:
        os.environ["ZOO_QUIET"] = "1"  # the method's and the retraining's bars
    return _run_unlearn(args)


def _run_unlearn(args: argparse.Namespace) -> int:
    import zoo
    from zoo.unlearning import compare_methods, make_split, run_method
    from zoo.unlearning.api import check_hyperparameters
    from zoo.unlearning.report import results_table
    from zoo.unlearning.splits import ForgetSpec

    # Everything a user typed is checked before the model loads and anything trains.
    forget = ForgetSpec.parse(args.forget)
    hparams = _parse_assignments(args.set, "--set")
    retrain = {"progress": False, **_parse_assignments(args.retrain, "--retrain")}
    check_hyperparameters(args.method, hparams)
    check_hyperparameters("retrain", retrain)
    out = Path(args.output)
    if out.is_file():
        raise ValueError(f"-o: expected a directory for the unlearned weights, received {args.output!r} (a file)")
    model = zoo.load(args.model, weights=args.weights, device=_device(args.device))
    if not hasattr(model, "unlearning_dataset"):
        raise ValueError(f"--model: expected a classifier or regressor with a training set to split, received {args.model}")
    dataset, train, test = model.unlearning_dataset()
    split = make_split(dataset.tensors[1].numpy(), train, test, forget, seed=args.seed)
    split.save(out / "split.json")
    task = model.config.task
    if args.evaluate:
        rows, nets = compare_methods(model.net, dataset, split, task, {args.method: {"method": args.method, **hparams}}, retrain, retrain_progress=True)
        (out / "metrics.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(results_table(rows, task))
        net, seconds = nets[args.method], rows[args.method]["seconds"]
    else:
        net, seconds = run_method(model.net, args.method, dataset, split, task, **hparams)
    model.load_net_state(net.state_dict())
    model.save_pretrained(out)
    _write_unlearning_run(out, args, hparams, retrain, split, seconds)
    print(f"{args.method}: forgot {len(split.forget)} samples ({split.forget_spec}) in {seconds:.1f} s; wrote {out}")
    return 0


UNLEARNING_RUN_NAME = "unlearning.json"


def _write_unlearning_run(out: Path, args: argparse.Namespace, hparams: dict, retrain: dict, split, seconds: float) -> None:
    """``unlearning.json`` beside the unlearned weights: what made them (as OpenUnlearning saves its run config).

    The method with its hyper-parameters as given and as run (defaults filled in), the source model, the forget
    specification and seed (``split.json`` holds the indices), the retrained reference's settings when ``--evaluate``
    measured against it, the wall time and the zoo version.
    """
    from zoo import __version__
    from zoo.unlearning.api import METHODS
    from zoo.unlearning.base import hyperparameters

    run = {
        "method": args.method,
        "hyperparameters": hparams,
        "resolved_hyperparameters": {**hyperparameters(METHODS[args.method]), **hparams},
        "model": args.model,
        "weights": args.weights,
        "forget": split.forget_spec,
        "seed": args.seed,
        "split": "split.json",
        "split_fingerprint": split.fingerprint(),
        "retrain": retrain if args.evaluate else None,
        "seconds": seconds,
        "zoo_version": __version__,
    }
    (out / UNLEARNING_RUN_NAME).write_text(json.dumps(run, indent=2, default=str) + "\n")


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that say what was expected and what was received, exit status 2."""

    def error(self, message: str):
        if "expected" in message:
            message = f"{message} (`{self.prog} --help` lists the options)"
        else:  # argparse's own: "unrecognized arguments: --x", "invalid choice: ..."
            message = f"expected the arguments `{self.prog} --help` lists, received {message}"
        self.exit(2, f"{self.prog}: error: {message}\n")


PREDICT_HELP = """\
Run a model on a file. INPUT is an image, a RAW PNG, a video or a frame folder (video models), an .npy array, or an
.npz holding one array, a graph (nodes, adjacency) or a few-shot task (support, support_labels, query); UNEM also takes
SUPPORT.npz (support, support_labels) and QUERY.npy as two inputs. The output's suffix chooses its format: an image
(.png, .jpg, ...), a video (.mp4, ...; video models stream frame by frame), .json or .npz for labels, probabilities,
values and features, .npy for one array. Accepted values: images as uint8, or floats in [0, 1]; RAW as integer sensor
counts up to the model's white level (1023 for the shipped ISP), or floats normalised by black and white level; features,
series and coordinates finite, of magnitude up to 1e6. Bad input ends with one line naming what was expected and what
was received, exit status 2.

Models with named inputs or targets take them as options: any --KEY VALUE that zoo predict does not define itself is
passed to the model's predict as KEY="VALUE" (dashes become underscores), and refused if predict has no such
parameter. Models that write their own formats (videos, meshes) choose them from OUT's suffix.

Many inputs: INPUT a folder or a quoted glob pattern and -o a folder (OUT_DIR/) write one output per input,
OUT_DIR/<stem><suffix>, with a progress bar on a terminal (--quiet: none).

examples:
  zoo predict allcnn_mnist_classifier digit.png -o label.json
  zoo predict lightweight_isp_efficient raws/ -o rgbs/                 # every file of raws/ -> rgbs/<stem>.png
  zoo predict allcnn_mnist_classifier "digits/*.png" -o labels/ --quiet
  zoo predict lightweight_isp_efficient raw.png -o rgb.png
  zoo predict rawformer a.png -o b.png --direction ab
  zoo predict tecogan clip.mp4 -o clip_x4.mp4
  zoo predict meta_transformer_tiny points.npy --modality point_cloud -o out.json
  zoo predict unem_gaussian support.npz query.npy -o out.json
"""


def _cmd_export(args: argparse.Namespace) -> int:
    """``zoo export``: one ONNX graph per entry point (``-o DIR/``) or the one picked (``-o FILE.onnx``), each run with
    onnxruntime; exit status 1 when one fails to export or differs from PyTorch by more than ``--atol``."""
    import zoo
    from zoo.export import export_onnx, format_report

    model = zoo.load(args.name, weights=args.weights)
    options = {"modality": args.modality, "direction": args.direction, "opset": args.opset, "dynamic": not args.static}
    try:
        results = export_onnx(model, args.output, keep_going=True, **options)
    except ModuleNotFoundError as error:
        print(f"zoo export: error: {error}", file=sys.stderr)
        return 2
    print(format_report(results))
    failed = [n for n, r in results.items() if r["path"] is None or r["max_abs_diff"] > args.atol]
    if failed:
        print(f"zoo export: {', '.join(failed)}: not exported or above --atol {args.atol:g}", file=sys.stderr)
    return 1 if failed else 0


_PREDICT_PARSER: argparse.ArgumentParser | None = None  # set by build_parser: its options are zoo's, the rest the model's


def build_parser() -> argparse.ArgumentParser:
    from zoo import __version__

    parser = _Parser(prog="zoo", description="Model zoo of unpaired translation and machine-unlearning models.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default=None, help="shell-style filter, e.g. '*isp*'")
    p.add_argument("--pretrained", action="store_true", help="only the models with a shipped checkpoint")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="spec and checkpoint record of a model")
    p.add_argument("name")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="run the shipped ISP on the bundled RAW sample")
    p.add_argument("-m", "--model", default="lightweight_isp_efficient", help="a RAW-to-RGB ISP model")
    p.add_argument("-o", "--output", default="zoo_demo.png", help="an image file")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "predict", help="run a model on an input file", description=PREDICT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("name")
    p.add_argument("input", nargs="?", default=None, help="input file or frame folder (UNEM: SUPPORT.npz); models with named inputs take them as options instead")
    p.add_argument("query", nargs="?", default=None, help="UNEM only: QUERY.npy, the query features of the task in INPUT")
    p.add_argument("-o", "--output", required=True, help="output file; its suffix chooses the format")
    p.add_argument("--modality", default=None, help="Meta-Transformer: the input's modality (default: the model's first, e.g. image)")
    p.add_argument("--direction", default=None, choices=("ab", "ba"), help="Rawformer, CycleGAN: A -> B (default) or B -> A")
    p.add_argument("--weights", default=None, help="local weights directory (default: shipped, then Hub); with --official, the official checkpoint")
    p.add_argument("--official", action="store_true", help="read --weights as the authors' checkpoint file (convert.py)")
    p.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N or mps")
    p.add_argument("--suffix", default=None, help="with many inputs: the outputs' suffix (default: .png for images, else .json)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    p.add_argument(
        "--backend", default="torch", choices=("torch", "onnxruntime"),
        help="onnxruntime: run the network's cached ONNX export (CPU; the export extra); docs/benchmarks.md says where it is faster",
    )
    p.set_defaults(func=_cmd_predict)
    global _PREDICT_PARSER
    _PREDICT_PARSER = p

    p = sub.add_parser("train", help="train from a recipe (LightningCLI fit)")
    p.add_argument("recipe", help="a recipe YAML; `zoo train fit --help` lists LightningCLI's options")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="LightningCLI overrides, e.g. --trainer.max_epochs=2")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export-weights", help="turn a Lightning checkpoint (last.ckpt) into a Hub-layout weights folder")
    p.add_argument("checkpoint", help="a .ckpt file written by zoo train")
    p.add_argument("directory", help="the weights folder to write (model.safetensors, config.json, README.md, sha256.json)")
    p.set_defaults(func=_cmd_export_weights)

    p = sub.add_parser("card", help="print the model card")
    p.add_argument("name")
    p.set_defaults(func=_cmd_card)

    p = sub.add_parser("bench", help="zoo's inference paths vs the official formulation (eager, compiled, frozen, onnxruntime), markdown")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--all", action="store_true", help="every registered model, one table")
    p.add_argument("--markdown", default=None, help="with --all: write the table into this file (docs/benchmarks.md)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="default: the model's own (sized for 3 minutes on 2 cores)")
    p.add_argument("--size", type=_positive_int, default=None, help="output side in pixels (default: the model's own)")
    p.add_argument("--repeats", type=_positive_int, default=10, help="the most timed rounds per row")
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
    p.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N or mps")
    p.add_argument("--list", action="store_true", help="list the methods and their hyper-parameters, then every family's methods in the taxonomy")
    p.add_argument("--taxonomy", action="store_true", help="only the taxonomy: intention (removal / suppression), approach, where measured")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (none either when stderr is not a terminal)")
    p.set_defaults(func=_cmd_unlearn)

    p = sub.add_parser("export", help="export to ONNX (torch.export + dynamo exporter), checked against onnxruntime")
    p.add_argument("name")
    p.add_argument("-o", "--output", required=True, help="an .onnx file for one graph, else a directory: one <name>.onnx per entry point")
    p.add_argument("--modality", default=None, help="Meta-Transformer: export only this modality")
    p.add_argument("--direction", default=None, choices=("ab", "ba"), help="Rawformer: export only A -> B or B -> A")
    p.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--static", action="store_true", help="static shapes: the example batch and sizes (faster to export)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest accepted absolute difference from PyTorch (default 1e-4)")
    p.add_argument("--weights", default=None, help="local weights directory (default: shipped, then Hub)")
    p.set_defaults(func=_cmd_export)
    return parser


# Lines that optional libraries log on import, by logger: torchao (the ``int8`` extra) is imported by transformers and
# diffusers whenever it is installed; torch 2.14 logs a deprecation per Enum that torchao registers, and diffusers
# warns that its torchao serialisation types moved. Neither concerns a zoo command.
_IMPORT_NOISE = {
    "torch.utils._pytree": "register_constant() on Enum subclasses is deprecated",
    "diffusers.quantizers.torchao.torchao_quantizer": "Unable to import `torchao` Tensor objects",
}


class _DropImportNoise(logging.Filter):
    """Drops the records whose message contains ``text`` (one known line of :data:`_IMPORT_NOISE`)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


_NOISE_FILTERS = {logger: _DropImportNoise(text) for logger, text in _IMPORT_NOISE.items()}

def main(argv: list[str] | None = None) -> int:
    """Run the ``zoo`` command; returns the exit status (2: bad arguments or input, the one-line reason on stderr)."""
    for logger, noise in _NOISE_FILTERS.items():
        logging.getLogger(logger).addFilter(noise)  # the same object each call: added once
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, model_options = _split_predict_options(argv)
    except ValueError as error:
        print(f"zoo predict: error: {error}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # argparse exits for --help, --version and bad arguments
        return done.code if isinstance(done.code, int) else 2
    args.model_options = model_options
    try:
        try:  # a reader that closes the pipe early (`zoo list | head`) ends the command quietly, as the Python docs do
            code = args.func(args)
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the flush at exit cannot fail
            return 1
        return code
    except (KeyError, ValueError, OSError, ModuleNotFoundError) as error:  # an optional extra missing is one line too
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"zoo {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
