"""docs/benchmarks.md: its data (``docs/benchmarks.json``), row by row, and the tables rendered from it.

``zoo bench --all --markdown docs/benchmarks.md`` measures every model; ``python tools/bench.py --all --models A B
--markdown docs/benchmarks.md`` measures A and B only. Either way each finished model's rows replace that model's
rows in the JSON (the others stay, with the date, load and thread count of the run that measured them), and the page's
tables are rendered again from all of it. ``python tools/bench.py --profile [GOAL ...] --markdown docs/benchmarks.md``
profiles the rows of the issue's goals (:data:`GOALS`) and renders the goals section: each goal's measured ratio,
whether it is met, and, where not, the op profile that explains it.

Rendering reads only the JSON: every figure on the page was written by the bench.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from zoo.bench import best_column, group_shares, ops_table, paths_table, row_notes

MARKERS = {"bench": ("<!-- bench:start -->", "<!-- bench:end -->"), "goals": ("<!-- goals:start -->", "<!-- goals:end -->")}


@dataclass(frozen=True)
class Goal:
    """A target of issue 16: the paths row of ``model`` whose label starts with ``what``, at least ``ratio`` times as
    fast as the official formulation compiled (and, where given, at least ``ceiling`` of the GEMM ceiling)."""

    label: str
    model: str
    what: str
    ratio: float
    ceiling: float | None = None

    @property
    def key(self) -> str:
        return f"{self.model}: {self.what}"


GOALS = (
    Goal("EfficientISP", "lightweight_isp_efficient", "generator", 2.0),
    Goal("RMFA-Net tiny", "lightweight_isp_rmfa_tiny", "generator", 2.0),
    Goal("Rawformer", "rawformer", "generator", 1.6),
    Goal("TecoGAN", "tecogan", "step", 1.5),
    Goal("UNEM, 100 tasks", "unem_gaussian", "100 tasks", 2.0),
    Goal("UNEM, 10 tasks", "unem_gaussian", "10 tasks", 2.0),
    Goal("Meta-Transformer B/16, 8x197 (the issue's target row)", "meta_transformer_b16", "encoder 8x197", 1.0, 0.9),
)

TORCH_COLUMNS = ("zoo eager", "zoo compiled", "zoo frozen")


# ------------------------------------------------------------------------------------------------------ the store
def store_path(markdown: str | Path) -> Path:
    return Path(markdown).with_suffix(".json")


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock beside ``path``: benches of different models may finish at the same time."""
    import hashlib
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"zoo-bench-page-{digest}.lock", "w") as lock:  # not beside the docs
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_store(markdown: str | Path) -> dict:
    """The page's data: ``{"by_model": {model: run entry}, "profiles": {goal key: profile}}`` (not ``"models"``: that
    key marks evaluation pages, which cards embed)."""
    path = store_path(markdown)
    store = json.loads(path.read_text()) if path.is_file() else {}
    store.setdefault("by_model", {})
    store.setdefault("profiles", {})
    return store


def _write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a bench stopped mid-write leaves the old page whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _save_store(markdown: str | Path, store: dict) -> None:
    _write_atomic(store_path(markdown), json.dumps(store, indent=1, sort_keys=False) + "\n")


def write_between_markers(path: Path, section: str, text: str) -> None:
    """Replace the text between ``section``'s markers (:data:`MARKERS`); append the markers when the page has none."""
    begin, end = MARKERS[section]
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        new = old[: old.index(begin) + len(begin)] + "\n" + text + "\n" + old[old.index(end):]
    else:
        new = f"{old}\n{begin}\n{text}\n{end}\n" if old else f"{begin}\n{text}\n{end}\n"
    _write_atomic(path, new)


def merge_and_render(markdown: str | Path, entries: dict[str, dict]) -> str:
    """Merge ``{model: entry}`` (``zoo.bench.run_all``'s) into the page's JSON and render the page's sections.

    A failed model keeps its previous rows, marked with the failure. Returns the rendered bench section.
    """
    path = Path(markdown)
    with _locked(store_path(path)):
        store = load_store(path)
        for name, entry in entries.items():
            old = store["by_model"].get(name, {})
            store["by_model"][name] = {**old, "failed": entry["failed"], "failed_date": entry["date"]} if "failed" in entry and old.get("rows") else entry
        _save_store(path, store)
        text = render(store)
        write_between_markers(path, "bench", text)
        if MARKERS["goals"][0] in path.read_text():
            write_between_markers(path, "goals", render_goals(store))
    return text


