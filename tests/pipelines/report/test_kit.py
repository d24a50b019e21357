"""pipelines/report/kit.py: figures are real PNGs, fragments are escaped."""
import io

import numpy as np
from PIL import Image

from pipelines.report import kit as report_kit


def _decoded(figure):
    image = Image.open(io.BytesIO(figure.png))
    image.verify()  # checks the PNG structure (CRCs, chunks)
    image = Image.open(io.BytesIO(figure.png))
    image.load()
    assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert figure.data_uri.startswith("data:image/png;base64,")
    return image


def test_charts_are_pngs():
    figures = [
        report_kit.line_chart("curves", {"loss": {"train": [(1, 2.0), (2, 1.0)],
                                                  "validation": [(1, 2.5), (2, 1.5)]},
                                         "accuracy": {"train": [(1, 0.5), (2, 0.7)]}}),
        report_kit.bar_chart("per class", ["0", "1", "2"], {"candidate": [0.9, 0.8, 0.7],
                                                            "baseline": [0.85, 0.8, 0.6]},
                             "accuracy", ylim=(0, 1)),
        report_kit.heatmap("confusion", np.array([[5, 1], [0, 4]]), ["cat", "dog"],
                           "predicted", "true"),
    ]
    sizes = [_decoded(f).size for f in figures]
    assert sizes[0][0] > sizes[0][1]  # two panels side by side
    # Different content, different pictures.
    assert len({f.png for f in figures}) == 3


def test_fragments_are_escaped_and_figures_format():
    html = report_kit.render("<td>{{ v }}</td>", v="<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert report_kit.fmt(0.123456) == "0.1235"
    assert report_kit.fmt(float("nan")) == "n/a" and report_kit.fmt(None) == "n/a"
    assert report_kit.fmt(7) == "7"
