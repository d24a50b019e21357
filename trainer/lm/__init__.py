"""Recurrent word-level language models (LSTM and GRU, the PTB recipe of Zaremba et al.),
in the same shape as every task here: config (LMConfig, the small/medium/large/tiny
presets) -> preprocessing (the Transform's vocabulary with `<unk>` and `<eos>`) -> data
(the id stream and PTB's batching layout) -> model (one Keras builder for both cells) ->
train (truncated BPTT under any strategy) -> export (the SavedModel's signatures) -> run
(`run_fn`), plus evaluation (split perplexity and the blessing decision)."""
