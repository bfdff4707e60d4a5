"""Altair charts of the dashboard: histories with their spread, change points and regressions."""

from __future__ import annotations

import altair as alt
import pandas as pd

MODE_COLORS = {"eager": "#4c78a8", "default": "#f58518", "reduce-overhead": "#54a24b", "max-autotune": "#b279a2"}
GIB, MIB = 1024 ** 3, 1024 ** 2


def scale_unit(values: pd.Series, unit: str) -> tuple[float, str]:
    """A divisor and display unit that keep byte figures readable."""
    if unit == "bytes" and len(values):
        return (GIB, "GiB") if values.abs().median() >= GIB else (MIB, "MiB")
    return 1.0, unit


def _color(labels: list[str]) -> alt.Color:
    known = all(label in MODE_COLORS for label in labels)
    scale = alt.Scale(domain=labels, range=[MODE_COLORS[label] for label in labels]) if known else alt.Undefined
    return alt.Color("label:N", title="mode", scale=scale, sort=labels)


def trend_chart(points: pd.DataFrame, unit: str, changes: pd.DataFrame | None = None,
                regressions: pd.DataFrame | None = None, height: int = 340, title: str | None = None) -> alt.Chart:
    """Value over time, one line per ``label``, the spread (IQR) as a band around it, detected
    change points as dashed rules (red: regression, green: improvement) and stored regressions
    as red triangles. Zoom and pan on x;
    click the legend to pick out one mode."""
    div, shown_unit = scale_unit(points["value"], unit)
    df = points.assign(
        shown=points["value"] / div,
        lo=(points["value"] - points["spread"].fillna(0) / 2) / div,
        hi=(points["value"] + points["spread"].fillna(0) / 2) / div,
        commit=points["git_sha"].fillna("").str[:10],
    )
    labels = list(dict.fromkeys(df["label"]))
    pick = alt.selection_point(fields=["label"], bind="legend")
    x = alt.X("created_at:T", title=None)
    base = alt.Chart(df).encode(x=x, color=_color(labels))
    tooltip = [alt.Tooltip("label:N", title="mode"), alt.Tooltip("created_at:T", title="time", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("shown:Q", title=f"value ({shown_unit})", format=".4g"),
               alt.Tooltip("run_id:N", title="run"), alt.Tooltip("commit:N"),
               alt.Tooltip("torch_version:N", title="torch"), alt.Tooltip("gpu:N", title="GPU"),
               alt.Tooltip("machine:N"), alt.Tooltip("n:Q", title="samples")]
    band = base.mark_area(opacity=0.18).encode(y="lo:Q", y2="hi:Q", opacity=alt.condition(pick, alt.value(0.18), alt.value(0.03)))
    line = base.mark_line(strokeWidth=1.6).encode(
        y=alt.Y("shown:Q", title=shown_unit, scale=alt.Scale(zero=False)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)))
    dots = base.mark_circle(size=28).encode(y="shown:Q", tooltip=tooltip,
                                            opacity=alt.condition(pick, alt.value(0.9), alt.value(0.1)))
    layers = [band, line, dots]
    if changes is not None and len(changes):
        # Fixed colours, no colour scale: a second scale would split the mode legend in three.
        for kind, colour in (("regression", "#d62728"), ("improvement", "#2ca02c")):
            some = changes[changes["kind"] == kind]
            if len(some):
                layers.append(alt.Chart(some.assign(pct=some["change"] * 100)).mark_rule(
                    strokeDash=[5, 4], strokeWidth=1.5, color=colour).encode(
                    x=alt.X("ts:T"),
                    tooltip=[alt.Tooltip("label:N", title="mode"), alt.Tooltip("kind:N", title="change point"),
                             alt.Tooltip("pct:Q", title="change %", format="+.1f"),
                             alt.Tooltip("run_id:N", title="from run")]))
    if regressions is not None and len(regressions):
        marks = alt.Chart(regressions.assign(shown=regressions["after"] / div, pct=regressions["change"] * 100)).mark_point(
            shape="triangle-up", size=160, filled=True, color="#d62728").encode(
            x="ts:T", y="shown:Q",
            tooltip=[alt.Tooltip("label:N", title="mode"), alt.Tooltip("state:N", title="regression"),
                     alt.Tooltip("pct:Q", title="change %", format="+.1f"), alt.Tooltip("run_id:N", title="run")])
        layers.append(marks)
    chart = alt.layer(*layers).add_params(pick).properties(height=height)
    if title:
        chart = chart.properties(title=title)
    return chart.interactive(bind_y=False)


def bar_chart(df: pd.DataFrame, x: str, y: str, color: str, x_title: str, y_title: str, height: int = 260) -> alt.Chart:
    """Grouped horizontal bars (y categories, one bar per color value)."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:N", title=y_title, axis=alt.Axis(labelLimit=320)),
        yOffset=f"{color}:N",
        color=alt.Color(f"{color}:N"), tooltip=[y, color, alt.Tooltip(f"{x}:Q", format=".3g")],
    ).properties(height=height)


def history_grid(points: pd.DataFrame, columns: int = 1, height: int = 160) -> alt.FacetChart:
    """Several metrics' histories as small multiples of one chart (one Vega view to draw rather
    than one per metric: the page renders much faster). ``points`` has the columns of a trend
    frame plus ``label``, ``metric``, ``unit``, ``gpu``, ``machine`` and ``regressed`` (a stored
    regression starts at this point)."""
    parts = []
    for metric, grp in points.groupby("metric", sort=False):
        div, shown_unit = scale_unit(grp["value"], grp["unit"].iloc[0])
        parts.append(grp.assign(title=f"{metric} ({shown_unit})", shown=grp["value"] / div,
                                lo=(grp["value"] - grp["spread"].fillna(0) / 2) / div,
                                hi=(grp["value"] + grp["spread"].fillna(0) / 2) / div))
    df = pd.concat(parts).assign(commit=lambda d: d["git_sha"].fillna("").str[:10])
    labels = list(dict.fromkeys(df["label"]))
    tooltip = [alt.Tooltip("title:N", title="metric"), alt.Tooltip("label:N", title="mode"),
               alt.Tooltip("created_at:T", title="time", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("shown:Q", title="value", format=".4g"), alt.Tooltip("run_id:N", title="run"),
               alt.Tooltip("commit:N"), alt.Tooltip("torch_version:N", title="torch"), alt.Tooltip("gpu:N", title="GPU")]
    base = alt.Chart().encode(x=alt.X("created_at:T", title=None), color=_color(labels))
    layer = alt.layer(
        base.mark_area(opacity=0.18).encode(y="lo:Q", y2="hi:Q"),
        base.mark_line(strokeWidth=1.4).encode(y=alt.Y("shown:Q", title=None, scale=alt.Scale(zero=False))),
        base.mark_circle(size=18).encode(y="shown:Q", tooltip=tooltip),
        base.transform_filter("datum.regressed").mark_point(shape="triangle-up", size=140, filled=True,
                                                            color="#d62728").encode(y="shown:Q", tooltip=tooltip),
        data=df,
    ).properties(height=height, width=350 if columns > 1 else 820)  # facets cannot stretch to the container
    return layer.facet(facet=alt.Facet("title:N", title=None, sort=list(dict.fromkeys(df["title"]))), columns=columns) \
        .resolve_scale(y="independent")
