"""Altair charts of the dashboard: histories with their spread, change points and regressions.

Colours mean one thing everywhere: each mode has one colour in every view (MODE_COLORS), and
red / green / grey are kept for regression / improvement / no change (VERDICT_COLORS), so no mode
is drawn in a verdict's colour."""

from __future__ import annotations

import altair as alt
import pandas as pd

from perfwatch.domain.units import figure
from perfwatch.domain.vocab import MODES

# blue, orange, purple, teal: none of them red or green, which mean regression and improvement
MODE_COLORS = dict(zip(MODES, ("#4c78a8", "#f58518", "#b279a2", "#72b7b2")))
OTHER_MODE = "#8c6d31"  # a mode perfwatch does not know (a user suite's own)
VERDICT_COLORS = {"regression": "#d62728", "improvement": "#2ca02c", "same": "#9e9e9e", "untested": "#e6a000"}
REGRESSION, IMPROVEMENT = VERDICT_COLORS["regression"], VERDICT_COLORS["improvement"]
COUNTERS = ("count", "bool")  # integer metrics: integer axis ticks, never 2.000000
GIB, MIB = 1024 ** 3, 1024 ** 2
ROW_PX = 26  # height of one bar row: room for its label at the default font
# Streamlit draws charts with autosize "fit" (padding included): a chart's height holds its x axis
# and title too, so a bar chart is that much taller than its rows
AXIS_PX = 70


def scale_unit(values: pd.Series, unit: str) -> tuple[float, str]:
    """A divisor and display unit that keep figures readable on an axis: bytes as MiB or GiB,
    milliseconds past a second as s, seconds under one as ms."""
    mid = values.abs().median() if len(values) else 0
    if unit == "bytes" and len(values):
        return (GIB, "GiB") if mid >= GIB else (MIB, "MiB")
    if unit == "ms" and mid >= 1000:
        return 1000.0, "s"
    if unit == "s" and 0 < mid < 1:
        return 1 / 1000, "ms"
    return 1.0, unit


def value_axis(unit: str, title: str | None, inside: bool = False) -> alt.Axis:
    """Counters get integer ticks; everything else Vega's default ticks. ``inside``: labels drawn
    inside the plot, so the axis takes no width (a stretched vconcat row is exactly as wide as
    the page, and anything beside it would be cut off)."""
    extra = dict(labelAlign="left", labelBaseline="bottom", labelPadding=-4, tickSize=0, domain=False) if inside else {}
    if unit in COUNTERS:
        return alt.Axis(title=title, format="d", tickMinStep=1, **extra)
    return alt.Axis(title=title, **extra)


def mode_of(label: str) -> str:
    """A series label starts with its mode ("default float16 {...}" when a benchmark has variants)."""
    return str(label).split(" ", 1)[0]


def mode_color(field: str, values, title: str = "mode", orient: str = "right") -> alt.Color:
    """Colour by mode (or by a label that starts with one) with the one mode→colour mapping. The
    legend's symbols are opaque: they would otherwise take the faint spread band's opacity."""
    domain = list(dict.fromkeys(values))
    scale = alt.Scale(domain=domain, range=[MODE_COLORS.get(mode_of(v), OTHER_MODE) for v in domain])
    return alt.Color(f"{field}:N", title=title, scale=scale, sort=domain, legend=alt.Legend(orient=orient, symbolOpacity=1))


def verdict_color(field: str = "verdict") -> alt.Color:
    return alt.Color(f"{field}:N", title="verdict",
                     scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())))


def _shown(points: pd.DataFrame, unit: str) -> tuple[pd.DataFrame, str]:
    """``points`` with the value and its spread band in the display unit, and the figure as text
    for tooltips (2.44 GiB, 42.7 ms)."""
    div, shown_unit = scale_unit(points["value"], unit)
    half = points["spread"].fillna(0) / 2
    return points.assign(shown=points["value"] / div, lo=(points["value"] - half) / div, hi=(points["value"] + half) / div,
                         figure=points["value"].map(lambda v: figure(v, unit)),
                         commit=points["git_sha"].fillna("").str[:10]), shown_unit


