"""Tests of perfwatch.detect: the detector on constructed series, the online replay, CSV input."""

from __future__ import annotations

import numpy as np
import pytest

from perfwatch.detect import (
    HIGHER,
    IMPROVEMENT,
    LOWER,
    REGRESSION,
    DetectConfig,
    Point,
    detect,
    detect_online,
    online_step,
)
from perfwatch.detect.csvinput import read_series_csv
from perfwatch.detect.online import tail_pvalue
from perfwatch.domain.errors import InputError


def noisy(n, cv=0.02, seed=0, level=100.0):
    return level * np.exp(np.random.default_rng(seed).normal(0, cv, n))


def pts(values, spread=None, n=None):
    return [Point(i, float(v), spread, n) for i, v in enumerate(values)]


@pytest.mark.parametrize("direction,factor,expected", [
    (LOWER, 1.10, REGRESSION),
    (LOWER, 1 / 1.10, IMPROVEMENT),
    (HIGHER, 1.10, IMPROVEMENT),
    (HIGHER, 1 / 1.10, REGRESSION),
])
def test_clear_step_found_at_right_index_and_direction(direction, factor, expected):
    v = noisy(120, seed=1)
    v[70:] *= factor
    found = detect(pts(v), direction)
    assert [cp.index for cp in found] == [70]
    cp = found[0]
    assert cp.ts == 70
    assert cp.direction == expected
    assert cp.change == pytest.approx(factor - 1, abs=0.02)
    assert cp.pvalue < 1e-6 and cp.raised_at is None


def test_several_changes_both_ways():
    v = noisy(200, cv=0.01, seed=2)
    v[50:] *= 1.06
    v[120:] /= 1.12
    found = detect(pts(v), LOWER)
    assert [(cp.index, cp.direction) for cp in found] == [(50, REGRESSION), (120, IMPROVEMENT)]


@pytest.mark.parametrize("width", [1, 2])
def test_spikes_do_not_alert(width):
    v = noisy(100, seed=3)
    for start in (30, 60):
        v[start:start + width] *= 1.8
    assert detect(pts(v), LOWER) == []
    assert detect_online(pts(v), LOWER) == []


def test_spike_at_the_end_is_not_a_change_online():
    v = noisy(60, seed=4)
    v[-2:] *= 1.8
    assert online_step(pts(v), LOWER) is None
    assert online_step(pts(v[:-1]), LOWER) is None


def test_change_free_noisy_series_gives_nothing():
    for seed in range(5):
        v = noisy(300, cv=0.03, seed=10 + seed)
        assert detect(pts(v), LOWER) == [], seed


def test_change_free_autocorrelated_series_gives_nothing():
    rng = np.random.default_rng(7)
    x = np.zeros(300)
    for i in range(1, 300):
        x[i] = 0.6 * x[i - 1] + rng.normal(0, 0.02 * np.sqrt(1 - 0.36))
    assert detect(pts(100 * np.exp(x)), LOWER) == []


def test_integer_counter_change_found_exactly():
    v = [0] * 40 + [2] * 40
    v[10] = 1  # one-run blip: a transient, not a change
    found = detect(pts(v), LOWER)
    assert len(found) == 1
    cp = found[0]
    assert (cp.index, cp.before, cp.after, cp.direction) == (40, 0, 2, REGRESSION)
    assert cp.pvalue == 0.0 and cp.change == float("inf")


def test_integer_counter_online_raises_on_second_run():
    v = [3] * 40 + [1] * 10
    alerts = detect_online(pts(v), LOWER)
    assert [(a.index, a.raised_at, a.direction) for a in alerts] == [(40, 41, IMPROVEMENT)]


def test_online_confirm_raises_one_run_later():
    v = noisy(120, cv=0.01, seed=5)
    v[80:] *= 1.15
    plain = detect_online(pts(v), LOWER)
    confirmed = detect_online(pts(v), LOWER, DetectConfig(confirm=1))
    assert [a.index for a in plain] == [80]
    assert [a.index for a in confirmed] == [80]
    assert confirmed[0].raised_at == plain[0].raised_at + 1
    assert plain[0].raised_at - plain[0].index <= 3


def test_online_step_agrees_with_replay():
    v = noisy(120, cv=0.01, seed=5)
    v[80:] *= 1.15
    p = pts(v)
    raised = plain_raised = detect_online(p, LOWER)[0].raised_at
    assert online_step(p[:raised], LOWER) is None
    cp = online_step(p[: raised + 1], LOWER)
    assert cp is not None and cp.index == 80 and cp.raised_at == plain_raised
    assert online_step(p[: raised + 2], LOWER) is None  # raised once, not again
    cfg = DetectConfig(confirm=1)
    assert online_step(p[: raised + 1], LOWER, cfg) is None
    assert online_step(p[: raised + 2], LOWER, cfg).raised_at == raised + 1


