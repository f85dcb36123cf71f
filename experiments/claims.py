"""Verdicts for the paper's claims C1-C11 (paper.md §7), computed from results.csv and the curves by fixed rules.

Each check returns (verdict, evidence): "reproduced", "partly", "not reproduced" or "not tested" (the sweep did not
run what the claim needs), with the numbers it rests on. The rules are written next to each check; none looks at
which answer it gives.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import tables as T
from experiments.figures import implied_sigmas, layer_series, top_shared_kernel

Row = dict[str, Any]
Verdict = tuple[str, str]
STABILISED = ("gc", "agc", "lamb", "clippy")


def _grade(passed: int, total: int) -> str:
    if total == 0:
        return "not tested"
    return "reproduced" if passed == total else ("not reproduced" if passed == 0 else "partly")


def _sizes(rows: Sequence[Row]) -> list[str]:
    return [s for s in T.SIZE_LABELS if any(r["size"] == s for r in rows)]


def c1(rows: Sequence[Row]) -> Verdict:
    """Naive Adagrad fully diverges at 1x on >= 2/3 of the seeds, per size."""
    parts, ok, total = [], 0, 0
    for size in _sizes(rows):
        d, n = T.divergence_counts(rows, "adagrad", size, 1.0)
        if n:
            total += 1
            ok += d * 3 >= 2 * n
            parts.append(f"{T.SIZE_LABELS[size]} {d}/{n}")
    return _grade(ok, total), "naive Adagrad at 1x, fully diverged/tried: " + ", ".join(parts)


def c2(rows: Sequence[Row]) -> Verdict:
    """Clippy has no full divergence at 2x on any seed, per size."""
    parts, ok, total = [], 0, 0
    for size in _sizes(rows):
        d, n = T.divergence_counts(rows, "clippy", size, 2.0)
        if n:
            total += 1
            ok += d == 0
            parts.append(f"{T.SIZE_LABELS[size]} {d}/{n}")
    return _grade(ok, total), "Clippy at 2x, fully diverged/tried: " + ", ".join(parts)


def _healthy_at(rows: Sequence[Row], method: str, size: str, mult: float) -> bool | None:
    """Whether some hyper-parameter of the seed-0 grid trained without divergence at `mult`; None if none ran."""
    group = [
        r
        for r in rows
        if r["stage"] == "grid" and r["method"] == method and r["size"] == size and r["lr_multiplier"] == mult
    ]
    return any(not r["diverged"] for r in group) if group else None


def c3(rows: Sequence[Row]) -> Verdict:
    """GC (best λ) survives 2x on Small and Large, and diverges at 2x on Large+DCN for every λ."""
    checks, parts = [], []
    for size in ("small", "large"):
        ok = _healthy_at(rows, "gc", size, 2.0)
        if ok is not None:
            checks.append(ok)
            parts.append(f"{T.SIZE_LABELS[size]} 2x: {'some λ trains' if ok else 'every λ diverged'}")
    healthy = _healthy_at(rows, "gc", "large_dcn", 2.0)
    if healthy is not None:
        checks.append(not healthy)
        parts.append(f"Large+DCN 2x: {'some λ trains' if healthy else 'every λ diverged'}")
    return _grade(sum(checks), len(checks)), "; ".join(parts)


def c4(rows: Sequence[Row], table: Sequence[Row]) -> Verdict:
    """AGC's best LR is 1x on Small and Large; on Large+DCN its seed std of AUC is the largest of the stabilised
    methods, or some seed diverged."""
    checks, parts = [], []
    by = {(e["method"], e["size"]): e for e in table}
    for size in ("small", "large"):
        e = by.get(("agc", size))
        if e:
            checks.append(e["lr_multiplier"] == 1.0)
            parts.append(f"{T.SIZE_LABELS[size]} best {e['lr_multiplier']:g}x")
    e = by.get(("agc", "large_dcn"))
    if e:
        stds = {m: by[(m, "large_dcn")]["auc_std"] for m in STABILISED if (m, "large_dcn") in by}
        finite = {m: s for m, s in stds.items() if not math.isnan(s)}
        high = e["diverged"] > 0 or (finite and max(finite, key=finite.get) == "agc")
        checks.append(bool(high))
        parts.append(
            "Large+DCN AUC std over seeds: "
            + ", ".join(f"{T.LABELS[m]} {s:.3f}" for m, s in stds.items())
            + f", AGC diverged {e['diverged']}/{e['seeds']}"
        )
    return _grade(sum(checks), len(checks)), "; ".join(parts)


def c5(rows: Sequence[Row], table: Sequence[Row]) -> Verdict:
    """LAMB (best μ) does not diverge at 1x, and has the lowest click AUC among the stabilised methods, per size."""
    checks, parts = [], []
    by = {(e["method"], e["size"]): e for e in table}
    for size in _sizes(rows):
        if ("lamb", size) not in by:
            continue
        stable = bool(_healthy_at(rows, "lamb", size, 1.0))
        aucs = {m: by[(m, size)]["auc_mean"] for m in STABILISED if (m, size) in by}
        finite = {m: a for m, a in aucs.items() if not math.isnan(a)}
        worst = bool(finite) and min(finite, key=finite.get) == "lamb"
        checks.append(stable and worst)
        parts.append(
            f"{T.SIZE_LABELS[size]}: 1x {'stable' if stable else 'diverged'}, AUC "
            + ", ".join(f"{T.LABELS[m]} {a:.2f}" for m, a in aucs.items())
        )
    return _grade(sum(checks), len(checks)), "; ".join(parts)


def c6(table: Sequence[Row]) -> Verdict:
    """Clippy >= GC in AUC and <= GC in RMSE per size (means over seeds), with the AUC margin largest on Large+DCN."""
    by = {(e["method"], e["size"]): e for e in table}
    margins, checks, parts = {}, [], []
    for size in T.SIZE_LABELS:
        c, g = by.get(("clippy", size)), by.get(("gc", size))
        if not c or not g:
            continue
        if c["diverged"] or math.isnan(c["auc_mean"]):
            checks.append(False)
            parts.append(f"{T.SIZE_LABELS[size]}: Clippy diverged")
            continue
        g_auc = g["auc_mean"] if not math.isnan(g["auc_mean"]) else -math.inf
        g_rmse = g["rmse_mean"] if not math.isnan(g["rmse_mean"]) else math.inf
        margins[size] = c["auc_mean"] - g_auc
        checks.append(c["auc_mean"] >= g_auc and c["rmse_mean"] <= g_rmse)
        parts.append(
            f"{T.SIZE_LABELS[size]}: ΔAUC {margins[size]:+.2f} pts, ΔRMSE {c['rmse_mean'] - g_rmse:+.4f}"
            + (" (GC diverged)" if g["diverged"] else "")
        )
    finite = {s: m for s, m in margins.items() if math.isfinite(m)}
    if "large_dcn" in finite and len(finite) > 1:
        checks.append(max(finite, key=finite.get) == "large_dcn")
        parts.append("largest margin on " + T.SIZE_LABELS[max(finite, key=finite.get)])
    return _grade(sum(checks), len(checks)), "; ".join(parts)


def onset_ratios(probe: dict[str, Any]) -> dict[str, float] | None:
    """Figure 4 numbers from the probe: each measurement's jump at onset (max within ±10 steps of the detector's
    onset over the median before it), the implied σ at onset, and ‖g‖₂ after divergence over before."""
    onset = (probe.get("divergence") or {}).get("onset_step")
    var = top_shared_kernel(probe)
    if onset is None or var is None:
        return None
    onset = float(onset)
    out: dict[str, float] = {"onset_step": onset}
    for field in ("grad_norm", "grad_to_weight", "update_to_weight_inf"):
        s, v = layer_series(probe, var, field)
        before = v[(s < onset - 10) & np.isfinite(v)]
        around = v[(np.abs(s - onset) <= 10) & np.isfinite(v)]
        after = v[(s > onset + 30) & np.isfinite(v)]
        if len(before) and len(around):
            out[f"{field}_jump"] = float(np.nanmax(around) / max(np.median(before), 1e-30))
        if field == "grad_norm" and len(before) and len(after):
            out["grad_norm_after_over_before"] = float(np.median(after) / max(np.median(before), 1e-30))
    for method, (s, sig) in implied_sigmas(probe, var).items():
        around = sig[(np.abs(s - onset) <= 10) & np.isfinite(sig)]
        if len(around):
            out[f"sigma_{method}_at_onset"] = float(np.min(around))
    return out


def c7(numbers: dict[str, float] | None) -> Verdict:
    """At the onset, ‖r/w‖_∞ jumps by >= 10x more than ‖g‖₂ and ‖g‖₂/‖w‖₂, and Clippy's implied σ is >= 10x smaller
    than GC's and AGC's (paper: ~1e4 vs ~12/25 and 5e-4 vs 0.3/0.075)."""
    if not numbers or "update_to_weight_inf_jump" not in numbers:
        return "not tested", "no unclipped probe run with a detected onset"
    j = numbers
    jump_ok = j["update_to_weight_inf_jump"] >= 10 * max(j.get("grad_norm_jump", 0), j.get("grad_to_weight_jump", 0))
    sig = [j.get(f"sigma_{m}_at_onset", math.nan) for m in ("clippy", "gc", "agc")]
    sigma_ok = all(math.isfinite(x) for x in sig) and sig[0] * 10 <= min(sig[1], sig[2])
    evidence = (
        f"onset step {j['onset_step']:.0f}; jump over steady: ‖g‖₂ {j.get('grad_norm_jump', math.nan):.3g}x, "
        f"‖g‖/‖w‖ {j.get('grad_to_weight_jump', math.nan):.3g}x, ‖r/w‖∞ {j['update_to_weight_inf_jump']:.3g}x; "
        f"σ at onset GC {sig[1]:.3g}, AGC {sig[2]:.3g}, Clippy {sig[0]:.3g}"
    )
    return _grade(jump_ok + sigma_ok, 2), evidence


def c8(numbers: dict[str, float] | None) -> Verdict:
    """After full divergence, the top shared layer's ‖g‖₂ falls below 1/10 of its pre-divergence median."""
    if not numbers or "grad_norm_after_over_before" not in numbers:
        return "not tested", "no probe run with steps after the divergence"
    ratio = numbers["grad_norm_after_over_before"]
    return ("reproduced" if ratio < 0.1 else "not reproduced"), f"median ‖g‖₂ after / before onset = {ratio:.3g}"


