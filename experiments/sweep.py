"""`ranker sweep`: calibration, the Table 2 grid, seed repeats, the Table 3 ablation and the stability frontier.

Stages, in this order (each a list of `RunSpec`; later stages read the results of earlier ones):

1. **calibration** (Small, naive Adagrad, `calibration_lrs` x `calibration_seeds`): "1x" is the smallest scanned
   learning rate at which naive Adagrad fully diverges (shared detector) for a majority of the seeds, the way the
   paper implies (its naive runs diverge at 1x on every size). The scan stops at the first such rate; if there is
   none, the largest scanned rate is used and calibration.json says so. The Adam family (naive Adam, Clippy-Adam)
   gets its own "1x" from the same scan with naive Adam over `adam_calibration_lrs`.
2. **probe**: one unclipped run (naive Adagrad, Large, 1x, seed 0) with dense telemetry, for Figure 4.
3. **grid + seeded repeats**: naive Adagrad and Clippy (one configuration each) at every multiplier (seed 0), one
   configuration per baseline (`PRIMARY_PARAMS`) on every size and multiplier, naive Adagrad at 1x (claim C1) and
   Clippy at 2x (claim C2) on the other seeds; then the rest of each baseline grid (seed 0).
4. **repeat**: the best configuration of each other (method, size) (highest final click AUC among non-diverged
   runs) on the remaining seeds, as the paper repeats its best LR 3 times.
5. **ablation** (Table 3 analogue): naive Adagrad on Large+DCN at `ablation_multiplier` x, clean vs one/two tasks
   removed (loss weight 0), half the generated features removed, and the Small model.
6. **frontier**: the best configuration at the `frontier_multipliers` (seed 0).

Runs go to `workers` processes; the parent appends each finished run's row to results.csv (calibration runs to
calibration.csv), so a restarted sweep skips every completed run, and prints progress with an estimate.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from experiments import results as R
from experiments.presets import ADAM_FAMILY, FAMILY_LABELS, PAPER_METHODS, LabPreset, get_lab_preset, lr_family
from experiments.runner import RunSpec
from experiments.summary import write_summary
from models.stability import write_text

CALIBRATION_JSON = "calibration.json"
#: The baselines' configuration run first on every size and multiplier (the thresholds of the paper's Figure 4),
#: so that an interrupted sweep has every method; the rest of each grid follows.
PRIMARY_PARAMS: dict[str, dict[str, float]] = {
    "gc": {"clip_norm": 1e-1},
    "agc": {"clipping": 1e-3},
    "lamb": {"mu": 1e-2},
}
#: Single-configuration methods run on every seed right after calibration, at the multiplier their claim is about.
SEEDED_METHODS: dict[str, float] = {"adagrad": 1.0, "clippy": 2.0}
_WORKER: dict[str, Any] = {}


def _worker_init(out_dir: str, preset_name: str, threads: int) -> None:
    import tensorflow as tf

    from experiments.data import prepare_data

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    preset = get_lab_preset(preset_name)
    _WORKER.update(preset=preset, data=prepare_data(out_dir, preset.world, preset.transform, log=lambda m: None))


def _worker_run(spec: RunSpec, base_lrs: dict[str, float], out_dir: str) -> dict[str, Any]:
    from experiments.runner import train_run

    outcome = train_run(spec, _WORKER["data"], _WORKER["preset"], base_lrs[lr_family(spec.method)])
    R.write_curves(out_dir, spec.run_id, outcome.curves)
    return outcome.row


@dataclass
class Progress:
    """Runs done / total, elapsed time and an estimate of the time left (from this session's mean run time)."""

    total: int
    done: int = 0
    started: float = 0.0
    finished_here: int = 0
    log: Callable[[str], None] = print

    counted: set[str] = dataclasses.field(default_factory=set)

    def count_done(self, run_ids: set[str]) -> None:
        """Counts runs completed earlier (each once, however many stages list it)."""
        self.done += len(run_ids - self.counted)
        self.counted |= run_ids

    def tick(self, row: dict[str, Any]) -> None:
        self.counted.add(row["run_id"])
        self.done += 1
        self.finished_here += 1
        elapsed = time.time() - self.started
        eta = elapsed / self.finished_here * max(self.total - self.done, 0)
        verdict = "DIVERGED" if row["diverged"] else "ok"
        self.log(
            f"[{self.done}/{self.total}] {row['run_id']}: {verdict} auc_click={row['auc_click']:.4f} "
            f"rmse_watch={row['rmse_watch_time']:.4f} ({row['wall_s']:.0f}s, cpu {row.get('cpu_s', math.nan):.0f}s) "
            f"elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min"
        )


class Sweep:
    """Runs the stages of `preset` into `out_dir`, resuming from what is there."""

    def __init__(self, preset: LabPreset, out_dir: str, log: Callable[[str], None] = print, workers: int | None = None):
        self.preset = preset
        self.out_dir = out_dir
        self.log = log
        self.workers = workers or preset.workers
        self.results_path = os.path.join(out_dir, R.RESULTS_FILE)
        self.calibration_path = os.path.join(out_dir, R.CALIBRATION_FILE)
        self.progress = Progress(total=self.planned_total(), log=log)
        self._pool: ProcessPoolExecutor | None = None

    # -- planning ---------------------------------------------------------------------------------------------
    def planned_total(self) -> int:
        """Upper bound of the runs of all stages (calibration counted at its full scan)."""
        p = self.preset
        grid = sum(len(p.grids[m]) for m in p.methods) * len(p.sizes) * len(p.table_multipliers)
        extra_seeds = len(p.seeds) - 1
        repeat = len(p.sizes) * (len(p.methods) + len(SEEDED_METHODS)) * extra_seeds
        frontier = len(p.methods) * len(p.sizes) * len(p.frontier_multipliers)
        if p.frontier_scan:  # an estimate: ~3 lead levels and 4 confirmation runs per (paper method, size)
            frontier += len([m for m in p.methods if m in PAPER_METHODS]) * len(p.sizes) * 7
        ablation = 5 * len(p.ablation_seeds) if "large_dcn" in p.sizes else 0
        scans = len(p.calibration_lrs) + (len(p.adam_calibration_lrs) if self._adam_family() else 0)
        recovery = len(self.recovery_specs())
        if p.no_warmup_g0s:
            recovery += len(p.no_warmup_g0s) + len(p.sizes) * (3 + 2 * len(p.seeds))
        return scans * len(p.calibration_seeds) + grid + repeat + frontier + ablation + recovery + 1

    def _adam_family(self) -> bool:
        return any(m in ADAM_FAMILY for m in self.preset.methods)

    def _done(self) -> set[str]:
        return R.done_run_ids(self.results_path) | R.done_run_ids(self.calibration_path)

    # -- execution --------------------------------------------------------------------------------------------
    def _run(self, specs: Sequence[RunSpec], base_lrs: dict[str, float], path: str) -> list[dict[str, Any]]:
        done = self._done()
        todo, seen = [], set(done)
        for spec in specs:
            if spec.run_id not in seen:
                todo.append(spec)
                seen.add(spec.run_id)
        self.progress.count_done({s.run_id for s in specs} & done)
        if todo:
            pool = self._executor()
            futures = {pool.submit(_worker_run, spec, base_lrs, self.out_dir): spec for spec in todo}
            for future in as_completed(futures):
                row = future.result()
                R.append_row(path, row)
                self.progress.tick(row)
        wanted = {s.run_id for s in specs}
        return [r for r in R.read_rows(path) if r["run_id"] in wanted]

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            threads = 1 if self.workers > 1 else 0
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.out_dir, self.preset.name, threads),
            )
        return self._pool

    def run_at_fixed_rate(self, specs: Sequence[RunSpec], base_lr: float) -> tuple[dict[str, float], float]:
        """An experiment without the calibration stage: prepares the data, then trains `specs` (resuming) with
        `base_lr` as every family's 1x. Returns the base learning rates and the data preparation's seconds."""
        from experiments.data import prepare_data

        os.makedirs(self.out_dir, exist_ok=True)
        started = time.time()
        self.progress.started = started
        prepare_data(self.out_dir, self.preset.world, self.preset.transform, log=self.log)
        data_s = time.time() - started
        self.log(f"data ready ({data_s:.0f}s); planned runs: {self.progress.total}")
        base_lrs = {"adagrad": base_lr, "adam": base_lr}
        try:
            self._run(specs, base_lrs, self.results_path)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
        return base_lrs, data_s

    def run(self) -> dict[str, float]:
        """All stages; returns the calibrated base learning rate of each family. Writes summary.md at the end."""
        from experiments.data import prepare_data

        os.makedirs(self.out_dir, exist_ok=True)
        self.progress.started = time.time()
        started = time.time()
        prepare_data(self.out_dir, self.preset.world, self.preset.transform, log=self.log)
        self.log(f"data ready ({time.time() - started:.0f}s); planned runs: at most {self.progress.total}")
        try:
            base_lrs = self.calibrate()
            self._run([self.probe_spec()], base_lrs, self.results_path)
            # Naive Adagrad and Clippy first, on every seed (claims C1, C2, C11), then the baselines' grids.
            specs = self.grid_specs()
            first = [s for s in specs if s.method in SEEDED_METHODS]
            primary = [s for s in specs if s.params == _params(PRIMARY_PARAMS.get(s.method, {}))]
            self._run(first + primary + self.seeded_repeat_specs(), base_lrs, self.results_path)
            grid = self._run(specs, base_lrs, self.results_path)
            best = R.best_configs(grid)
            self._run(self.repeat_specs(best), base_lrs, self.results_path)
            self._run(self.ablation_specs(), base_lrs, self.results_path)
            self._run(self.recovery_specs(), base_lrs, self.results_path)
            self.no_warmup(best, base_lrs)
            self._run(self.frontier_specs(best), base_lrs, self.results_path)
            self.uncensored_frontier(best, base_lrs)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)

        write_summary(self.out_dir, self.preset, time.time() - started)
        return base_lrs

    # -- stages -----------------------------------------------------------------------------------------------
    def calibrate(self) -> dict[str, float]:
        """ "1x" of each optimizer family (naive Adagrad; naive Adam when an Adam-family method is swept), saved to
        calibration.json: the smallest scanned LR at which the naive optimizer (Small) diverges for most seeds."""
        p = self.preset
        record = self._calibrate_family("adagrad", p.calibration_lrs)
        base_lrs = {"adagrad": record["base_learning_rate"]}
        record["families"] = {}
        if self._adam_family() and p.adam_calibration_lrs:
            adam = self._calibrate_family("adam", p.adam_calibration_lrs)
            record["families"]["adam"] = adam
            base_lrs["adam"] = adam["base_learning_rate"]
        write_text(os.path.join(self.out_dir, CALIBRATION_JSON), json.dumps(record, indent=1))
        return base_lrs

    def _calibrate_family(self, method: str, lrs: Sequence[float]) -> dict[str, Any]:
        seeds = self.preset.calibration_seeds
        scan: list[dict[str, Any]] = []
        chosen = None
        label = FAMILY_LABELS[method]
        for lr in lrs:
            specs = [RunSpec(method, "small", lr, seed, stage="calibration") for seed in seeds]
            rows = self._run(specs, {lr_family(method): 1.0}, self.calibration_path)
            diverged = sum(bool(r["diverged"]) for r in rows)
            scan.append({"learning_rate": lr, "diverged": diverged, "seeds": len(seeds)})
            self.log(f"calibration: naive {label} (Small) at lr={lr:g}: {diverged}/{len(seeds)} seeds fully diverged")
            if diverged * 2 > len(seeds):
                chosen = lr
                break
        found = chosen is not None
        base_lr = chosen if found else max(lrs)
        note = "" if found else f" (naive {label} never diverged: largest scanned)"
        self.log(f"calibrated 1x ({label} family) = {base_lr:g}{note}")
        return {
            "method": method,
            "base_learning_rate": base_lr,
            "found": found,
            "scan": scan,
            "rule": f"smallest scanned LR at which naive {label} (Small) fully diverges for a majority of seeds",
        }

    def grid_specs(self) -> list[RunSpec]:
        p = self.preset
        # Interleaved so that an interrupted sweep has every size for the first methods and multipliers: naive and
        # Clippy first (claims C1/C2), then the baselines, the Adam family last.
        order = [m for m in ("adagrad", "clippy", "gc", "agc", "lamb", "adam", "clippy_adam") if m in p.methods]
        return [
            RunSpec(method, size, mult, p.seeds[0], _params(params), stage="grid")
            for mult in p.table_multipliers
            for method in order + [m for m in p.methods if m not in order]
            for params in p.grids[method]
            for size in p.sizes
        ]

    def seeded_repeat_specs(self) -> list[RunSpec]:
        """Naive Adagrad at 1x (claim C1) and Clippy at 2x (claim C2) on the remaining seeds; their other multiplier
        is repeated with the other methods' best configurations (stage 4) when it is their best."""
        p = self.preset
        return [
            RunSpec(method, size, mult, seed, _params(p.grids[method][0]), stage="repeat")
            for seed in p.seeds[1:]
            for method, mult in SEEDED_METHODS.items()
            if method in p.methods and mult in p.table_multipliers
            for size in p.sizes
        ]

    def repeat_specs(self, best: dict[tuple[str, str], dict[str, Any]]) -> list[RunSpec]:
        p = self.preset
        specs = []
        for (method, size), row in best.items():
            if len(p.seeds) < 2:
                break
            for seed in p.seeds[1:]:
                specs.append(RunSpec(method, size, row["lr_multiplier"], seed, _params(row["params"]), stage="repeat"))
        return specs

    def frontier_specs(self, best: dict[tuple[str, str], dict[str, Any]]) -> list[RunSpec]:
        p = self.preset
        return [
            RunSpec(method, size, mult, p.seeds[0], _params(row["params"]), stage="frontier")
            for (method, size), row in best.items()
            for mult in p.frontier_multipliers
        ]

    def uncensored_frontier(self, best: dict[tuple[str, str], dict[str, Any]], base_lrs: dict[str, float]) -> None:
        """Scans each paper method's best configuration upward (`preset.frontier_scan`) until it breaks: fails
        (diverged or click AUC < CHANCE_AUC) on >= 2 of the seeds. Seed 0 leads; where it fails, the other seeds run
        (and the multiplier below is repeated on them, so the frontier's last stable point has every seed too)."""
        p = self.preset
        if not p.frontier_scan:
            return
        seeds = p.seeds[:3]
        # A method whose best configuration already failed (naive Adagrad at 1x) has its frontier below the scan.
        active = {k: row for k, row in best.items() if k[0] in PAPER_METHODS and not _failed(row)}
        previous: dict[tuple[str, str], float] = {k: max(p.frontier_multipliers or (1.0,)) for k in active}
        for mult in p.frontier_scan:
            if not active:
                return
            lead = [self._frontier_spec(k, row, mult, seeds[0]) for k, row in active.items()]
            rows = {r["run_id"]: r for r in self._run(lead, base_lrs, self.results_path)}
            failed_lead = [
                k for k, row in active.items() if _failed(rows[self._frontier_spec(k, row, mult, seeds[0]).run_id])
            ]
            more = [
                self._frontier_spec(k, active[k], m, seed)
                for k in failed_lead
                for m in (previous[k], mult)
                for seed in seeds[1:]
            ]
            rows.update({r["run_id"]: r for r in self._run(more, base_lrs, self.results_path)})
            for k in failed_lead:
                outcomes = [rows.get(self._frontier_spec(k, active[k], mult, seed).run_id) for seed in seeds]
                if sum(_failed(r) for r in outcomes if r) >= 2:
                    self.log(f"frontier: {k[0]} on {k[1]} breaks at {mult:g}x")
                    del active[k]
            for k in active:
                previous[k] = mult
        for k in active:
            self.log(f"frontier: {k[0]} on {k[1]} did not break up to {p.frontier_scan[-1]:g}x")

    def _frontier_spec(self, key: tuple[str, str], row: dict[str, Any], mult: float, seed: int) -> RunSpec:
        return RunSpec(key[0], key[1], mult, seed, _params(row["params"]), stage="frontier")

    def no_warmup(self, best: dict[tuple[str, str], dict[str, Any]], base_lrs: dict[str, float]) -> float | None:
        """The paper's protocol without warm-up. First the accumulator start G_0: naive Adagrad on
        Small at 1x, first seed, for each of `no_warmup_g0s`; the smallest G_0 at which some evaluation reached click
        AUC >= 0.58 (it learned before whatever came next) is chosen (the largest scanned if none). Then every paper
        method's best configuration at its best multiplier, and naive 1x / Clippy 2x on every seed, without warm-up
        and with that G_0 (variant "no_warmup", stage "no_warmup"). Returns the chosen G_0."""
        p = self.preset
        if not p.no_warmup_g0s:
            return None
        size = "small" if "small" in p.sizes else p.sizes[0]
        scan = [
            RunSpec("adagrad", size, 1.0, p.seeds[0], (("initial_accumulator_value", g0),), "no_warmup_g0", "no_warmup")
            for g0 in p.no_warmup_g0s
        ]
        self._run(scan, base_lrs, self.results_path)
        chosen = p.no_warmup_g0s[-1]
        for spec, g0 in zip(scan, p.no_warmup_g0s):
            curves = R.read_curves(self.out_dir, spec.run_id) or {}
            if any(float(e.get("auc_click") or 0) >= 0.58 for e in curves.get("eval", [])):
                chosen = g0
                break
        self.log(f"no-warm-up protocol: G_0 = {chosen:g}")

        def spec(method: str, size: str, mult: float, seed: int, params: Any) -> RunSpec:
            items = dict(_params(params)) | {"initial_accumulator_value": chosen}
            return RunSpec(method, size, mult, seed, tuple(sorted(items.items())), "no_warmup", "no_warmup")

        specs = [
            spec(m, s, row["lr_multiplier"], p.seeds[0], row["params"])
            for (m, s), row in best.items()
            if m in PAPER_METHODS and m not in SEEDED_METHODS
        ]
        specs += [
            spec(m, s, mult, seed, p.grids[m][0])
            for seed in p.seeds
            for m, mult in SEEDED_METHODS.items()
            if m in p.methods
            for s in p.sizes
        ]
        self._run(specs, base_lrs, self.results_path)
        return chosen

    def recovery_specs(self) -> list[RunSpec]:
        """train.recovery in the lab: the seeded runs (naive 1x, Clippy 2x) again with recovery on."""
        p = self.preset
        if not p.recovery_runs:
            return []
        return [
            RunSpec(method, size, mult, seed, _params(p.grids[method][0]), stage="recovery", variant="recovery")
            for seed in p.seeds
            for method, mult in SEEDED_METHODS.items()
            if method in p.methods and mult in p.table_multipliers
            for size in p.sizes
        ]

    def ablation_specs(self) -> list[RunSpec]:
        p = self.preset
        specs: list[RunSpec] = []
        if "large_dcn" not in p.sizes:
            return specs
        for seed in p.ablation_seeds:
            for variant in ("clean", "minus_one_task", "minus_two_tasks", "few_features"):
                specs.append(
                    RunSpec("adagrad", "large_dcn", p.ablation_multiplier, seed, stage="ablation", variant=variant)
                )
            specs.append(RunSpec("adagrad", "small", p.ablation_multiplier, seed, stage="ablation"))
        return specs

    def probe_spec(self) -> RunSpec:
        size = "large" if "large" in self.preset.sizes else self.preset.sizes[-1]
        return RunSpec(
            "adagrad", size, 1.0, self.preset.seeds[0], stage="probe", telemetry_every=self.preset.probe_every_steps
        )


def _params(params: Any) -> tuple[tuple[str, float], ...]:
    if isinstance(params, str):
        params = json.loads(params)
    return tuple(sorted(params.items()))


def _failed(row: dict[str, Any]) -> bool:
    auc = row["auc_click"]
    return bool(row["diverged"]) or not (isinstance(auc, float) and math.isfinite(auc) and auc >= R.CHANCE_AUC)


def run_sweep(preset_name: str, out_dir: str, workers: int | None = None) -> int:
    """Entry point of `ranker sweep`."""
    preset = get_lab_preset(preset_name)
    Sweep(preset, out_dir, log=lambda m: print(m, flush=True), workers=workers).run()
    print(f"wrote {os.path.join(out_dir, R.RESULTS_FILE)} and {os.path.join(out_dir, 'summary.md')}", flush=True)
    return 0
