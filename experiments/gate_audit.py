"""The gate audit's runs: the StabilityGate audited like a classifier on worlds it has never seen.

Each run trains the pipeline's tiny ranker (`config.settings.tiny_preset`: its world, model, batch, steps and log
window, no learning-rate warm-up) with the lab's runner (`experiments.runner.train_run`: the same generator,
tf.Transform preprocessing, ranker, optimizers and Keras metrics as the Trainer) on day 0 of a held-out world and
evaluates it on day 1, the next day, as the pipeline's Evaluator does. The training curve is what the Trainer writes
into `training_report.json` (loss and per-window training AUCs every `log_every_steps` steps); the gate's decision
is `models.stability.judge_report` on it with the pipeline's `StabilityConfig`, computed when the audit is analysed
(`experiments.audit_analysis`), so the runs never depend on the detector under test.

The plan is fixed before any run (`AuditPlan`): the world seeds the rule `held_out_seeds` picked when the plan
was written (the first five integers from 1000 up that appeared as no integer literal in the repository's `tests/`
or `config/`; kept as data so that a later test cannot move them, and guarded by a test that they stay unused
there), every method at every learning rate, the training seed equal to the world seed. Results: `DIR/audit.csv`
(one row per run, appended atomically and resumed like a sweep) and `DIR/world_<seed>/curves/<run_id>.json`.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from experiments import results as R
from experiments.presets import LabPreset
from experiments.runner import RunSpec

AUDIT_FILE = "audit.csv"
AUDIT_COLUMNS: tuple[str, ...] = (
    "world_seed",
    "method",
    "learning_rate",
    "seed",
    "auc_click",
    "auc_like",
    "auc_share",
    "auc_dismiss",
    "rmse_watch_time",
    "nonfinite",
    "stop_reason",
    "final_train_loss",
    "steps",
    "wall_s",
    "cpu_s",
    "run_id",
)
REPO = pathlib.Path(__file__).resolve().parent.parent
#: Where the repository's seeds live: every integer literal in these trees is excluded from the held-out seeds.
SEED_SOURCES: tuple[str, ...] = ("tests", "config")

#: The Adagrad-family learning rates: the pipeline's 0.05, then x10 steps to far past naive Adagrad's limit.
ADAGRAD_LRS: tuple[float, ...] = (0.05, 0.5, 5.0, 50.0)
#: Adam's per-coordinate step is ~lr from the first step: a scale 10-20x below Adagrad's.
ADAM_LRS: tuple[float, ...] = (0.003, 0.03, 0.3, 3.0)


@dataclass(frozen=True)
class AuditMethod:
    """One optimizer of the audit: `name` for `models.optimizers.make_optimizer`, its parameters, its rates."""

    name: str
    learning_rates: tuple[float, ...]
    params: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class AuditPlan:
    """Everything the audit runs, fixed before the first run.

    Attributes:
      world_seeds: `held_out_seeds(5, 1000, repository_integers(tests/, config/))` when the plan was written.
      methods: the optimizers and their learning rates (every one on every world).
      pipeline_preset: the pipeline preset whose world, model and training protocol are audited.
      workers: training processes in parallel.
    """

    world_seeds: tuple[int, ...] = (1002, 1004, 1005, 1006, 1007)
    methods: tuple[AuditMethod, ...] = (
        AuditMethod("adagrad", ADAGRAD_LRS),
        AuditMethod("adam", ADAM_LRS),
        AuditMethod("gc", ADAGRAD_LRS, (("clip_norm", 0.1),)),
        AuditMethod("clippy", ADAGRAD_LRS, (("absolute_threshold", 1e-2), ("variable_relative_threshold", 0.5))),
    )
    pipeline_preset: str = "tiny"
    workers: int = 2
    seed_sources: tuple[str, ...] = field(default=SEED_SOURCES)

    @property
    def runs_per_world(self) -> int:
        return sum(len(m.learning_rates) for m in self.methods)


def repository_integers(roots: Iterable[pathlib.Path], skip: pathlib.Path | None = None) -> set[int]:
    """Every integer literal (Python source, ast) under `roots`, except in the file `skip` (a plan's own module):
    the seeds the repository's tests and presets use."""
    found: set[int] = set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if skip is not None and path.resolve() == skip.resolve():
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Constant) and type(node.value) is int:
                    found.add(node.value)
    return found


def held_out_seeds(count: int, first: int, excluded: set[int]) -> tuple[int, ...]:
    """The rule that picks the audit's worlds: the first `count` integers >= `first` that are not in `excluded`."""
    seeds: list[int] = []
    candidate = first
    while len(seeds) < count:
        if candidate not in excluded:
            seeds.append(candidate)
        candidate += 1
    return tuple(seeds)


def reused_seeds(plan: AuditPlan, repo: pathlib.Path = REPO) -> set[int]:
    """The plan's world seeds that the repository's tests or configuration now use (should be none)."""
    roots = [repo / name for name in plan.seed_sources]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise FileNotFoundError(f"the held-out seed check reads the repository's {missing}; run from a checkout")
    return set(plan.world_seeds) & repository_integers(roots)