# ------------------------------------------------------------------------------------------------------ rendering
def _ordered(models: dict) -> list[str]:
    import zoo

    registered = zoo.list_models()
    return sorted(models, key=lambda n: (registered.index(n) if n in registered else len(registered), n))


def _run_line(name: str, e: dict) -> str:
    if "run" in e:  # rows carried over from a run whose per-model data was only on the page
        line = f"- `{name}`: {e['run']}"
    elif "rows" in e:
        line = f"- `{name}`: {e['date']}, {e['device']}, torch {e['torch']}, load average {e['load']}: {e['seconds']} s wall, {e['cpu_seconds']} s CPU (bench process, all threads)"
    else:
        line = f"- `{name}`: no rows"
    if "failed" in e:
        line += f"; failed at {e.get('failed_date', e.get('date'))}: {e['failed']}" + (" (the rows above are from the earlier run)" if e.get("rows") else "")
    return line


def render(store: dict) -> str:
    """The bench section: the paths table of every stored model, the notes, each model's run, and the op rows."""
    names = _ordered(store["by_model"])
    models = store["by_model"]
    rows = [(n, r) for n in names for r in models[n].get("rows", [])]
    ops = [(n, r) for n in names for r in models[n].get("ops", [])]
    return "\n".join([
        "Each cell: median ms per call, and in brackets the median of the per-round ratios against the reference "
        "formulation compiled (>1: faster). Rows come from the runs listed under the table (date, load, threads): the "
        "ratios of one row are from one process; rows of different runs are not comparable in ms.",
        "", *paths_table(rows), "", *row_notes(rows), "",
        "Runs (one bench process per line; its wall time includes compiles, exports, warm-up and the timed rounds):", "",
        *[_run_line(n, models[n]) for n in names], "",
        "Op rows (each fused op against its eager reference, at the model's own shapes):", "", *ops_table(ops),
    ])


def find_row(store: dict, goal: Goal) -> dict | None:
    rows = store["by_model"].get(goal.model, {}).get("rows", [])
    return next((r for r in rows if r["what"].startswith(goal.what)), None)


def _groups(profile: dict) -> dict[str, float]:
    """A stored profile's group shares, regrouped from its per-op shares where it has them (groups may be refined)."""
    return group_shares(profile["ops"]) if "ops" in profile else profile["groups"]


def _short(op: str, width: int = 64) -> str:
    """An op name cut to ``width`` characters (Inductor's kernel names list every op they fused)."""
    return op if len(op) <= width else op[: width - 1] + "…"


def _groups_text(groups: dict[str, float]) -> str:
    return ", ".join(f"{g} {100 * v:.0f}%" for g, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 0.005)


