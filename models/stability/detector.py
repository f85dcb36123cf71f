"""Training-stability detector: the outcome of a training curve, its full divergence and its micro-divergences.

The one detector used by the Trainer (early stop, training report), the stability gate and the stability lab.
Pure numpy.

Definitions (Tang et al., KDD 2023, §2.1 and Figure 1). The paper defines the two phenomena qualitatively and
gives no thresholds; the numbers below are ours, all configurable in `config.settings.StabilityConfig`.

* **Micro-divergence**: the loss jumps, then returns to its pre-spike level as training continues.
* **Full divergence**: the loss becomes non-finite, or blows up and never returns to its pre-spike level, with
  binary-task AUC collapsing to 0.5.

Every curve gets one **outcome**: "healthy"; "blew_up" (the loss or the AUC shows a blow-up and the model did not
come back: tests 1, 3, 4, 5, or 6 after a spike or after learning); "never_learned" (test 6 with no blow-up and no
earlier learning: nothing to fall from). A release gate refuses both failing outcomes; they are kept apart because
they have different causes and cures (a blow-up: a smaller step or clipping; never learning: a larger step, more
data, a bug in the inputs).

Let l_0..l_{n-1} be the logged losses at steps s_0..s_{n-1} (losses are non-negative: cross-entropy plus squared
errors) and W = min(warmup_points, max(1, n // 2)) the warm-up length.

1. **Non-finite**: any l_i that is NaN or ±inf is a blow-up with onset s_i. Points after the first non-finite one
   are ignored by the other tests.
2. **Reference level** r after warm-up: seeded with the median of the last min(3, W) warm-up points, then an
   exponential moving average of the points that are not inside a spike: r <- (1 - ema_alpha) r + ema_alpha l_i
   (default ema_alpha 0.1).
3. **Spike**: starts at the first i >= W with l_i > spike_ratio * r (default 2.0); r is frozen at that value, the
   *pre-spike level* r*. The spike **recovers** at the first later point with l_j <= recovery_ratio * r*
   (default 1.2); the hysteresis between 1.2 and 2.0 keeps noise from splitting one spike into several.
   A recovered spike is a micro-divergence (`SpikeEvent` with start, peak, recovery step and peak ratio
   max l / r*). A spike that has not recovered by the last point is a full divergence when it lasted at least
   `persist_points` points (default 3); a shorter one is reported as `unresolved_spike` (too short to tell),
   which the gate refuses when `block_unresolved_spike` (default True): the final weights sit in a blow-up.
   **A blow-up during warm-up is a blow-up.** Warm-up points are not compared with r (the natural early decrease
   would look like nothing but would seed r too high); instead a warm-up point 0 < i < W starts a spike when
   l_i > spike_ratio * min(l_0..l_{i-1}): the natural decrease never rises above the lowest level already reached,
   so only a real rise fires. The first point, which has no earlier level, starts a spike when
   l_0 > first_point_blowup_ratio * (median of l_W..l_{W+2}) (default 20: on the tiny preset a healthy first
   window is 1.1-7.1x the level after warm-up, over 50 healthy runs; a rate that blows up in the first steps logs
   20-4e13x).
   Warm-up spikes recover and persist by the same rules, with r* the running minimum (or that median).
4. **End level** (catch-all for slow creep): with m_k the median of the window l_k..l_{k+P-1}
   (P = persist_points), a full divergence when m_last > end_level_ratio * min_k m_k over the earlier windows
   (default 3.0, the paper digest's "3x running minimum"; None disables it).
5. **AUC collapse** (when binary-task AUCs are given, aligned with the steps; NaN entries ignored), on the tasks
   of `chance_tasks` (test 6): a task *learned* if some earlier AUC reached 0.5 + auc_learned_margin (default
   0.05) and *collapsed* if its last auc_collapse_points (default 3) AUCs are all below 0.5 + auc_tolerance
   (default 0.02). **Below chance is not learning**: the tests are one-sided, so an AUC of 0.42 is no evidence of
   learning. Full divergence when at least one task learned and every learned task collapsed (a genuine
   divergence kills all tasks through the shared layers, paper §3.2; a rare task's window AUC touches 0.55 by
   noise, hence the primary task). It also corroborates the loss tests in the reason text; with
   `require_auc_collapse` (default False) the loss tests 3 and 4 count only when the AUC collapsed too
   (non-finite loss always counts).
6. **At chance** (`chance_is_failure`, default True): every task of `chance_tasks` (default click; every task
   when none of them is given) with at least auc_collapse_points finite AUCs ends at chance: the *mean* of its
   last auc_collapse_points AUCs is below 0.5 + chance_margin (default 0.05, i.e. AUC 0.55, the Evaluator's click
   bound), whether or not it ever learned. The mean, not each point, because per-window training AUCs over ~1k
   examples scatter by ±0.03 around 0.5; the primary task, not every task, because a dead model's rare-task
   window AUCs (a few dozen positives) scatter by ±0.1 and one of them would otherwise keep a dead run alive.
   Such a model predicts nothing, and where a reference run learns it is a failed run: `chance_is_failure`
   states that premise (the pipeline's world is learnable; set it to False for a world where nothing can be
   learned). Onset: the first point of the final stretch below 0.5 + chance_margin. Outcome "blew_up" when a
   loss spike started before that onset or a chance task had reached 0.5 + auc_learned_margin before it (the
   model learned, then died), else "never_learned".

Noise: all ratios are relative to a smoothed level, so multiplicative minibatch noise well below 2x never
fires; curves from very small batches may need a larger `spike_ratio`, very smooth large-batch curves a smaller one
(the paper's Figure 1 micro-divergence is ~1.12x).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from config.settings import StabilityConfig
from config.validation import validate_stability
from models.stability.numbers import as_float_array, nonfinite_kind

_TINY = 1e-12  # floor for the reference level so that ratios stay defined for a zero loss

HEALTHY = "healthy"
BLEW_UP = "blew_up"
NEVER_LEARNED = "never_learned"
NO_POINTS = "no_points"
#: The outcomes a release gate refuses.
FAILED_OUTCOMES: frozenset[str] = frozenset({BLEW_UP, NEVER_LEARNED})


@dataclass(frozen=True)
class SpikeEvent:
    """One loss spike: l > spike_ratio * r* at `start_step`, largest at `peak_step` (peak_ratio = l_peak / r*),
    back to <= recovery_ratio * r* at `recovery_step` (None: not recovered by the end of the curve)."""

    start_step: int
    peak_step: int
    recovery_step: int | None
    peak_ratio: float
    reference_level: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpikeEvent:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclass
class DivergenceReport:
    """What `detect_divergence` found.

    `outcome` is the verdict on the run: "healthy", "blew_up" (the loss or the AUC shows a blow-up, and the model did
    not come back), "never_learned" (the chance tasks end at chance without any blow-up or earlier learning) or
    "no_points". `fully_diverged` is True for both failing outcomes. `criterion` is the test that decided a failure:
    "non_finite" | "unrecovered_spike" | "end_level" | "auc_collapse" | "auc_at_chance" | None.
    """

    fully_diverged: bool
    reason: str
    onset_step: int | None
    micro_divergences: list[SpikeEvent] = field(default_factory=list)
    criterion: str | None = None
    unresolved_spike: SpikeEvent | None = None
    auc_collapsed_tasks: list[str] = field(default_factory=list)
    num_points: int = 0
    thresholds: dict[str, Any] = field(default_factory=dict)
    outcome: str = HEALTHY

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["micro_divergences"] = [e.to_dict() for e in self.micro_divergences]
        data["unresolved_spike"] = self.unresolved_spike.to_dict() if self.unresolved_spike else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DivergenceReport:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("outcome", BLEW_UP if data.get("fully_diverged") else HEALTHY)
        kwargs["micro_divergences"] = [SpikeEvent.from_dict(e) for e in data.get("micro_divergences") or []]
        spike = data.get("unresolved_spike")
        kwargs["unresolved_spike"] = SpikeEvent.from_dict(spike) if spike else None
        return cls(**kwargs)


def detect_divergence(
    steps: Sequence[int],
    losses: Sequence[float | None],
    aucs: Sequence[float | None] | Mapping[str, Sequence[float | None]] | None = None,
    config: StabilityConfig = StabilityConfig(),
) -> DivergenceReport:
    """Classifies a training curve; see the module docstring for the tests and thresholds.

    Args:
      steps: training step of each logged point (increasing).
      losses: total training loss at each point; None, NaN and ±inf are non-finite.
      aucs: binary-task AUCs at the same points: one sequence, or {task: sequence}.
      config: thresholds.
    Raises:
      ValueError: lengths differ; ConfigError: impossible thresholds.
    """
    validate_stability(config)
    step_arr = np.asarray([int(s) for s in steps], dtype=np.int64)
    loss = as_float_array(losses)
    if len(step_arr) != len(loss):
        raise ValueError(f"{len(step_arr)} steps but {len(loss)} losses")
    auc_series = _auc_series(aucs, len(loss))
    n = len(loss)
    thresholds = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    base = {"num_points": n, "thresholds": thresholds}  # as JSON holds them
    if n == 0:
        return DivergenceReport(False, "no loss points recorded; nothing to judge", None, outcome=NO_POINTS, **base)

    bad = np.flatnonzero(~np.isfinite(loss))
    end = int(bad[0]) if len(bad) else n  # the other tests look only at the finite prefix
    events, open_spike, open_len = _scan_spikes(step_arr[:end], loss[:end], config)
    collapsed, learned, auc_onset = _auc_collapse(step_arr, _chance_series(auc_series, config), config)
    auc_note = _auc_note(auc_series, collapsed)
    auc_confirms = bool(learned) and collapsed == learned
    base.update(micro_divergences=events, auc_collapsed_tasks=collapsed)
    blew_up = {"fully_diverged": True, "outcome": BLEW_UP}

    if len(bad):
        kind = nonfinite_kind(loss[end])
        reason = f"loss became non-finite ({kind}) at step {step_arr[end]}"
        if end > 0:
            reason += f" (last finite loss {loss[end - 1]:.4g} at step {step_arr[end - 1]})"
        return DivergenceReport(
            reason=reason + auc_note, onset_step=int(step_arr[end]), criterion="non_finite", **blew_up, **base
        )

    loss_verdict = _loss_divergence(step_arr, loss, open_spike, open_len, config)
    if loss_verdict is not None:
        criterion, onset, reason = loss_verdict
        if config.require_auc_collapse and learned and not auc_confirms:
            reason += (
                f"{auc_note}; not counted as full divergence because the AUC did not collapse (require_auc_collapse)"
            )
            unresolved = open_spike if criterion == "unrecovered_spike" else None
            return DivergenceReport(False, reason, None, unresolved_spike=unresolved, **base)
        return DivergenceReport(reason=reason + auc_note, onset_step=onset, criterion=criterion, **blew_up, **base)

    if auc_confirms:
        reason = (
            f"AUC collapsed to about 0.5 for {', '.join(collapsed)} (last {config.auc_collapse_points} points "
            f"below 0.5 + {config.auc_tolerance}) from step {auc_onset}, after reaching 0.5 + "
            f"{config.auc_learned_margin} or more"
        )
        reason += auc_note.replace("; AUC fell to", ", ending at", 1)
        return DivergenceReport(reason=reason, onset_step=auc_onset, criterion="auc_collapse", **blew_up, **base)

    reason = f"no full divergence in {n} points (steps {step_arr[0]}-{step_arr[-1]}); {len(events)} micro-divergence(s)"
    if events:
        worst = max(events, key=lambda e: e.peak_ratio)
        reason += f", worst {worst.peak_ratio:.1f}x at step {worst.peak_step} (recovered by {worst.recovery_step})"
    if open_spike is not None:
        reason += (
            f"; the loss spiked at step {open_spike.start_step} ({open_spike.peak_ratio:.1f}x the pre-spike level "
            f"{open_spike.reference_level:.4g}) in the last {open_len} point(s), too few to tell whether it recovers"
        )
    chance = _auc_at_chance(step_arr, auc_series, config) if config.chance_is_failure else None
    if chance is not None:
        tasks, onset, learned_first = chance
        finals = auc_note.replace("; final AUC ", "", 1)
        spikes = [e for e in events if e.start_step <= onset] + ([open_spike] if open_spike else [])
        head = (
            f"{', '.join(tasks)} ended at chance (final AUC {finals}; the mean of the last "
            f"{config.auc_collapse_points} AUCs of {', '.join(tasks)} below 0.5 + {config.chance_margin}, near chance "
            f"from step {onset})"
        )
        if spikes or learned_first:
            cause = (
                f"the loss blew up first (at step {spikes[0].start_step}, {spikes[0].peak_ratio:.3g}x its level)"
                if spikes
                else f"{', '.join(learned_first)} had learned first"
            )
            reason = f"{head}; {cause}: the model blew up and did not come back. Loss: {reason}"
            outcome = BLEW_UP
        else:
            reason = f"{head}, with no blow-up and no earlier learning: the model never learned. Loss: {reason}"
            outcome = NEVER_LEARNED
        return DivergenceReport(
            True, reason, onset, criterion="auc_at_chance", unresolved_spike=open_spike, outcome=outcome, **base
        )
    return DivergenceReport(False, reason, None, unresolved_spike=open_spike, **base)


def _chance_series(series: dict[str, np.ndarray], config: StabilityConfig) -> dict[str, np.ndarray]:
    """The AUC series that decide "at chance" and "learned first": `config.chance_tasks`, else every task."""
    chosen = {t: v for t, v in series.items() if t in config.chance_tasks}
    return chosen or series


def _auc_at_chance(
    steps: np.ndarray, series: dict[str, np.ndarray], config: StabilityConfig
) -> tuple[list[str], int, list[str]] | None:
    """Test 6: (tasks, onset step, tasks that learned before the final stretch) when every chance task with enough
    AUC points ends at chance, else None."""
    k = config.auc_collapse_points
    tasks: list[str] = []
    learned: list[str] = []
    onset: int | None = None
    for task, values in sorted(_chance_series(series, config).items()):
        ok = np.isfinite(values)
        vals, st = values[ok], steps[ok]
        if len(vals) < k:
            continue
        if float(np.mean(vals[-k:])) >= 0.5 + config.chance_margin:
            return None
        in_band = vals < 0.5 + config.chance_margin  # below chance is no learning either
        tasks.append(task)
        first = len(vals) - k
        while first > 0 and in_band[first - 1]:
            first -= 1
        onset = int(st[first]) if onset is None else max(onset, int(st[first]))
        if np.any(vals[:first] >= 0.5 + config.auc_learned_margin):
            learned.append(task)
    if not tasks or onset is None:
        return None
    return tasks, onset, learned


def online_spike(
    steps: Sequence[int], losses: Sequence[float | None], config: StabilityConfig = StabilityConfig()
) -> SpikeEvent | None:
    """The spike rule (test 3) run online: the spike that starts at the *latest* point, else None.

    A non-finite latest point counts as a spike (peak_ratio inf). Used by the Trainer's recovery
    (`train.recovery`, models/recovery.py) after every logged window: the same thresholds as the offline verdict.
    """
    validate_stability(config)
    step_arr = np.asarray([int(s) for s in steps], dtype=np.int64)
    loss = as_float_array(losses)
    if len(loss) == 0:
        return None
    if not np.isfinite(loss[-1]):
        finite = loss[:-1][np.isfinite(loss[:-1])]
        ref = float(finite[-1]) if len(finite) else math.nan
        return SpikeEvent(int(step_arr[-1]), int(step_arr[-1]), None, math.inf, ref)
    if not np.all(np.isfinite(loss)):
        keep = np.isfinite(loss)
        step_arr, loss = step_arr[keep], loss[keep]
    _, open_spike, open_len = _scan_spikes(step_arr, loss, config)
    if open_spike is not None and open_len == 1:
        return open_spike
    return None


def _loss_divergence(
    steps: np.ndarray, loss: np.ndarray, open_spike: SpikeEvent | None, open_len: int, config: StabilityConfig
) -> tuple[str, int, str] | None:
    """Tests 3 (unrecovered spike) and 4 (end level) on a finite curve: (criterion, onset step, reason)."""
    if open_spike is not None and open_len >= config.persist_points:
        reason = (
            f"loss blew up at step {open_spike.start_step} ({open_spike.peak_ratio:.1f}x the pre-spike level "
            f"{open_spike.reference_level:.4g}, peak at step {open_spike.peak_step}) and never recovered below "
            f"{config.recovery_ratio:g}x through the last step {steps[-1]}"
        )
        return "unrecovered_spike", open_spike.start_step, reason
    if config.end_level_ratio is None:
        return None
    width = config.persist_points
    if len(loss) < 2 * width:
        return None
    medians = np.array([np.median(loss[k : k + width]) for k in range(len(loss) - width + 1)])
    best_k = int(np.argmin(medians[:-1]))
    best, final = max(float(medians[best_k]), _TINY), float(medians[-1])
    if final <= config.end_level_ratio * best:
        return None
    after = np.flatnonzero(loss[best_k + width :] > config.end_level_ratio * best)
    onset_idx = best_k + width + int(after[0]) if len(after) else len(loss) - width
    reason = (
        f"loss ended at {final / best:.1f}x its best level {best:.4g} (steps {steps[best_k]}-"
        f"{steps[best_k + width - 1]}): it rose above {config.end_level_ratio:g}x from step {steps[onset_idx]} "
        "and never came back"
    )
    return "end_level", int(steps[onset_idx]), reason


def _scan_spikes(
    steps: np.ndarray, loss: np.ndarray, config: StabilityConfig
) -> tuple[list[SpikeEvent], SpikeEvent | None, int]:
    """Test 3 on a finite curve: (recovered spikes, the spike still open at the end or None, its length).

    Warm-up points are tested against the running minimum of the points before them (a natural decrease never rises
    above it); the first point against the level after warm-up (`first_point_blowup_ratio`); later points against
    the EMA reference level.
    """
    n = len(loss)
    warm = min(config.warmup_points, max(1, n // 2))
    if n <= warm:
        return [], None, 0
    alpha = config.ema_alpha
    events: list[SpikeEvent] = []
    start: int | None = None
    peak = 0
    ref = _TINY
    settled = max(float(np.median(loss[warm : warm + 3])), _TINY)
    if config.first_point_blowup_ratio is not None and loss[0] > config.first_point_blowup_ratio * settled:
        start, peak, ref = 0, 0, settled
    for i in range(1, n):
        x = float(loss[i])
        if start is None:
            if i < warm:
                floor = max(float(np.min(loss[:i])), _TINY)
                if x > config.spike_ratio * floor:
                    start, peak, ref = i, i, floor
                continue
            if i == warm:
                ref = max(float(np.median(loss[max(0, warm - 3) : warm])), _TINY)
            if x > config.spike_ratio * ref:
                start, peak = i, i
            else:
                ref = max((1 - alpha) * ref + alpha * x, _TINY)
            continue
        if x > loss[peak]:
            peak = i
        if x <= config.recovery_ratio * ref:
            events.append(_event(steps, loss, start, peak, int(steps[i]), ref))
            if i >= warm:
                ref = max((1 - alpha) * ref + alpha * x, _TINY)
            start = None
    if start is None:
        return events, None, 0
    return events, _event(steps, loss, start, peak, None, ref), n - start


def _event(steps: np.ndarray, loss: np.ndarray, start: int, peak: int, recovery: int | None, ref: float) -> SpikeEvent:
    return SpikeEvent(int(steps[start]), int(steps[peak]), recovery, float(loss[peak] / ref), float(ref))


def _auc_collapse(
    steps: np.ndarray, series: dict[str, np.ndarray], config: StabilityConfig
) -> tuple[list[str], list[str], int | None]:
    """Test 5: (collapsed tasks, learned tasks, onset step of the latest collapse)."""
    k = config.auc_collapse_points
    collapsed: list[str] = []
    learned: list[str] = []
    onset: int | None = None
    for task, values in sorted(series.items()):
        ok = np.isfinite(values)
        vals, st = values[ok] - 0.5, steps[ok]  # signed: an AUC below 0.5 is not learning
        if len(vals) <= k or not np.any(vals[:-k] >= config.auc_learned_margin):
            continue
        learned.append(task)
        in_band = vals < config.auc_tolerance
        if not np.all(in_band[-k:]):
            continue
        collapsed.append(task)
        first = len(vals) - k
        while first > 0 and in_band[first - 1]:
            first -= 1
        onset = int(st[first]) if onset is None else max(onset, int(st[first]))
    return collapsed, learned, onset


def _auc_note(series: dict[str, np.ndarray], collapsed: list[str]) -> str:
    """'; AUC fell to 0.50 (click)' or '; final AUC click 0.71' for reason texts ('' without AUCs)."""
    finals = {}
    for task, values in sorted(series.items()):
        finite = values[np.isfinite(values)]
        if len(finite):
            finals[task] = float(finite[-1])
    if not finals:
        return ""
    if collapsed:
        return "; AUC fell to " + ", ".join(f"{finals[t]:.2f} ({t})" for t in collapsed)
    return "; final AUC " + ", ".join(f"{t} {v:.2f}" for t, v in finals.items())


def _auc_series(
    aucs: Sequence[float | None] | Mapping[str, Sequence[float | None]] | None, n: int
) -> dict[str, np.ndarray]:
    if aucs is None:
        return {}
    series = dict(aucs) if isinstance(aucs, Mapping) else {"auc": aucs}
    out = {task: as_float_array(values) for task, values in series.items()}
    for task, values in out.items():
        if len(values) != n:
            raise ValueError(f"AUC series {task!r} has {len(values)} points but the loss has {n}")
    return out