def trend_chart(points: pd.DataFrame, unit: str, changes: pd.DataFrame | None = None,
                regressions: pd.DataFrame | None = None, height: int = 340, title: str | None = None) -> alt.Chart:
    """Value over time, one line per ``label``, the spread (IQR) as a band around it, detected
    change points as dashed rules (red: regression, green: improvement) and stored regressions
    as red triangles. Zoom and pan on x; click the legend to pick out one mode. Width: the
    container's (st.altair_chart(..., width="stretch"))."""
    df, shown_unit = _shown(points, unit)
    div = scale_unit(points["value"], unit)[0]
    pick = alt.selection_point(fields=["label"], bind="legend")
    base = alt.Chart(df).encode(x=alt.X("created_at:T", title=None), color=mode_color("label", df["label"]))
    tooltip = [alt.Tooltip("label:N", title="mode"), alt.Tooltip("created_at:T", title="time", format="%Y-%m-%d %H:%M"),
               alt.Tooltip("figure:N", title="value"), alt.Tooltip("run_id:N", title="run"), alt.Tooltip("commit:N"),
               alt.Tooltip("torch_version:N", title="torch"), alt.Tooltip("gpu:N", title="GPU"),
               alt.Tooltip("machine:N"), alt.Tooltip("n:Q", title="samples")]
    band = base.mark_area(opacity=0.18).encode(y="lo:Q", y2="hi:Q", opacity=alt.condition(pick, alt.value(0.18), alt.value(0.03)))
    line = base.mark_line(strokeWidth=1.6).encode(
        y=alt.Y("shown:Q", axis=value_axis(unit, shown_unit), scale=alt.Scale(zero=False)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)))
    dots = base.mark_circle(size=28).encode(y="shown:Q", tooltip=tooltip,
                                            opacity=alt.condition(pick, alt.value(0.9), alt.value(0.1)))
    layers = [band, line, dots]
    if changes is not None and len(changes):
        # Fixed colours, no colour scale: a second scale would split the mode legend in three.
        for kind, colour in (("regression", REGRESSION), ("improvement", IMPROVEMENT)):
            some = changes[changes["kind"] == kind]
            if len(some):
                layers.append(alt.Chart(some.assign(pct=some["change"] * 100)).mark_rule(
                    strokeDash=[5, 4], strokeWidth=1.5, color=colour).encode(
                    x=alt.X("ts:T"),
                    tooltip=[alt.Tooltip("label:N", title="mode"), alt.Tooltip("kind:N", title="change point"),
                             alt.Tooltip("pct:Q", title="change %", format="+.1f"),
                             alt.Tooltip("run_id:N", title="from run")]))
    if regressions is not None and len(regressions):
        marks = alt.Chart(regressions.assign(shown=regressions["after"] / div, pct=regressions["change"] * 100,
                                             figure=regressions["after"].map(lambda v: figure(v, unit)))).mark_point(
            shape="triangle-up", size=160, filled=True, color=REGRESSION).encode(
            x="ts:T", y="shown:Q",
            tooltip=[alt.Tooltip("label:N", title="mode"), alt.Tooltip("state:N", title="regression"),
                     alt.Tooltip("pct:Q", title="change %", format="+.1f"), alt.Tooltip("figure:N", title="after"),
                     alt.Tooltip("run_id:N", title="run")])
        layers.append(marks)
    chart = alt.layer(*layers).add_params(pick).properties(height=height, width="container")
    if title:
        chart = chart.properties(title=title)
    return chart.interactive(bind_y=False)


def bar_chart(df: pd.DataFrame, x: str, y: str, color: str, x_title: str, y_title: str | None,
              color_enc: alt.Color | None = None, tooltip: list | None = None) -> alt.Chart:
    """Grouped horizontal bars (y categories, one bar per color value), each bar ROW_PX high with
    its label shown in full."""
    groups = df[y].nunique() * max(1, df[color].nunique())
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y(f"{y}:N", title=y_title, sort=list(dict.fromkeys(df[y])), axis=alt.Axis(labelLimit=420, labelOverlap=False)),
        yOffset=f"{color}:N", color=color_enc or alt.Color(f"{color}:N"),
        tooltip=tooltip or [y, color, alt.Tooltip(f"{x}:Q", format=".3g")],
    ).properties(height=ROW_PX * groups + AXIS_PX, width="container")


