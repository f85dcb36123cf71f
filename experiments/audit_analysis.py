"""The gate audit's analysis: each run's ground truth against the StabilityGate's decision, as a confusion matrix.

The rule, fixed before the audit ran:

* **Ground truth** (from the held-out next day, never from the training curve): a run *blew up* when its training
  loss became non-finite (the Trainer stops there); it is *at chance* when its next-day click AUC is below the
  pipeline preset's Evaluator bound (`gates.min_auc["click"]`, 0.55 on tiny); otherwise it is *healthy*.
* **The gate's decision**: `models.stability.judge_report` on the training report the Trainer writes for the run
  (loss and per-window training AUCs), with the pipeline preset's `StabilityConfig`: blessed, or refused with the
  detector's outcome ("blew_up", "never_learned"; "unresolved" for a run ending inside a spike too short to judge).
* **Pass**: no failed run (blew up or at chance) is blessed. Reported with it: the false-blessing rate's exact 95 %
  upper bound, and the false-refusal rate (refused healthy runs / healthy runs) with its exact 95 % interval.

`python -m experiments.audit_analysis --results DIR --out docs/results` writes `gate_audit.md` and
`gate_audit.csv` (one row per run: truth, decision, outcome, criterion, reason).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from experiments import results as R
from experiments.gate_audit import AUDIT_FILE, AuditPlan, run_audit, world_dir
from experiments.stats import clopper_pearson, rate_text
from models.stability import write_text

TRUTHS: tuple[str, ...] = ("healthy", "at_chance", "non_finite")
DECISIONS: tuple[str, ...] = ("blessed", "refused: blew_up", "refused: never_learned", "refused: unresolved")


@dataclass(frozen=True)
class Judged:
    """One audited run: what happened on the next day and what the gate decided from the training curve."""

    run_id: str
    world_seed: int
    method: str
    learning_rate: float
    auc_click: float
    truth: str
    decision: str
    outcome: str
    criterion: str
    reason: str

    @property
    def failed(self) -> bool:
        return self.truth != "healthy"

    @property
    def blessed(self) -> bool:
        return self.decision == "blessed"


def ground_truth(row: dict[str, Any], min_click_auc: float) -> str:
    if row["nonfinite"] is True:
        return "non_finite"
    auc = row["auc_click"]
    if not (isinstance(auc, float | int) and math.isfinite(auc)) or auc < min_click_auc:
        return "at_chance"
    return "healthy"


def gate_decision(curves: dict[str, Any], pipeline_preset: str) -> tuple[str, str, str, str]:
    """(decision, outcome, criterion, reason) of the StabilityGate on the Trainer's report of this curve."""
    from config.settings import get_preset
    from models.stability import TrainingReport, judge_report
    from models.stability.numbers import decode_float

    config = get_preset(pipeline_preset).stability
    report = TrainingReport(
        steps=[int(s) for s in curves["steps"]],
        loss=[decode_float(x) for x in curves["loss"]],
        auc={t: [decode_float(x) for x in v] for t, v in (curves.get("train_auc") or {}).items()},
        stopped_early=curves.get("stop_reason") is not None,
        stop_reason=curves.get("stop_reason"),
    ).with_divergence(config)  # what the Trainer writes: its own detector's verdict with the same thresholds
    blessed, reason, detected = judge_report(report, config)
    if blessed:
        decision = "blessed"
    elif detected.fully_diverged:
        decision = f"refused: {detected.outcome}"
    else:
        decision = "refused: unresolved"
    return decision, detected.outcome, detected.criterion or "", reason


def judge_audit(results_dir: str, plan: AuditPlan = AuditPlan()) -> list[Judged]:
    """Every completed audit run, judged."""
    from config.settings import get_preset

    min_auc = get_preset(plan.pipeline_preset).gates.min_auc["click"]
    judged = []
    for row in R.read_rows(os.path.join(results_dir, AUDIT_FILE)):
        world = int(row["world_seed"])
        spec_id = str(row["run_id"]).split(".", 1)[1]
        curves = R.read_curves(world_dir(results_dir, world), spec_id)
        if curves is None:
            raise FileNotFoundError(f"curves of {row['run_id']} are missing in {world_dir(results_dir, world)}")
        decision, outcome, criterion, reason = gate_decision(curves, plan.pipeline_preset)
        judged.append(
            Judged(
                str(row["run_id"]),
                world,
                str(row["method"]),
                float(row["learning_rate"]),
                float(row["auc_click"]),
                ground_truth(row, min_auc),
                decision,
                outcome,
                criterion,
                reason,
            )
        )
    return sorted(judged, key=lambda j: (j.world_seed, j.method, j.learning_rate))