def heavy_tail(n=160, seed=0):
    """GPU-like step times: 1% log-normal body, one run in 16 40% slow (a heavy right tail)."""
    v = noisy(n, cv=0.01, seed=seed)
    v[np.arange(n) % 16 == 7] *= 1.4
    return v


def test_online_slow_runs_in_a_row_within_a_known_tail_do_not_alert():
    v = heavy_tail()
    v[108:111] *= 1.4  # three slow runs in a row: likely enough with a 6% tail
    p = pts(v[:125])
    assert detect_online(p, LOWER) == []
    assert all(online_step(p[:k], LOWER) is None for k in range(109, 116))
    # without the tail gate the same three runs look like a new level
    assert [a.index for a in detect_online(p, LOWER, DetectConfig(tail_pvalue=1))] == [108]


def test_online_real_step_in_a_heavy_tailed_series_still_alerts_quickly():
    v = heavy_tail()
    v[108:111] *= 1.4
    v[125:] *= 1.05  # a persisting 5% regression (5 sigma of the body)
    alerts = detect_online(pts(v[:140]), LOWER)
    assert [(a.index, a.direction) for a in alerts] == [(125, REGRESSION)]
    assert alerts[0].raised_at - alerts[0].index <= 4


def test_tail_pvalue_is_the_chance_of_so_many_runs_so_far_out():
    hist = list(range(100))
    assert tail_pvalue(hist, [100, 101, 102], up=True) == pytest.approx((1 / 101) ** 3)
    assert tail_pvalue(hist, [95, 96, 97], up=True) == pytest.approx((6 / 101) ** 3)
    assert tail_pvalue(hist, [-1, -2], up=False) == pytest.approx((1 / 101) ** 2)


def test_short_excursion_that_returns_is_one_transient_retrospectively():
    v = noisy(200, cv=0.01, seed=9)
    v[100:104] *= 1.10  # four runs 10% slower, then back: a transient, not two changes
    assert detect(pts(v), LOWER) == []
    assert [cp.index for cp in detect(pts(v), LOWER, DetectConfig(max_transient=0))] == [100, 104]
    v[150:] *= 1.10  # a level that persists is still a change
    assert [cp.index for cp in detect(pts(v), LOWER)] == [150]


def test_min_effect_threshold_is_honoured():
    v = noisy(200, cv=0.002, seed=6)
    v[100:] *= 1.008  # 4 sigma but below the 1% default minimum effect
    assert detect(pts(v), LOWER) == []
    assert [cp.index for cp in detect(pts(v), LOWER, DetectConfig(min_effect=0.005))] == [100]


def test_run_spread_floors_the_noise():
    v = noisy(120, cv=0.001, seed=8)
    v[60:] *= 1.015
    assert [cp.index for cp in detect(pts(v), LOWER)] == [60]
    # each run's own samples say its median is only known to ~8%: a 1.5% step is not evidence
    wide = [Point(i, float(x), 0.2 * float(x), 5) for i, x in enumerate(v)]
    assert detect(wide, LOWER) == []


def test_bad_direction_rejected():
    with pytest.raises(ValueError):
        detect(pts([1.0] * 10), "smaller")


def write(tmp_path, text, name="s.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_csv_reads_and_sorts_iso_timestamps(tmp_path):
    f = write(tmp_path, "series,ts,value,direction\n"
                        "a,2024-03-02T00:00:00Z,2.0,lower_is_better\n"
                        "a,2024-03-01T12:00:00Z,1.0,\n"
                        "b,10,5,higher_is_better\n"
                        "b,9,4,\n")
    got = read_series_csv(f)
    assert got["a"][0] == "lower_is_better"
    assert [p.value for p in got["a"][1]] == [1.0, 2.0]
    assert got["b"][0] == "higher_is_better"
    assert [p.ts for p in got["b"][1]] == [9, 10]


def test_csv_missing_column_names_line(tmp_path):
    f = write(tmp_path, "series,value\na,1\n")
    with pytest.raises(InputError, match=r"line 1: missing column\(s\) ts"):
        read_series_csv(f)


def test_csv_non_numeric_value_names_line(tmp_path):
    f = write(tmp_path, "series,ts,value\na,1,1.0\na,2,fast\n")
    with pytest.raises(InputError, match=r"line 3: value 'fast' is not a number"):
        read_series_csv(f)


def test_csv_duplicate_ts_names_line(tmp_path):
    f = write(tmp_path, "series,ts,value\na,1,1.0\nb,1,1.0\na,2,1.0\na,1,3.0\n")
    with pytest.raises(InputError, match=r"line 5: duplicate ts 1 in series 'a' \(first on line 2\)"):
        read_series_csv(f)


def test_csv_bad_ts_names_line(tmp_path):
    f = write(tmp_path, "series,ts,value\na,yesterday,1.0\n")
    with pytest.raises(InputError, match="line 2: ts 'yesterday'"):
        read_series_csv(f)