def render_goals(store: dict) -> str:
    """The goals section: one line per goal of :data:`GOALS` from the stored rows, then each stored profile."""
    lines = [
        "| goal | target | zoo frozen (default torch path) | best torch column | onnxruntime | best | best's share of the GEMM ceiling | met? | profile of the best torch column (self CPU time) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for goal in GOALS:
        r = find_row(store, goal)
        target = f"≥ {goal.ratio:g}×" + (f", ≥ {100 * goal.ceiling:.0f}% of the ceiling" if goal.ceiling else "")
        if r is None:
            lines.append(f"| {goal.label} | {target} | not measured | – | – | – | – | – | – |")
            continue
        best, torch_best = best_column(r), best_column(r, TORCH_COLUMNS)
        share = r["ceiling_share"].get(best)
        ceiling_ok = goal.ceiling is None or (share is not None and share >= goal.ceiling)
        if r["ratio"][torch_best] >= goal.ratio and ceiling_ok:
            met = f"yes ({torch_best})"
        elif r["ratio"][best] >= goal.ratio and ceiling_ok:
            met = "with onnxruntime only"
        else:
            met = "no"
        ort = f"{r['ratio']['onnxruntime']:.2f}×" if "onnxruntime" in r["ratio"] else "–"
        frozen = f"{r['ratio']['zoo frozen']:.2f}×" if "zoo frozen" in r["ratio"] else "–"
        profile = store["profiles"].get(goal.key, {}).get("columns", {}).get(torch_best)
        lines.append(
            f"| {goal.label} | {target} | {frozen} | {torch_best} {r['ratio'][torch_best]:.2f}× | {ort} | **{r['ratio'][best]:.2f}×** ({best}) | "
            f"{'–' if share is None else f'{100 * share:.0f}%'} | {met} | {_groups_text(_groups(profile)) if profile else 'not profiled'} |"
        )
    lines += ["", "Ratios: the bracketed per-round medians of the table above (against the official formulation compiled, "
              "same process, weights and input). Profiles: `python tools/bench.py --profile`, at the row's input."]
    for key, p in store["profiles"].items():
        lines += ["", f"**{key}** ({p['date']}, {p['threads']} thread(s), load average {p['load']}; {p.get('note', '')})".replace("; )", ")"), ""]
        lines += ["| column | share of the GEMM ceiling (this profile's rounds) | op groups | top ops by self CPU time |", "|---|---|---|---|"]
        for column, c in p["columns"].items():
            top = ", ".join(f"`{_short(op)}` {100 * v:.0f}%" for op, v in c["top"][:6])
            lines.append(f"| {column} | {100 * c['ceiling_share']:.0f}% | {_groups_text(_groups(c))} | {top} |")
    return "\n".join(lines)


def render_goals_into(markdown: str | Path) -> None:
    path = Path(markdown)
    with _locked(store_path(path)):
        write_between_markers(path, "goals", render_goals(load_store(path)))


# ------------------------------------------------------------------------------------------------------ profiles
def profile_goal(goal: Goal, store: dict, rounds: int = 3) -> dict:
    """Profile a goal's row at its default input: zoo eager (the network as it is) and the best torch column of the
    stored row (compiled graphs with their kernels named), each with its share of the GEMM ceiling over ``rounds``
    rounds alternating with the GEMM."""
    import os
    from datetime import datetime, timezone

    import torch

    import zoo
    from zoo import bench

    record = find_row(store, goal)
    model = zoo.create(goal.model).eval()
    row = next(p for p in bench.model_paths(model, None, None) if p.what.startswith(goal.what))
    torch_best = best_column(record, TORCH_COLUMNS) if record else "zoo eager"
    columns = ["zoo eager"] + ([torch_best] if torch_best != "zoo eager" else [])
    net, xs, device = row.zoo.eval(), row.inputs, torch.device("cpu")
    builders = {
        "zoo eager": lambda: net,
        "zoo compiled": lambda: bench.profiled_compile(net),
        "zoo frozen": lambda: bench.profiled_compile(net, frozen_graph=True, channels_last=row.channels_last),
    }
    gemm, gemm_gflops = bench.gemm_call(device)
    out = {"columns": {}, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "threads": torch.get_num_threads(),
           "load": round(os.getloadavg()[0], 1), "what": row.what}
    with torch.no_grad():
        gflops = bench.counted_gflops(lambda: net(*xs))
        for column in columns:
            fn = builders[column]()
            call = lambda fn=fn: fn(*xs)  # noqa: E731
            bench.warm_up(call, device)
            times = bench.measure_rounds([call, gemm], rounds, device)
            share = statistics.median((gflops / t) / (gemm_gflops / g) for t, g in zip(*times))
            out["columns"][column] = {**bench.profile_ops(call), "ceiling_share": share}
    return out


def profile_into(markdown: str | Path, goals: list[str] | None = None, log=print) -> None:
    """Profile the goals (labels or model names; default: every goal) and render the goals section of ``markdown``."""
    store = load_store(markdown)
    chosen = [g for g in GOALS if (g.label in goals or g.model in goals)] if goals else list(GOALS)
    for goal in chosen:
        log(f"profiling {goal.key} ...")
        result = profile_goal(goal, store)
        with _locked(store_path(markdown)):
            store = load_store(markdown)
            store["profiles"][goal.key] = result
            _save_store(markdown, store)
        log(f"{goal.key}: {json.dumps({c: v['groups'] for c, v in result['columns'].items()})}")
    render_goals_into(markdown)
