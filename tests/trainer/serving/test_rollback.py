"""trainer/serving/rollback.py on local repositories: what is served before and after,
where the newer versions go, the record of who and when, and every refusal leaving the
repository as it was. The files are stand-ins for SavedModels (only names and
saved_model.pb's presence matter here); real models are served in
test_rollback_sync.py."""
import datetime
import json
import os

import pytest

from tests.serving_standins import latest_version_dir
from trainer.serving import model_config
from trainer.serving import rollback as rb

WHEN = datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.timezone.utc)


def _version(root, model, version, complete=True):
    folder = os.path.join(root, model, str(version))
    os.makedirs(os.path.join(folder, "variables"))
    with open(os.path.join(folder, "variables", "variables.index"), "w") as f:
        f.write(str(version))
    if complete:
        with open(os.path.join(folder, "saved_model.pb"), "w") as f:
            f.write(f"model {version}")
    return folder


def _tree(root):
    """Every file and folder under `root` with the files' contents: equal trees, nothing
    changed."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = None
        for name in files:
            with open(os.path.join(folder, name)) as f:
                out[os.path.relpath(os.path.join(folder, name), root)] = f.read()
    return out


@pytest.fixture
def repo(tmp_path):
    """mnist_cnn: complete 100, 200, 300 (served) and an incomplete 50 (a push that
    failed long ago); text_lstm: one version."""
    root = str(tmp_path / "serving")
    for v in (100, 200, 300):
        _version(root, "mnist_cnn", v)
    _version(root, "mnist_cnn", 50, complete=False)
    _version(root, "text_lstm", 7)
    return root


def test_default_target_is_the_newest_complete_version_older_than_the_served(repo):
    assert rb.served_version(repo, "mnist_cnn") == 300
    done = rb.rollback(repo, "mnist_cnn", user="alice", now=WHEN)
    assert (done.from_version, done.to_version) == (300, 200)
    # Everything above the target leaves TF Serving's sight; below it stays.
    assert done.set_aside == [300]
    assert sorted(os.listdir(os.path.join(repo, "mnist_cnn"))) == ["100", "200", "50",
                                                                  rb.RECORD_FILE]
    assert latest_version_dir(os.path.join(repo, "mnist_cnn")).endswith("/200")
    assert rb.served_version(repo, "mnist_cnn") == 200
    assert rb.set_aside_versions(repo, "mnist_cnn") == [300]
    with open(os.path.join(repo, ".rolled-back", "mnist_cnn", "300", "saved_model.pb")) as f:
        assert f.read() == "model 300"  # kept whole, to inspect or restore
    assert rb.served_version(repo, "text_lstm") == 7  # other models untouched

    with open(rb.record_path(repo, "mnist_cnn")) as f:
        record = json.load(f)
    assert record["rollbacks"] == [{
        "model": "mnist_cnn", "from_version": 300, "to_version": 200,
        "set_aside": [300], "user": "alice", "time": "2026-03-01T12:30:00+00:00"}]
    assert rb.active_rollback(repo, "mnist_cnn") == done
    assert rb.describe(done) == ("rolled back from version 300 by alice at "
                                 "2026-03-01T12:30:00+00:00")


def test_explicit_target_and_a_second_rollback_append_to_the_record(repo, monkeypatch):
    monkeypatch.setattr(rb.getpass, "getuser", lambda: "bob")
    first = rb.rollback(repo, "mnist_cnn", to=200, now=WHEN)
    second = rb.rollback(repo, "mnist_cnn", to=100)
    assert (second.from_version, second.to_version, second.set_aside) == (200, 100, [200])
    assert second.user == "bob" and second.time.endswith("+00:00")
    assert rb.read_record(repo, "mnist_cnn") == [first, second]
    assert rb.active_rollback(repo, "mnist_cnn") == second
    assert rb.served_version(repo, "mnist_cnn") == 100


def test_the_record_is_written_atomically(repo, monkeypatch):
    written = []
    monkeypatch.setattr(rb, "write_atomically", lambda path, text: written.append(path))
    rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    assert written == [rb.record_path(repo, "mnist_cnn")]


def test_a_newer_version_served_after_the_rollback_ends_it(repo):
    rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    _version(repo, "mnist_cnn", 500)  # a later push
    assert rb.served_version(repo, "mnist_cnn") == 500
    assert rb.active_rollback(repo, "mnist_cnn") is None
    assert len(rb.read_record(repo, "mnist_cnn")) == 1  # history stays


@pytest.mark.parametrize("model, to, message", [
    ("mnist_nope", None, "no model 'mnist_nope' in the serving repository .* "
                         r"\(models there: mnist_cnn, text_lstm\)"),
    ("mnist_cnn", 150, "mnist_cnn: no version 150 in .*; complete versions: 100, 200, 300"),
    ("mnist_cnn", 50, r"mnist_cnn: version 50 is incomplete \(no saved_model.pb"),
    ("mnist_cnn", 300, "version 300 is the one served now; a rollback goes to an older"),
    ("text_lstm", None, "text_lstm: version 7 is served and no complete version older"),
    ("text_lstm", 9, "no version 9"),
])
def test_refusals_change_nothing(repo, model, to, message):
    before = _tree(os.path.dirname(repo))
    with pytest.raises(rb.RollbackError, match=message):
        rb.rollback(repo, model, to, user="u", now=WHEN)
    assert _tree(os.path.dirname(repo)) == before


@pytest.mark.parametrize("unfinished", [250, 400])
def test_an_unfinished_push_above_the_target_is_refused(repo, unfinished):
    """A push still copying (or one that failed) above the target: moving it away while
    the Pusher copies would leave half a model behind; a person decides."""
    _version(repo, "mnist_cnn", unfinished, complete=False)
    before = _tree(os.path.dirname(repo))
    with pytest.raises(rb.RollbackError, match=(
            f"version\\(s\\) {unfinished} in .*mnist_cnn have no saved_model.pb: a push "
            "still copying .* or one that failed \\(delete its folder\\)")):
        rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    assert _tree(os.path.dirname(repo)) == before


def test_a_set_aside_version_is_no_target(repo):
    rb.rollback(repo, "mnist_cnn", to=100, user="u", now=WHEN)
    before = _tree(os.path.dirname(repo))
    with pytest.raises(rb.RollbackError, match=r"no version 300 .*\(it was set aside by a "
                                               r"rollback, in .*\.rolled-back/mnist_cnn\)"):
        rb.rollback(repo, "mnist_cnn", to=300, user="u", now=WHEN)
    assert _tree(os.path.dirname(repo)) == before


def test_a_version_number_already_set_aside_is_refused(repo):
    rb.rollback(repo, "mnist_cnn", to=200, user="u", now=WHEN)
    _version(repo, "mnist_cnn", 300)  # the same number back (copied in by hand)
    before = _tree(os.path.dirname(repo))
    with pytest.raises(rb.RollbackError, match=r"version\(s\) 300 already set aside"):
        rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    assert _tree(os.path.dirname(repo)) == before


def test_nothing_served_is_refused(tmp_path):
    root = str(tmp_path / "serving")
    _version(root, "mnist_cnn", 3, complete=False)
    before = _tree(root)
    with pytest.raises(rb.RollbackError, match="no complete version .* nothing is served"):
        rb.rollback(root, "mnist_cnn", user="u", now=WHEN)
    with pytest.raises(rb.RollbackError, match=r"no model 'x' .* \(it holds no model\)"):
        rb.rollback(str(tmp_path / "nothing"), "x", user="u", now=WHEN)
    assert _tree(root) == before


def test_a_damaged_record_refuses_before_anything_moves(repo):
    with open(rb.record_path(repo, "mnist_cnn"), "w") as f:
        f.write("{not json")
    before = _tree(os.path.dirname(repo))
    with pytest.raises(rb.RollbackError, match="rollback.json: not a rollback record"):
        rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    assert _tree(os.path.dirname(repo)) == before


def test_tf_serving_config_and_scan_ignore_what_a_rollback_leaves(repo):
    """models.config keeps the default `latest` policy: the repository alone says what
    is served, and neither the set-aside folder nor the record is taken for a model or a
    version."""
    rb.rollback(repo, "mnist_cnn", user="u", now=WHEN)
    assert model_config.scan_serving_root(repo) == {"mnist_cnn": (100, 200),
                                                    "text_lstm": (7,)}
    config = model_config.parse_models_config(
        model_config.models_config_text_for_serving_root(repo))
    assert [(m.name, m.model_version_policy.WhichOneof("policy_choice"))
            for m in config.model_config_list.config] == [("mnist_cnn", "latest"),
                                                          ("text_lstm", "latest")]
