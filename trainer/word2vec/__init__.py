"""word2vec (skip-gram and CBOW), in the same shape as every task here:
config -> preprocessing (the Transform's vocabulary) -> data (pairs in tf.data) -> model
(embeddings and losses) -> train (the loop) -> export (the SavedModel) -> run (`run_fn`),
plus evaluation (WordSim-353, analogies, held-out loss)."""
