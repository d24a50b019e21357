// word2vec.c's training loop as one TensorFlow op: skip-gram or CBOW with negative sampling
// over a block of sequences, updating the input and output embedding variables in place.
//
// The tape trainer (trainer/word2vec/train.py) turns sequences into pair tensors, gathers
// rows, differentiates and scatters updates: per pair that costs several times the one
// dot product and two axpys per output row that word2vec.c does. Here the loop is word2vec.c's,
// and callers run it on several blocks at once without locks (Hogwild, as word2vec.c's and
// gensim's threads do). Subsampling, the reduced window, skipping a negative equal to the
// target and the +-6 logit clip follow word2vec.c. Negatives come from the tape trainer's
// unigram^0.75 alias table: one slot and one coin per draw, with tables small enough to
// stay in cache, where word2vec.c's 1e8-entry table costs a cache miss per draw and
// gensim's binary search a dozen unpredictable branches. Rows are prefetched one example
// ahead, so their cache misses overlap the arithmetic.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace classics {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::Var;
using ::tensorflow::errors::InvalidArgument;

namespace {

// The inputs by position, with the rank each must have: 0 (scalar) or 1 (vector).
constexpr int kNumInputs = 10;
constexpr const char* kInputName[kNumInputs] = {
    "embeddings", "out_weights", "values",    "row_splits", "keep_prob",
    "neg_prob",   "neg_alias",   "alpha_start", "alpha_end", "seed"};
constexpr int kInputRank[kNumInputs] = {0, 0, 1, 1, 1, 1, 1, 0, 0, 0};

const char* RankName(int rank) { return rank == 0 ? "a scalar" : "a vector"; }

}  // namespace

REGISTER_OP("Word2vecTrainBlock")
    .Input("embeddings: resource")
    .Input("out_weights: resource")
    .Input("values: int64")
    .Input("row_splits: int64")
    .Input("keep_prob: float")
    .Input("neg_prob: float")
    .Input("neg_alias: int64")
    .Input("alpha_start: float")
    .Input("alpha_end: float")
    .Input("seed: int64")
    .Attr("cbow: bool")
    .Attr("window: int >= 1")
    .Attr("negative: int >= 0")
    .Output("examples: int64")
    .Output("loss: float")
    .SetIsStateful()
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      // Graph construction refuses a known wrong rank; Compute checks again, since eager
      // calls and unknown ranks never come through here.
      for (int i = 0; i < kNumInputs; ++i) {
        const auto s = c->input(i);
        if (c->RankKnown(s) && c->Rank(s) != kInputRank[i]) {
          return InvalidArgument(kInputName[i], " must be ", RankName(kInputRank[i]),
                                 ", got shape ", c->DebugString(s));
        }
      }
      c->set_output(0, c->Scalar());
      c->set_output(1, c->Scalar());
      return ::tensorflow::OkStatus();
    })
    .Doc(R"doc(
Trains word2vec (negative sampling) on the sequences values[row_splits[i]:row_splits[i+1]]
with plain SGD, the rate falling linearly from alpha_start to alpha_end over the block.
embeddings: [V (+ extra rows), D] input vectors; ids >= V (out_weights' rows) are dropped.
V and D must be at least 1. values and row_splits are vectors; alpha_start, alpha_end and
seed scalars. keep_prob: [V] subsampling keep probabilities. neg_prob, neg_alias: [V]
alias table of the negative-sampling distribution (slot i kept with probability
neg_prob[i], else neg_alias[i]). examples: pairs (skip-gram) or centers (CBOW) trained; loss: their
summed negative-sampling loss, NaN when a logit was not finite (the vectors diverged).
)doc");

namespace {

// word2vec.c's linear congruential generator.
struct Lcg {
  uint64_t state;
  uint64_t next() { return state = state * 25214903917ULL + 11; }
};

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

inline void axpy(float g, const float* x, float* y, int64_t n) {
  for (int64_t k = 0; k < n; ++k) y[k] += g * x[k];
}

// -log sigmoid(x) without overflow.
inline float softplus_neg(float x) {
  return x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x));
}

}  // namespace

