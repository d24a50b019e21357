"""What a run report is built from, and the helpers every part of it uses.

A task's report section (`TaskSection`, returned by the task table's `report_section`,
pipelines/tasks.py) is its gate checks (`GateCheck`: the candidate's figure, the
baseline's, the bar, passed or not), a one-line verdict (blessed or not, and why), an
HTML fragment and the figures in it. Figures are matplotlib PNGs drawn on the Agg canvas
(no pyplot, no display) and embedded as data: URIs, so a report is one self-contained
file. Fragments are rendered with jinja2 and autoescaping.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import math
from typing import Dict, List, Optional, Sequence, Tuple

import jinja2
import markupsafe
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


@dataclasses.dataclass
class GateCheck:
    """One check of the evaluator's gate, as it was applied in the run."""
    metric: str
    candidate: Optional[float]
    baseline: Optional[float]  # None: no model in service to compare with
    bar: str  # e.g. ">= 0.9", "no drop below the baseline"
    passed: Optional[bool]  # None: the gate did not say


@dataclasses.dataclass
class Figure:
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclasses.dataclass
class TaskSection:
    """A task's part of one model's report."""
    checks: List[GateCheck]
    verdict: str  # blessed or not, and why
    html: markupsafe.Markup = markupsafe.Markup("")
    figures: List[Figure] = dataclasses.field(default_factory=list)


def render(template: str, **context) -> markupsafe.Markup:
    """An autoescaped jinja2 fragment (safe to embed in the page as is)."""
    return markupsafe.Markup(_ENV.from_string(template).render(**context))


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# A text task's section starts with its scores (candidate, and baseline when there was
# one) and its figures; `score_rows` fills `details`.
SCORES_FRAGMENT = """
<h4>Scores</h4>
<table class="grid"><tr><th>score</th><th>candidate</th>
{% if baseline %}<th>baseline</th>{% endif %}</tr>
{% for name, cand, base in details %}<tr><td>{{ name }}</td><td>{{ cand }}</td>
{% if baseline %}<td>{{ base }}</td>{% endif %}</tr>{% endfor %}</table>
{% for fig in figures %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.title }}">
<figcaption>{{ fig.title }}</figcaption></figure>{% endfor %}
"""


def score_rows(candidate: Dict, baseline: Optional[Dict],
               keys: Sequence[str]) -> List[Tuple[str, str, str]]:
    """(score, candidate's, baseline's or "") rows of SCORES_FRAGMENT's table."""
    return [(key, fmt(candidate.get(key)), fmt(baseline.get(key)) if baseline else "")
            for key in keys]


def _png(fig: MplFigure, title: str) -> Figure:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return Figure(title=title, png=buf.getvalue())


def line_chart(title: str, panels: Dict[str, Dict[str, Sequence[Tuple[float, float]]]],
               xlabel: str = "epoch") -> Figure:
    """One panel per metric (`{metric: {series: [(x, y)]}}`), series as lines."""
    fig = MplFigure(figsize=(4.2 * max(len(panels), 1), 3.2), layout="constrained")
    for i, (metric, series) in enumerate(panels.items()):
        ax = fig.add_subplot(1, max(len(panels), 1), i + 1)
        for name, points in series.items():
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3,
                    label=name)
        ax.set_title(metric)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _png(fig, title)


def bar_chart(title: str, labels: Sequence[str], series: Dict[str, Sequence[float]],
              ylabel: str, ylim: Optional[Tuple[float, float]] = None) -> Figure:
    """Grouped bars: one group per label, one bar per series."""
    fig = MplFigure(figsize=(max(4.0, 0.55 * len(labels) * max(len(series), 1) + 1.5), 3.0),
                    layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45 if max(map(len, labels), default=0) > 3 else 0,
                       ha="right" if max(map(len, labels), default=0) > 3 else "center")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig, title)


def heatmap(title: str, matrix: np.ndarray, labels: Sequence[str], xlabel: str,
            ylabel: str) -> Figure:
    """A count matrix with its counts written in the cells (a confusion matrix)."""
    n = len(labels)
    size = min(max(3.5, 0.45 * n + 1.5), 12.0)
    fig = MplFigure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=90 if max(map(len, labels), default=0) > 2 else 0)
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if n <= 20:
        top = matrix.max() if matrix.size else 0
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, f"{count:g}", ha="center", va="center", fontsize=7,
                        color="white" if count > top / 2 else "black")
    ax.set_title(title, fontsize=10)
    return _png(fig, title)