def c9(sigma_means: dict[str, float]) -> Verdict:
    """Clippy's mean σ of the bottom shared layer is below that of the top shared layer and of the task outputs."""
    import re

    shared = {
        int(re.search(r"shared_dense_(\d+)", v).group(1)): s for v, s in sigma_means.items() if "shared_dense" in v
    }
    if len(shared) < 2:
        return "not tested", "no Clippy telemetry"
    bottom, top = shared[min(shared)], shared[max(shared)]
    heads = {v: s for v, s in sigma_means.items() if re.match(r"^(click|watch_time)/", v)}
    ok = bottom < top and all(bottom < s for s in heads.values())
    parts = ", ".join(f"{v.split(':')[0]} {s:.3g}" for v, s in sigma_means.items())
    return ("reproduced" if ok else "not reproduced"), f"mean σ over training: {parts}"


def c10(rows: Sequence[Row], ablation: Sequence[Row]) -> Verdict:
    """The clean Large+DCN naive run diverges at least as often as every reduced variant, and strictly more often
    than the smallest; and naive divergence at 1x does not decrease Small -> Large -> Large+DCN."""
    checks, parts = [], []
    if ablation:
        clean = next((a for a in ablation if a["change"].startswith("Clean")), None)
        if clean:
            ratio = clean["diverged"] / clean["tried"]
            others = [a for a in ablation if a is not clean]
            checks.append(all(a["diverged"] / a["tried"] <= ratio for a in others))
            checks.append(any(a["diverged"] / a["tried"] < ratio for a in others))
        parts.append("; ".join(f"{a['change']} {a['diverged']}/{a['tried']}" for a in ablation))
    fracs = []
    for size in ("small", "large", "large_dcn"):
        d, n = T.divergence_counts(rows, "adagrad", size, 1.0)
        if n:
            fracs.append((size, d / n, d, n))
    if len(fracs) > 1:
        monotone = all(a[1] <= b[1] for a, b in itertools.pairwise(fracs))
        checks.append(monotone and fracs[-1][1] > fracs[0][1])
        parts.append("naive 1x by size: " + ", ".join(f"{T.SIZE_LABELS[s]} {d}/{n}" for s, _, d, n in fracs))
    return _grade(sum(checks), len(checks)), "; ".join(parts)


def c11(rows: Sequence[Row]) -> Verdict:
    """For naive, GC and AGC, the fraction of diverged runs (all sizes, hyper-parameters, seeds) at 2x vs 1x:
    reproduced when it never falls and rises for at least one method; partly when it rises for some and falls for
    others; not reproduced when it rises for none."""
    rises = falls = 0
    parts = []
    for method in ("adagrad", "gc", "agc"):
        counts = {}
        for mult in (1.0, 2.0):
            d = n = 0
            for size in _sizes(rows):
                a, b = T.divergence_counts(rows, method, size, mult)
                d, n = d + a, n + b
            counts[mult] = (d, n)
        if counts[1.0][1] and counts[2.0][1]:
            f1, f2 = counts[1.0][0] / counts[1.0][1], counts[2.0][0] / counts[2.0][1]
            rises += f2 > f1
            falls += f2 < f1
            parts.append(
                f"{T.LABELS[method]} 1x {counts[1.0][0]}/{counts[1.0][1]} -> 2x {counts[2.0][0]}/{counts[2.0][1]}"
            )
    if not parts:
        return "not tested", ""
    verdict = "not reproduced" if not rises else ("partly" if falls else "reproduced")
    return verdict, "; ".join(parts)
