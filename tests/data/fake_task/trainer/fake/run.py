"""Fits y = a x + b on the transformed examples and exports it for serving."""
import tensorflow as tf

FEATURES = {"x": tf.io.FixedLenFeature([], tf.float32),
            "y": tf.io.FixedLenFeature([], tf.float32)}


def run_fn(fn_args):
    ds = tf.data.TFRecordDataset(tf.io.gfile.glob(fn_args.train_files[0]),
                                 compression_type="GZIP")
    ds = ds.batch(32).map(lambda r: tf.io.parse_example(r, FEATURES))
    ds = ds.map(lambda f: (tf.expand_dims(f["x"], -1), f["y"])).cache()
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(1,))])
    model.compile(tf.keras.optimizers.SGD(0.3), "mse")
    model.fit(ds, epochs=fn_args.custom_config["epochs"], verbose=0)

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def serve(x):
        return {"y": model(x)}
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures={"serving_default": serve})
