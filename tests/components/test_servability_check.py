"""ServabilityCheck's pieces on tiny hand-built SavedModels and on the real exports of the
text tasks (no pipeline needed; the image pipelines' end-to-end runs pass the component
itself)."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import servability_check as sc
from trainer.contract import image_example, serialize
from trainer.serving import warmup

STRINGS = tf.TensorSpec([None], tf.string, name="examples")


def _save(tmp_path, name, signatures, logs=()):
    """A SavedModel with `signatures` {name: (fn, input specs)} and warm-up `logs`."""
    module = tf.Module()
    concrete = {}
    for i, (sig, (fn, specs)) in enumerate(signatures.items()):
        setattr(module, f"f{i}", tf.function(fn, input_signature=specs))
        concrete[sig] = getattr(module, f"f{i}").get_concrete_function()
    path = str(tmp_path / name)
    tf.saved_model.save(module, path, signatures=concrete)
    if logs:
        warmup.write_warmup(path, list(logs))
    return path


def _good(examples):
    n = tf.shape(examples)[0]
    return {"probabilities": tf.fill([n, 3], 1.0 / 3), "class_ids": tf.zeros([n], tf.int64)}


def _nan(examples):
    return {"probabilities": tf.fill([tf.shape(examples)[0], 3], float("nan"))}


def _wrong_batch(examples):
    return {"probabilities": tf.zeros([1, 3])}


def _numbers(examples):
    # Fails at run time on anything that is not a number, as a broken graph would.
    return {"values": tf.strings.to_number(examples)}


def _words_and_k(words, k):
    return {"scores": tf.zeros(tf.stack([tf.shape(words)[0], k]))}


WORDS_AND_K = [tf.TensorSpec([None], tf.string, name="words"),
               tf.TensorSpec([], tf.int32, name="k")]
EXAMPLES = [b"a", b"b", b"c"]


def _stamped_requests(stamped):
    return {log.predict_log.request.model_spec.signature_name: log.predict_log.request
            for log in warmup.read_warmup(stamped)}


def test_good_model_passes_and_is_stamped_with_warmup(tmp_path):
    path = _save(tmp_path, "good", {"serving_default": (_good, [STRINGS])})
    requests = sc.check_model(path, "m", EXAMPLES)
    assert list(requests) == ["serving_default"]
    stamped = sc.stamp_model(path, str(tmp_path / "stamped"), sc.warmup_logs(requests))
    assert os.path.exists(os.path.join(stamped, "saved_model.pb"))
    records = list(tf.data.TFRecordDataset(
        os.path.join(stamped, warmup.WARMUP_DIR, warmup.WARMUP_FILE)))
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.name == "m"
    sent = tf.make_ndarray(log.predict_log.request.inputs["examples"])
    assert list(sent) == EXAMPLES
    # The stamped copy still serves.
    replay = tf.saved_model.load(stamped).signatures["serving_default"](examples=tf.constant(sent))
    np.testing.assert_allclose(replay["probabilities"].numpy().sum(-1), 1.0, rtol=1e-6)
    assert not os.path.exists(str(tmp_path / "stamped") + ".tmp")


@pytest.mark.parametrize("fn,problem", [(_nan, "not finite"), (_wrong_batch, "not a batch of 3")])
def test_bad_outputs_are_refused(tmp_path, fn, problem):
    path = _save(tmp_path, fn.__name__, {"serving_default": (fn, [STRINGS])})
    with pytest.raises(sc.ServabilityError, match=problem):
        sc.check_model(path, "m", EXAMPLES)


def test_a_broken_second_signature_is_refused_by_name(tmp_path):
    path = _save(tmp_path, "broken", {"serving_default": (_good, [STRINGS]),
                                      "serving_numbers": (_numbers, [STRINGS])})
    with pytest.raises(sc.ServabilityError) as e:
        sc.check_model(path, "m", EXAMPLES)
    # The op's own message, as TF Serving would answer it, without TF's wrapping.
    assert str(e.value) == (f"{path}: signature 'serving_numbers' failed: "
                            "StringToNumberOp could not correctly convert string: a")


def test_a_signature_no_request_can_be_built_for_is_refused_by_name(tmp_path):
    path = _save(tmp_path, "unknown", {"serving_default": (_good, [STRINGS]),
                                       "nearest": (_words_and_k, WORDS_AND_K)})
    with pytest.raises(sc.ServabilityError,
                       match="no request can be built for signature 'nearest'"):
        sc.check_model(path, "m", EXAMPLES)


def test_other_signatures_are_sent_the_exports_warmup_request(tmp_path):
    good = warmup.warmup_log("exported_name", "nearest",
                             inputs={"words": np.array([b"x", b"y"], object), "k": np.int32(4)})
    path = _save(tmp_path, "words", {"serving_default": (_good, [STRINGS]),
                                     "nearest": (_words_and_k, WORDS_AND_K)}, [good])
    requests = sc.check_model(path, "served_name", EXAMPLES)
    assert sorted(requests) == ["nearest", "serving_default"]
    assert requests["nearest"].model_spec.name == "served_name"
    stamped = sc.stamp_model(path, str(tmp_path / "stamped"), sc.warmup_logs(requests))
    replayed = _stamped_requests(stamped)
    assert sorted(replayed) == ["nearest", "serving_default"]
    assert list(tf.make_ndarray(replayed["nearest"].inputs["words"])) == [b"x", b"y"]


@pytest.mark.parametrize("inputs, problem", [
    # TF Serving refuses a request that does not name exactly the signature's inputs ...
    ({"words": np.array([b"x"], object)}, "Missing but required: \\['k'\\]"),
    # ... or gives one of them another dtype or shape.
    ({"words": np.array([b"x"], object), "k": np.int64(4)}, "expects int32, int64"),
    ({"words": np.array([b"x"], object), "k": np.array([4], np.int32)}, "shape"),
])
def test_a_warmup_request_tf_serving_would_refuse_refuses_the_model(tmp_path, inputs,
                                                                    problem):
    log = warmup.warmup_log("m", "nearest", inputs=inputs)
    path = _save(tmp_path, "refused", {"serving_default": (_good, [STRINGS]),
                                       "nearest": (_words_and_k, WORDS_AND_K)}, [log])
    with pytest.raises(sc.ServabilityError, match=f"signature 'nearest' failed: .*{problem}"):
        sc.check_model(path, "m", EXAMPLES)


def test_an_image_signature_is_sent_the_examples_pixels(tmp_path):
    def brightness(images):
        mean = tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2])
        return {"mean": mean}

    pixels = np.arange(3 * 4, dtype=np.uint8).reshape(3, 2, 2) * 10
    examples = [serialize(image_example(p, 0)) for p in pixels]
    path = _save(tmp_path, "images", {
        "serving_default": (_good, [STRINGS]),
        "serving_images": (brightness, [tf.TensorSpec([None, 2, 2], tf.uint8, name="images")])})
    requests = sc.check_model(path, "m", examples)
    np.testing.assert_array_equal(tf.make_ndarray(requests["serving_images"].inputs["images"]),
                                  pixels)


def test_missing_serving_default(tmp_path):
    path = _save(tmp_path, "other", {"other": (_good, [STRINGS])})
    with pytest.raises(sc.ServabilityError, match="no signature 'serving_default'"):
        sc.check_model(path, "m", EXAMPLES)


def test_not_a_saved_model(tmp_path):
    with pytest.raises(sc.ServabilityError, match="does not load"):
        sc.check_model(str(tmp_path), "m", EXAMPLES)


# ------------------------------------------------------- the real exports of each task
def test_a_real_language_model_export_passes_every_signature(tmp_path):
    from trainer.lm import config as lc, export, model as lm
    words = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat"]
    cfg = lc.LMConfig(num_layers=1, hidden_size=8, batch_size=2, num_steps=3)
    path = str(tmp_path / "lm")
    export.export(lm.build(len(words), cfg), cfg, words, path, model_name="text_lstm")
    requests = sc.check_model(path, "text_lstm", EXAMPLES)
    assert sorted(requests) == sorted(tf.saved_model.load(path).signatures)
    assert sorted(requests) == ["next_words", "serving_default"]


def test_a_real_word2vec_export_passes_every_signature(tmp_path):
    from trainer.word2vec import config as wc, export, model as wm
    words = [f"w{i}" for i in range(12)]
    counts = np.arange(12, 0, -1)
    vocab = tmp_path / "vocab"
    vocab.write_text("".join(f"{c} {w}\n" for w, c in zip(words, counts)))
    cfg = wc.Word2VecConfig(embedding_dim=4)
    path = str(tmp_path / "w2v")
    export.export(wm.Word2VecModel(len(words), cfg, counts), cfg, str(vocab), words, counts,
                  path)
    requests = sc.check_model(path, "text_skipgram", EXAMPLES)
    assert sorted(requests) == ["embed", "nearest", "serving_default"]
