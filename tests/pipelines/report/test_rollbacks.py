"""The report's "Rollbacks" part (pipelines/report/production.py `rollbacks_html`): the
rollback records of a local serving repository, made by trainer/serving/rollback.py, read
back through runs.serving_now as the report reads them. The whole page on real runs is
tests/pipelines/test_production_loop_e2e.py."""
import datetime
import os

from pipelines.report import production
from pipelines.report import runs as report
from trainer.serving import rollback as rb

NAME = "mnist_cnn"


def _push(root, version):
    folder = os.path.join(root, NAME, str(version))
    os.makedirs(folder)
    with open(os.path.join(folder, "saved_model.pb"), "w") as f:
        f.write(str(version))


def _served(root):
    pushed = report.ModelResult(model="cnn", metrics={}, baseline_uri=None, blessed=True,
                                pushed_path=os.path.join(root, NAME, "10"),
                                training_stats=None, serving_name=NAME)
    return report.serving_now(root, [report.RunReport(run_id="r1", nodes={},
                                                      models=[pushed])])


def _at(hour):
    return datetime.datetime(2026, 12, 3, hour, 5, 0, tzinfo=datetime.timezone.utc)


def test_rollbacks_are_listed_with_who_when_and_whether_they_hold(tmp_path):
    root = str(tmp_path / "serving")
    for version in (10, 20, 30):
        _push(root, version)
    assert production.rollback_rows(_served(root)) == []
    assert "No rollback recorded." in production.rollbacks_html(_served(root))

    rb.rollback(root, NAME, user="carol", now=_at(9))
    [row] = production.rollback_rows(_served(root))
    assert row == {"name": NAME, "from_version": 30, "to_version": 20, "user": "carol",
                   "time": "2026-12-03T09:05:00+00:00",
                   "now": "in force: version 20 served", "cls": ""}
    html = production.rollbacks_html(_served(root))
    assert ("<td>mnist_cnn</td><td>30</td><td>20</td><td>carol</td>"
            "<td>2026-12-03T09:05:00+00:00</td><td class=\"\">in force: version 20 served"
            "</td>") in html

    _push(root, 40)  # a push ends the rollback
    [row] = production.rollback_rows(_served(root))
    assert row["now"] == "ended: version 40 served now"

    rb.rollback(root, NAME, user="dave", now=_at(11))
    rows = production.rollback_rows(_served(root))
    assert [(r["from_version"], r["to_version"], r["user"], r["now"]) for r in rows] == [
        (30, 20, "carol", "ended: version 20 served now"),
        (40, 20, "dave", "in force: version 20 served")]


def test_a_damaged_record_is_shown_not_hidden(tmp_path):
    root = str(tmp_path / "serving")
    _push(root, 10)
    with open(rb.record_path(root, NAME), "w") as f:
        f.write("{not json")
    html = production.rollbacks_html(_served(root))
    assert "No rollback recorded." in html
    assert f"{rb.record_path(root, NAME)}: not a rollback record" in html