def change_bars(rows: pd.DataFrame, metric: str) -> alt.Chart:
    """Compare's chart: the change B vs A of one metric per case, coloured by verdict (red
    regression, green improvement, grey same, amber untested), one labelled row per case; the
    tooltip has both figures with their units and the p-value ("untested" when none)."""
    df = rows.assign(case=rows["benchmark"] + " [" + rows["mode"] + "]", pct=rows["change"] * 100,
                     A=[figure(v, u) for v, u in zip(rows["a"], rows["unit"])],
                     B=[figure(v, u) for v, u in zip(rows["b"], rows["unit"])], p=pvalue_text(rows))
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("pct:Q", title=f"{metric} change B vs A (%)"),
        y=alt.Y("case:N", title=None, sort=list(df["case"]), axis=alt.Axis(labelLimit=420, labelOverlap=False)),
        color=verdict_color(),
        tooltip=[alt.Tooltip("case:N"), "A:N", "B:N", alt.Tooltip("pct:Q", title="change %", format="+.1f"),
                 alt.Tooltip("p:N", title="p"), alt.Tooltip("verdict:N")],
    ).properties(height=ROW_PX * len(df) + AXIS_PX, width="container")


def pvalue_text(rows: pd.DataFrame) -> list[str]:
    """A p-value as people read it: the number, "exact" for counters, "untested" where one process
    per run left nothing to test (never "None")."""
    out = []
    for p, test in zip(rows["pvalue"], rows["test"]):
        out.append(f"{p:.2g}" if p is not None and not pd.isna(p) else "exact" if test == "exact" else "untested")
    return out


def history_grid(points: pd.DataFrame, height: int = 150) -> alt.VConcatChart:
    """Several metrics' histories, one row each, as one chart (one Vega view to draw rather than
    one per metric: the page renders much faster). A vertical concatenation, not a facet: Streamlit
    stretches each row of a vconcat to the page width (a facet's width is fixed), and each row gets
    its own unit and axis (integer ticks for counters). ``points`` has the columns of a trend frame
    plus ``label``, ``metric``, ``unit``, ``gpu``, ``machine`` and ``regressed`` (a stored
    regression starts at this point)."""
    color = mode_color("label", points["label"], orient="top")  # not beside: no width to spare
    rows = []
    for metric, grp in points.groupby("metric", sort=False):
        unit = grp["unit"].iloc[0]
        df, shown_unit = _shown(grp, unit)
        tooltip = [alt.Tooltip("metric:N"), alt.Tooltip("label:N", title="mode"),
                   alt.Tooltip("created_at:T", title="time", format="%Y-%m-%d %H:%M"),
                   alt.Tooltip("figure:N", title="value"), alt.Tooltip("run_id:N", title="run"),
                   alt.Tooltip("commit:N"), alt.Tooltip("torch_version:N", title="torch"), alt.Tooltip("gpu:N", title="GPU")]
        base = alt.Chart().encode(x=alt.X("created_at:T", title=None), color=color)
        y = alt.Y("shown:Q", axis=value_axis(unit, None, inside=True), scale=alt.Scale(zero=False))
        rows.append(alt.layer(
            base.mark_area(opacity=0.18).encode(y="lo:Q", y2="hi:Q"),
            base.mark_line(strokeWidth=1.4).encode(y=y),
            base.mark_circle(size=18).encode(y="shown:Q", tooltip=tooltip),
            base.transform_filter("datum.regressed").mark_point(shape="triangle-up", size=140, filled=True,
                                                                color=REGRESSION).encode(y="shown:Q", tooltip=tooltip),
            data=df,
        ).properties(height=height, width="container", title=f"{metric} ({shown_unit})"))
    return alt.vconcat(*rows, spacing=18).resolve_scale(y="independent")