def audit_lab_preset(plan: AuditPlan, world_seed: int) -> LabPreset:
    """The pipeline preset's day-0 training and day-1 evaluation, as a lab preset the runner understands."""
    from config.settings import StabilityConfig, get_preset

    pipeline = get_preset(plan.pipeline_preset)
    train = pipeline.train
    world = dataclasses.replace(pipeline.world, seed=world_seed, start_day=0, num_days=2, shocks=())
    day = world.impressions_per_day
    window = train.log_every_steps
    steps_per_pass = (day // train.batch_size) // window * window
    return LabPreset(
        name=f"gate-audit-{world_seed}",
        world=world,
        transform=pipeline.transform,
        embedding_dim=pipeline.model.embedding_dim,
        batch_size=train.batch_size,
        passes_per_day=max(1, round(train.train_steps / steps_per_pass)),
        window=window,
        eval_every_windows=10**6,  # the next-day evaluation runs once, at the end (the Evaluator's)
        eval_examples=day,
        embedding_learning_rate=train.embedding_learning_rate,
        warmup_steps=0,
        workers=plan.workers,
        stability=StabilityConfig(),  # unused by the audit's analysis, which judges with the pipeline's config
        sizes=("tiny",),
        methods=tuple(m.name for m in plan.methods),
        recovery_runs=False,
    )


def audit_specs(plan: AuditPlan, world_seed: int) -> list[RunSpec]:
    """Every method at every rate on one world; the runner's multiplier is the learning rate itself (base 1)."""
    return [
        RunSpec(m.name, "tiny", lr, world_seed, m.params, stage="gate_audit")
        for m in plan.methods
        for lr in m.learning_rates
    ]


def world_dir(out_dir: str, world_seed: int) -> str:
    return os.path.join(out_dir, f"world_{world_seed}")


def audit_run_id(world_seed: int, spec: RunSpec) -> str:
    return f"w{world_seed}.{spec.run_id}"


_WORKER: dict[Any, Any] = {}


def _worker_init(threads: int) -> None:
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _worker_run(plan: AuditPlan, world_seed: int, spec: RunSpec, out_dir: str) -> dict[str, Any]:
    from experiments.data import prepare_data
    from experiments.runner import train_run

    preset = audit_lab_preset(plan, world_seed)
    if world_seed not in _WORKER:
        _WORKER[world_seed] = prepare_data(world_dir(out_dir, world_seed), preset.world, preset.transform, log=print)
    outcome = train_run(spec, _WORKER[world_seed], preset, 1.0)
    R.write_curves(world_dir(out_dir, world_seed), spec.run_id, outcome.curves)
    row = outcome.row
    return {
        **{k: row.get(k) for k in AUDIT_COLUMNS if k in row},
        "world_seed": world_seed,
        "run_id": audit_run_id(world_seed, spec),
        "nonfinite": outcome.curves["stop_reason"] is not None,
        "stop_reason": outcome.curves["stop_reason"] or "",
        "cpu_s": outcome.curves["cpu_s"],
    }


def run_audit(out_dir: str, plan: AuditPlan = AuditPlan(), log: Callable[[str], None] = print) -> list[int]:
    """Trains every planned run not yet in `DIR/audit.csv`; returns the world seeds."""
    import multiprocessing

    from experiments.data import prepare_data

    os.makedirs(out_dir, exist_ok=True)
    seeds = plan.world_seeds
    log(f"gate audit: held-out world seeds {list(seeds)} ({plan.runs_per_world} runs each)")
    path = os.path.join(out_dir, AUDIT_FILE)
    done = R.done_run_ids(path)
    todo = [(w, s) for w in seeds for s in audit_specs(plan, w) if audit_run_id(w, s) not in done]
    total, started, finished = len(seeds) * plan.runs_per_world, time.time(), 0
    if not todo:
        log(f"gate audit: all {total} runs done")
        return list(seeds)
    with ProcessPoolExecutor(
        max_workers=plan.workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(1 if plan.workers > 1 else 0,),
    ) as pool:
        futures = []
        for world_seed in sorted({w for w, _ in todo}):  # a world's data here, while the workers train the last one
            preset = audit_lab_preset(plan, world_seed)
            prepare_data(world_dir(out_dir, world_seed), preset.world, preset.transform, log=log)
            futures += [pool.submit(_worker_run, plan, w, s, out_dir) for w, s in todo if w == world_seed]
        for future in as_completed(futures):
            row = future.result()
            R.append_row(path, row, AUDIT_COLUMNS)
            finished += 1
            elapsed = time.time() - started
            eta = elapsed / finished * (len(todo) - finished)
            log(
                f"[{len(done) + finished}/{total}] {row['run_id']}: next-day click AUC {row['auc_click']:.4f}"
                f"{' NON-FINITE' if row['nonfinite'] else ''} (cpu {row['cpu_s']:.0f}s) "
                f"elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min"
            )
    return list(seeds)


def rows_of(out_dir: str) -> Sequence[dict[str, Any]]:
    return R.read_rows(os.path.join(out_dir, AUDIT_FILE))
