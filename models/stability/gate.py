"""The release policy of the stability gate, shared by the StabilityGate component and the stability lab."""

from __future__ import annotations

from config.settings import StabilityConfig
from models.stability.detector import NEVER_LEARNED, DivergenceReport
from models.stability.report import TrainingReport


def gate_verdict(report: DivergenceReport, config: StabilityConfig = StabilityConfig()) -> tuple[bool, str]:
    """The release policy shared by the gate and the lab: (releasable, reason).

    Refused: no loss points; either failing outcome ("blew_up", "never_learned"), each with its own reason; a run
    that ends inside a spike too short to judge (`block_unresolved_spike`).
    """
    if report.num_points == 0:
        return False, "the training report has no loss points; nothing shows that training converged"
    if report.fully_diverged and report.outcome == NEVER_LEARNED:
        return False, f"training never learned: {report.reason}"
    if report.fully_diverged:
        return False, f"training blew up: {report.reason}"
    spike = report.unresolved_spike
    if spike is not None and config.block_unresolved_spike:
        return False, (
            f"training ended inside a loss spike that started at step {spike.start_step} "
            f"({spike.peak_ratio:.1f}x the pre-spike level {spike.reference_level:.4g}) and had no time to recover; "
            "the final weights are those of the blow-up"
        )
    return True, report.reason


def judge_report(
    report: TrainingReport, config: StabilityConfig = StabilityConfig()
) -> tuple[bool, str, DivergenceReport]:
    """The StabilityGate's decision on a training report: (releasable, reason, the gate's own detection).

    The gate re-runs the detector on the report's curve with `config`; the more conservative verdict wins: a run the
    Trainer's detector called fully diverged, or whose recovery (`train.recovery`) gave up, is never releasable.
    """
    detected = report.detect(config)
    blessed, reason = gate_verdict(detected, config)
    trainer = report.divergence
    if blessed and trainer and trainer.get("fully_diverged"):
        blessed = False
        reason = f"the Trainer's detector reported full divergence: {trainer.get('reason')}"
    if blessed and report.recovery_gave_up:
        blessed = False
        reason = f"training gave up after its recoveries (train.recovery): {(report.recovery or {}).get('reason')}"
    elif blessed and report.recovery and report.recovery.get("events"):
        reason += f" (after {len(report.recovery['events'])} recovery(ies) from micro-divergences, train.recovery)"
    if report.stopped_early and report.stop_reason:
        reason += f" (training stopped early: {report.stop_reason})"
    return blessed, reason, detected
