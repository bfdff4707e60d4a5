import pytest

from perfwatch.domain.config import load_config
from perfwatch.domain.errors import ConfigError
from perfwatch.domain.sampling import median_ci, quantile, summarize


def test_precedence_flag_env_file_default(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.perfwatch]\ndb-url = "sqlite:///from-file.db"\ntimeout_s = 10\n')
    assert load_config(cwd=tmp_path).db_url == "sqlite:///from-file.db"
    assert load_config(cwd=tmp_path).timeout_s == 10.0
    monkeypatch.setenv("PERFWATCH_DB_URL", "sqlite:///from-env.db")
    assert load_config(cwd=tmp_path).db_url == "sqlite:///from-env.db"
    assert load_config({"db_url": "sqlite:///from-flag.db"}, cwd=tmp_path).db_url == "sqlite:///from-flag.db"
    (tmp_path / "perfwatch.toml").write_text("min_samples = 25\n")
    assert load_config(cwd=tmp_path).min_samples == 25  # perfwatch.toml wins over pyproject


def test_default_db_is_sqlite_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFWATCH_HOME", str(tmp_path))
    assert load_config(cwd=tmp_path).resolved_db_url() == f"sqlite:///{tmp_path}/perfwatch.db"


@pytest.mark.parametrize("text, msg", [("nonsense = 1\n", "unknown setting 'nonsense'"),
                                       ("timeout_s = -5\n", "must be > 0"),
                                       ("db_url = 5\n", "must be a string"),
                                       ("timeout_s = [\n", "cannot read")])
def test_invalid_files(tmp_path, text, msg):
    (tmp_path / "perfwatch.toml").write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_config(cwd=tmp_path)


def test_env_values_are_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFWATCH_TIMEOUT_S", "abc")
    with pytest.raises(ConfigError, match="PERFWATCH_TIMEOUT_S"):
        load_config(cwd=tmp_path)


def test_summary_statistics():
    xs = [10.0, 11.0, 9.0, 10.5, 9.5, 30.0]  # one outlier
    s = summarize(xs)
    assert s.median == pytest.approx(10.25)
    assert s.q1 == pytest.approx(9.625) and s.q3 == pytest.approx(10.875)
    assert s.mad == pytest.approx(0.75)
    assert quantile(sorted(xs), 0.0) == 9.0 and quantile(sorted(xs), 1.0) == 30.0


def test_median_ci_covers_the_median_at_about_95_percent():
    import random

    rng = random.Random(1)
    hits = 0
    for _ in range(400):
        xs = sorted(rng.lognormvariate(0, 0.3) for _ in range(50))
        lo, hi = median_ci(xs)
        hits += lo <= 1.0 <= hi  # the true median of lognormal(0, s) is 1
    assert 0.92 <= hits / 400 <= 0.995