class Word2vecTrainBlockOp : public OpKernel {
 public:
  explicit Word2vecTrainBlockOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("cbow", &cbow_));
    OP_REQUIRES_OK(c, c->GetAttr("window", &window_));
    OP_REQUIRES_OK(c, c->GetAttr("negative", &negative_));
  }

  void Compute(OpKernelContext* ctx) override {
    // Wrong ranks are errors here, not the process abort of scalar<>() or flat<>()(0).
    for (int i = 0; i < kNumInputs; ++i) {
      const TensorShape& shape = ctx->input(i).shape();
      OP_REQUIRES(ctx, shape.dims() == kInputRank[i],
                  InvalidArgument(kInputName[i], " must be ", RankName(kInputRank[i]),
                                  ", got shape ", shape.DebugString()));
    }
    ::tensorflow::core::RefCountPtr<Var> emb_var, out_var;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &emb_var));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1), &out_var));
    Tensor* emb = emb_var->tensor();
    Tensor* out = out_var->tensor();
    OP_REQUIRES(ctx,
                emb->dtype() == ::tensorflow::DT_FLOAT && out->dtype() == ::tensorflow::DT_FLOAT &&
                    emb->dims() == 2 && out->dims() == 2,
                InvalidArgument("embeddings and out_weights must be float32 matrices"));
    const int64_t vocab = out->dim_size(0), dim = out->dim_size(1);
    // Negatives draw a slot modulo the vocabulary size.
    OP_REQUIRES(ctx, vocab >= 1,
                InvalidArgument("out_weights has no rows: the vocabulary is empty"));
    OP_REQUIRES(ctx, dim >= 1,
                InvalidArgument("embeddings have dimension 0: out_weights is ",
                                out->shape().DebugString()));
    OP_REQUIRES(ctx, emb->dim_size(0) >= vocab && emb->dim_size(1) == dim,
                InvalidArgument("embeddings [", emb->dim_size(0), ", ", emb->dim_size(1),
                                "] do not cover out_weights [", vocab, ", ", dim, "]"));
    const Tensor& keep_t = ctx->input(4);
    const Tensor& prob_t = ctx->input(5);
    const Tensor& alias_t = ctx->input(6);
    OP_REQUIRES(ctx, keep_t.NumElements() == vocab && prob_t.NumElements() == vocab &&
                         alias_t.NumElements() == vocab,
                InvalidArgument("keep_prob, neg_prob and neg_alias need one entry per word (",
                                vocab, ")"));
    auto values = ctx->input(2).flat<int64_t>();
    auto splits = ctx->input(3).flat<int64_t>();
    OP_REQUIRES(ctx,
                splits.size() >= 1 && splits(0) == 0 && splits(splits.size() - 1) == values.size(),
                InvalidArgument("row_splits must run from 0 to len(values)"));
    for (int64_t r = 1; r < splits.size(); ++r) {
      OP_REQUIRES(ctx, splits(r) >= splits(r - 1), InvalidArgument("row_splits must not decrease"));
    }
    const float* keep = keep_t.flat<float>().data();
    const float* neg_prob = prob_t.flat<float>().data();
    const int64_t* neg_alias = alias_t.flat<int64_t>().data();
    for (int64_t w = 0; w < vocab; ++w) {
      OP_REQUIRES(ctx, neg_alias[w] >= 0 && neg_alias[w] < vocab,
                  InvalidArgument("neg_alias[", w, "] = ", neg_alias[w], " is not a word id"));
    }
    const float alpha_start = ctx->input(7).scalar<float>()();
    const float alpha_end = ctx->input(8).scalar<float>()();
    Lcg rnd{static_cast<uint64_t>(ctx->input(9).scalar<int64_t>()())};

    float* syn0 = emb->flat<float>().data();
    float* syn1 = out->flat<float>().data();
    std::vector<float> neu1(dim), neu1e(dim);
    // Negatives are drawn one example ahead and their rows prefetched, so the cache misses
    // of the next example's rows overlap this example's arithmetic.
    std::vector<int64_t> negs(negative_), next_negs(negative_);
    std::vector<int64_t> sen;
    int64_t examples = 0;
    double loss = 0.0;
    bool diverged = false;
    const int64_t total = values.size();

    // One logistic step of word2vec.c on the hidden vector h against output row `target`:
    // accumulates h's gradient into neu1e and updates the output row.
    auto train_target = [&](const float* h, int64_t target, float label, float alpha) {
      float* l2 = syn1 + target * dim;
      const float f = dot(h, l2, dim);
      // A logit that is not finite means the vectors diverged. The loss alone can miss it
      // (a positive pair at +inf costs 0), so it is flagged; the build keeps
      // -fno-finite-math-only so that this test is not compiled away.
      diverged |= !std::isfinite(f);
      float g;
      if (f > 6.0f) g = (label - 1.0f) * alpha;
      else if (f < -6.0f) g = label * alpha;
      else g = (label - 1.0f / (1.0f + std::exp(-f))) * alpha;
      loss += label > 0 ? softplus_neg(f) : softplus_neg(-f);
      axpy(g, l2, neu1e.data(), dim);
      axpy(g, h, l2, dim);
    };
    auto prefetch_row = [dim](const float* row) {
      for (int64_t k = 0; k < dim; k += 16) __builtin_prefetch(row + k, 1);
    };
    auto draw_negatives = [&]() {
      for (int d = 0; d < negative_; ++d) {
        const int64_t slot =
            static_cast<int64_t>((rnd.next() >> 16) % static_cast<uint64_t>(vocab));
        const float coin = static_cast<float>(rnd.next() >> 40) / 16777216.0f;  // 24 bits
        next_negs[d] = coin < neg_prob[slot] ? slot : neg_alias[slot];
        prefetch_row(syn1 + next_negs[d] * dim);
      }
    };
    draw_negatives();
    auto train_center = [&](const float* h, int64_t center, float alpha) {
      std::swap(negs, next_negs);
      draw_negatives();
      std::fill(neu1e.begin(), neu1e.end(), 0.0f);
      train_target(h, center, 1.0f, alpha);
      for (int d = 0; d < negative_; ++d) {
        if (negs[d] != center) train_target(h, negs[d], 0.0f, alpha);
      }
    };

    for (int64_t row = 0; row + 1 < splits.size(); ++row) {
      const int64_t begin = splits(row), end = splits(row + 1);
      const float alpha = total == 0 ? alpha_start
          : alpha_start + (alpha_end - alpha_start) * static_cast<float>(begin) / total;
      sen.clear();
      for (int64_t i = begin; i < end; ++i) {
        const int64_t w = values(i);
        if (w < 0 || w >= vocab) continue;
        if (keep[w] < 1.0f && keep[w] < (rnd.next() & 0xFFFF) / 65536.0f) continue;
        sen.push_back(w);
      }
      const int64_t n = sen.size();
      for (int64_t i = 0; i < n; ++i) {
        // The next center's output row and the input row that enters the window next.
        if (i + 1 < n) prefetch_row(syn1 + sen[i + 1] * dim);
        if (i + window_ < n) prefetch_row(syn0 + sen[i + window_] * dim);
        const int64_t b = rnd.next() % window_;
        const int64_t lo = std::max<int64_t>(0, i - window_ + b);
        const int64_t hi = std::min<int64_t>(n - 1, i + window_ - b);
        if (cbow_) {
          std::fill(neu1.begin(), neu1.end(), 0.0f);
          int64_t cw = 0;
          for (int64_t j = lo; j <= hi; ++j) {
            if (j == i) continue;
            axpy(1.0f, syn0 + sen[j] * dim, neu1.data(), dim);
            ++cw;
          }
          if (cw == 0) continue;
          for (int64_t k = 0; k < dim; ++k) neu1[k] /= cw;
          train_center(neu1.data(), sen[i], alpha);
          // Every context word gets the hidden layer's whole gradient (word2vec.c).
          for (int64_t j = lo; j <= hi; ++j) {
            if (j != i) axpy(1.0f, neu1e.data(), syn0 + sen[j] * dim, dim);
          }
          ++examples;
        } else {
          for (int64_t j = lo; j <= hi; ++j) {
            if (j == i) continue;
            float* l1 = syn0 + sen[j] * dim;
            train_center(l1, sen[i], alpha);
            axpy(1.0f, neu1e.data(), l1, dim);
            ++examples;
          }
        }
      }
    }
    Tensor* out_examples;
    Tensor* out_loss;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out_examples));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({}), &out_loss));
    out_examples->scalar<int64_t>()() = examples;
    out_loss->scalar<float>()() =
        diverged ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(loss);
  }

 private:
  bool cbow_;
  int window_, negative_;
};

REGISTER_KERNEL_BUILDER(Name("Word2vecTrainBlock").Device(DEVICE_CPU), Word2vecTrainBlockOp);

}  // namespace classics