def confusion(judged: Sequence[Judged]) -> dict[tuple[str, str], int]:
    return dict(Counter((j.truth, j.decision) for j in judged))


def audit_markdown(judged: Sequence[Judged], seeds: Sequence[int], command: str) -> str:
    counts = confusion(judged)
    healthy = [j for j in judged if not j.failed]
    failed = [j for j in judged if j.failed]
    false_bless = sum(j.blessed for j in failed)
    false_refuse = sum(not j.blessed for j in healthy)
    lines = [
        "# The StabilityGate on held-out worlds",
        "",
        f"`{command}`",
        "",
        f"{len(judged)} runs: the pipeline's tiny ranker on held-out world seeds {list(seeds)} (the first integers "
        "from 1000 up that were no integer literal in the repository's `tests/` or `config/`), naive Adagrad, Adam, "
        "GC (λ 0.1) and Clippy at four learning rates each. Rule, ground truth and decision: "
        "`experiments/audit_analysis.py`.",
        "",
        "## Confusion matrix (rows: what happened on the next day; columns: the gate's decision)",
        "",
        "| truth \\ gate | " + " | ".join(DECISIONS) + " | runs |",
        "|---|" + "---|" * (len(DECISIONS) + 1),
    ]
    for truth in TRUTHS:
        cells = [counts.get((truth, d), 0) for d in DECISIONS]
        lines.append(f"| {truth} | " + " | ".join(str(c) for c in cells) + f" | {sum(cells)} |")
    _, upper = clopper_pearson(false_bless, len(failed))
    lines += [
        "",
        f"* **Failed runs blessed** (blew up or at chance on the next day): {rate_text(false_bless, len(failed))}"
        f"; exact 95 % upper bound {100 * upper:.1f} %. **Pass rule: 0** -> "
        f"{'PASS' if false_bless == 0 and failed else 'FAIL'}.",
        f"* **False refusals** (healthy on the next day, refused): {rate_text(false_refuse, len(healthy))}.",
        "",
        "## Per method and learning rate (runs over the worlds: healthy / at chance / non-finite; blessed)",
        "",
        "| method | learning rate | healthy | at chance | non-finite | blessed | gate outcomes |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted({(j.method, j.learning_rate) for j in judged}):
        group = [j for j in judged if (j.method, j.learning_rate) == key]
        truths = Counter(j.truth for j in group)
        outcomes = Counter(j.outcome for j in group)
        lines.append(
            f"| {key[0]} | {key[1]:g} | {truths['healthy']} | {truths['at_chance']} | {truths['non_finite']} | "
            f"{sum(j.blessed for j in group)}/{len(group)} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            + " |"
        )
    wrong = [j for j in judged if j.failed == j.blessed]
    lines += ["", "## Every disagreement", ""]
    if not wrong:
        lines.append("None.")
    for j in wrong:
        lines.append(f"* `{j.run_id}`: next-day click AUC {j.auc_click:.4f} ({j.truth}); gate {j.decision}: {j.reason}")
    return "\n".join(lines) + "\n"


def audit_csv(judged: Sequence[Judged]) -> str:
    buffer = io.StringIO()
    fields = ["run_id", "world_seed", "method", "learning_rate", "auc_click", "truth", "decision", "outcome"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*fields, "criterion", "reason"])
    for j in judged:
        writer.writerow([getattr(j, f) for f in fields] + [j.criterion, j.reason])
    return buffer.getvalue()


DEFAULT_COMMAND = "ranker sweep --preset gate-audit --out DIR"


def write_audit_report(results_dir: str, out_dir: str, command: str = DEFAULT_COMMAND) -> str:
    plan = AuditPlan()
    judged = judge_audit(results_dir, plan)
    path = os.path.join(out_dir, "gate_audit.md")
    write_text(path, audit_markdown(judged, sorted({j.world_seed for j in judged}), command))
    write_text(os.path.join(out_dir, "gate_audit.csv"), audit_csv(judged))
    return path


def run_gate_audit(out_dir: str, workers: int | None = None, report_dir: str | None = None) -> int:
    """Entry point of `ranker sweep --preset gate-audit`: the runs (`experiments.gate_audit`), then this analysis."""
    plan = AuditPlan() if workers is None else dataclasses.replace(AuditPlan(), workers=workers)
    run_audit(out_dir, plan, log=lambda m: print(m, flush=True))
    print(f"wrote {write_audit_report(out_dir, report_dir or out_dir)}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, help="the audit's --out directory")
    parser.add_argument("--out", required=True, help="where gate_audit.md and gate_audit.csv go")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="the command line quoted in the report")
    args = parser.parse_args(argv)
    print(write_audit_report(args.results, args.out, args.command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
