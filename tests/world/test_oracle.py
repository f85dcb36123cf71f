"""The oracle: the same impressions as the logs, expectations that match the observed rates and the drawn outcomes."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from config.settings import tiny_preset
from world.oracle import ORACLE_TASKS, Oracle, expected_outcomes
from world.outcomes import Latents, draw_outcomes
from world.simulator import World, generate_lines

TINY = tiny_preset().world
BINARY = ("click", "like", "share", "dismiss")


def _observed(records: list[dict]) -> dict[str, np.ndarray]:
    out = {task: np.array([r[task] for r in records], dtype=float) for task in BINARY}
    out["watch_time"] = np.log1p(np.array([r["watch_time_s"] for r in records]))
    out["survey_rating"] = np.array([np.nan if r["survey_rating"] is None else r["survey_rating"] for r in records])
    return out


def _days(cfg, days) -> tuple[list[dict], dict[str, np.ndarray]]:
    world = World(cfg)
    oracle = Oracle(world)
    records, parts = [], []
    for day in days:
        for shard in range(cfg.num_shards):
            part = oracle.shard(day, shard)
            shard_records = list(world.generate_shard(day, shard))
            assert part.impression_ids == [r["impression_id"] for r in shard_records]
            records += shard_records
            parts.append(part)
    values = {task: np.concatenate([p.values[task] for p in parts]) for task in ORACLE_TASKS}
    return records, values


def test_the_oracle_replays_the_generated_stream_without_changing_it():
    world = World(TINY)
    before = list(generate_lines(TINY, 2, 1))
    span = Oracle(world).day(2)
    records = [r for shard in range(TINY.num_shards) for r in world.generate_shard(2, shard)]
    assert span.impression_ids == [r["impression_id"] for r in records]
    assert list(world.generate_lines(2, 1)) == before  # replaying the draws leaves the logs as they were
    again = Oracle(TINY).day(2)
    for task in ORACLE_TASKS:
        np.testing.assert_array_equal(again.values[task], span.values[task])  # deterministic per (seed, day, shard)
    looked_up = span.lookup(["nope", span.impression_ids[7]])
    assert np.isnan(looked_up["click"][0]) and looked_up["click"][1] == span.values["click"][7]


@pytest.mark.parametrize("label_noise_rate", [0.0, 0.1])
def test_the_oracle_mean_matches_the_observed_rates(label_noise_rate):
    """Over five tiny days (20k impressions) each task's mean expectation is within 4 standard errors of the observed
    mean, with and without label noise; so is the click rate within each decile of the oracle's click probability."""
    cfg = dataclasses.replace(TINY, label_noise_rate=label_noise_rate)
    records, expected = _days(cfg, range(5))
    observed = _observed(records)
    for task in BINARY:
        p, y = expected[task], observed[task]
        stderr = np.sqrt((p * (1 - p)).sum()) / len(p)
        assert abs(p.mean() - y.mean()) <= 4 * stderr, (task, p.mean(), y.mean(), stderr)
    for task in ("watch_time", "survey_rating"):
        known = np.isfinite(observed[task])
        residual = observed[task][known] - expected[task][known]
        assert abs(residual.mean()) <= 4 * residual.std() / np.sqrt(known.sum()), (task, residual.mean())
    p, y = expected["click"], observed["click"]
    deciles = np.quantile(p, np.linspace(0, 1, 11))
    for low, high in itertools.pairwise(deciles):
        inside = (p >= low) & (p <= high)
        stderr = np.sqrt((p[inside] * (1 - p[inside])).sum()) / inside.sum()
        assert abs(p[inside].mean() - y[inside].mean()) <= 4 * stderr, (low, high)


def test_the_expectations_are_the_means_of_the_simulators_own_draws():
    """Monte Carlo against quadrature: 40 impressions' latents, each drawn 20,000 times with `draw_outcomes` (the
    simulator's own function), agree with `expected_outcomes` per impression within 5 standard errors."""
    rng = np.random.default_rng(0)
    n, repeats = 40, 20_000
    latents = Latents(
        affinity=rng.normal(0.0, 1.0, n),
        quality_z=rng.uniform(-2.0, 2.0, n),
        clickbait=rng.uniform(-0.25, 0.6, n),
        subscribed=rng.random(n) < 0.3,
        position=rng.integers(0, 8, n),
        surface_bias=rng.choice([0.0, 0.2, 0.5], n),
        duration_ds=rng.integers(50, 20_000, n),
    )
    expected = expected_outcomes(latents)
    tiled = Latents(**{f.name: np.tile(getattr(latents, f.name), (repeats, 1)) for f in dataclasses.fields(Latents)})
    drawn = draw_outcomes(rng, tiled, survey_rate=1.0)
    samples = {task: getattr(drawn, task).astype(float) for task in BINARY}
    samples["watch_time"] = np.where(drawn.click, np.log1p(np.floor(drawn.fraction * tiled.duration_ds) / 10.0), 0)
    samples["survey_rating"] = drawn.rating
    for task in ORACLE_TASKS:
        mean, stderr = samples[task].mean(0), samples[task].std(0) / np.sqrt(repeats) + 1e-4
        assert np.all(np.abs(mean - expected[task]) <= 5 * stderr), (task, np.max(np.abs(mean - expected[task])))


def test_the_quadrature_has_converged():
    """Within 1e-6 of 64 nodes; watch time within 1e-3 log1p seconds (its 0.1 s rounding is a step function)."""
    latents = next(World(TINY).impression_batches(0, 0)).latents
    coarse, fine = expected_outcomes(latents), expected_outcomes(latents, nodes=64)
    for task in ORACLE_TASKS:
        atol = 1e-3 if task == "watch_time" else 1e-6
        np.testing.assert_allclose(coarse[task], fine[task], atol=atol, err_msg=task)
