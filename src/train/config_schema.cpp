// The schema of spt-finetune's JSON config: every key, once.
#include <sstream>

#include "spt/train/config.h"

namespace spt::train {

const char* key_type_name(KeyType t) {
  switch (t) {
    case KeyType::string: return "string";
    case KeyType::integer: return "integer";
    case KeyType::number: return "number";
    case KeyType::boolean: return "boolean";
    case KeyType::path: return "path";
    case KeyType::string_list: return "list of strings";
  }
  return "?";
}

namespace {

KeySpec key(std::string path, KeyType type, Json def, std::string help) {
  KeySpec k;
  k.path = std::move(path);
  k.type = type;
  k.default_value = std::move(def);
  k.help = std::move(help);
  return k;
}

KeySpec required(std::string path, KeyType type, std::string help) {
  KeySpec k = key(std::move(path), type, nullptr, std::move(help));
  k.required = true;
  return k;
}

KeySpec ranged(std::string path, KeyType type, Json def, double lo, double hi, std::string help) {
  KeySpec k = key(std::move(path), type, std::move(def), std::move(help));
  k.min = lo;
  k.max = hi;
  return k;
}

KeySpec choice(std::string path, Json def, std::vector<std::string> choices, std::string help) {
  KeySpec k = key(std::move(path), KeyType::string, std::move(def), std::move(help));
  k.choices = std::move(choices);
  return k;
}

std::vector<KeySpec> build() {
  const KeyType S = KeyType::string, I = KeyType::integer, N = KeyType::number,
                B = KeyType::boolean, P = KeyType::path, L = KeyType::string_list;
  return {
      // ---- SPT mode ----
      key("spt", B, false,
          "SPT mode: sparse attention, routed FFN and LoRA in one switch. Every key of the preset below that the "
          "config (or --set) leaves unset takes the preset's value; keys it sets win (docs/spt-mode.md)"),
      // ---- model ----
      required("model.path", P, "Hugging Face model folder (config.json, model.safetensors or "
                                "pytorch_model.bin, tokenizer files), an spt checkpoint, or a LLaMA "
                                "GGUF file (.gguf; config and tokenizer from its metadata)"),
      key("model.freeze", L, Json::array(), "parameters to freeze, as globs over spt parameter "
                                            "names (e.g. \"embeddings.*\")"),
      ranged("model.num_labels", I, nullptr, 1, 100000,
             "number of labels of a classification head (default: from the task / label names)"),
      key("model.adapter", P, nullptr, "a Hugging Face PEFT LoRA adapter folder (adapter_config.json, "
                                       "adapter_model.safetensors) to start from: its settings replace the "
                                       "lora section, its tensors the adapter's initial values (docs/lora.md)"),
      choice("model.pooling", nullptr, {"cls", "mean"},
             "what a BERT-family classification head reads: cls = the pooler on the first token "
             "(transformers' BertForSequenceClassification), mean = the mean of the valid tokens' last hidden "
             "states (sentence-transformers' mean pooling, what all-MiniLM-L6-v2 was trained with; the pooler is "
             "then unused and frozen). Default: a checkpoint's own, else cls. Exports to transformers read the "
             "first token (docs/lora.md)"),
      // ---- LoRA ----
      key("lora.enabled", B, false, "train LoRA adapters on a frozen base model (docs/lora.md)"),
      ranged("lora.rank", I, 8, 1, 1 << 16, "rank r of every adapter (A: r x in, B: out x r)"),
      ranged("lora.alpha", N, 8.0, 0, 1e9, "scale numerator: s = alpha / r (alpha / sqrt(r) with rslora); must be > 0"),
      ranged("lora.dropout", N, 0.0, 0, 0.99, "dropout on the adapters' input (training only)"),
      key("lora.targets", L, Json::array({"attn.q", "attn.v"}),
          "linear layers that get adapters: globs over spt names (attn.q, attn.k, attn.v, attn.out, "
          "attn.qkv for GPT-2, ffn.up, ffn.down; layers.3.*) or Hugging Face module names (query, "
          "c_attn, intermediate.dense), matched whole or as a dotted suffix; \"all-linear\" for all"),
      key("lora.rslora", B, false, "rank-stabilised scale alpha / sqrt(r)"),
      choice("lora.bias", "none", {"none", "all", "lora_only"},
             "base biases trained too: none, every bias, or those of adapted layers"),
      key("lora.modules_to_save", L, Json::array(),
          "modules trained in full besides the task head (which always is), e.g. [\"pooler\"]"),
      choice("lora.init", "kaiming", {"kaiming", "gaussian"},
             "A's initialisation (PEFT's default Kaiming-uniform, or N(0, 1/r^2)); B starts at 0, seeded by train.seed"),
      // ---- sparse attention ----
      choice("attention.type", "dense", {"dense", "sparse"},
             "dense attention, or SPT's sparse attention: each query attends to its top L keys, chosen "
             "by product quantisation (docs/sparse-attention.md)"),
      ranged("attention.top_l", I, 0, 0, 1 << 20, "keys per query, forced keys included (0: use top_ratio)"),
      ranged("attention.top_ratio", N, 0.125, 0, 1, "keys per query as a fraction of its visible keys (when top_l is 0)"),
      ranged("attention.min_l", I, 16, 1, 1 << 20, "at least this many keys per query with top_ratio; a query with "
                                                   "no more visible keys keeps them all (exactly dense)"),
      key("attention.layers", L, Json::array(),
          "sparse layers (0-based): e.g. [\"2\", \"4-5\"]; empty or [\"all\"]: every layer; the others stay dense"),
      ranged("attention.keep_first", I, 0, 0, 1 << 20, "always attend to the first N tokens (CLS, attention sink)"),
      ranged("attention.local_window", I, 0, 0, 1 << 20, "always attend to keys within W positions of the query"),
      ranged("attention.pq.subvector_dim", I, 8, 1, 4096, "dimensions per PQ sub-space (must divide the head size)"),
      ranged("attention.pq.codewords", I, 16, 2, 256, "codewords per sub-space (16: 4-bit codes and the SIMD fast scan)"),
      ranged("attention.pq.rerank", I, 1, 1, 1 << 16, "score rerank * L candidates by PQ, keep the exact top L of them"),
      ranged("attention.pq.calibration_batches", I, 4, 1, 1 << 20,
             "training batches whose keys seed the codebooks by k-means before the first step"),
      ranged("attention.pq.update_every", I, 50, 0, 1e15,
             "mini-batch k-means update of the codebooks every N steps from that step's keys (0: never)"),
      ranged("attention.pq.max_samples", I, 16384, 2, 1 << 24, "keys per layer used by k-means and by one update"),
      choice("attention.cuda.kernel", "fused", {"fused", "cusparse"},
             "CUDA: fused gather kernels, or the prototype's cuSPARSE path (SDDMM, row softmax, SpMM) to "
             "cross-check and benchmark against (the CPU backend ignores it)"),
      key("attention.cuda.deterministic", B, false,
          "CUDA fused backward: sum dK / dV per key in a fixed order (transposed index list) instead of "
          "atomics, so runs repeat bit for bit; slower (the CPU backend always is)"),
      // ---- routed FFN ----
      choice("ffn.type", "dense", {"dense", "routed"},
             "dense FFN, or SPT's routed FFN: a router picks each token's top `active` blocks of FFN neurons "
             "and only those run (docs/routed-ffn.md)"),
      ranged("ffn.blocks", I, 8, 1, 128, "blocks the FFN's intermediate neurons are split into (must divide the "
                                         "intermediate size)"),
      ranged("ffn.active", I, 0, 0, 128, "blocks each token runs (0: half of ffn.blocks)"),
      key("ffn.layers", L, Json::array(),
          "routed layers (0-based): e.g. [\"3-5\"]; empty or [\"all\"]: every layer; the others stay dense"),
      choice("ffn.gate", "sigmoid", {"sigmoid", "softmax"},
             "gate of each chosen block: 2 sigmoid(logit), or k softmax over the chosen logits (both 1 at zero "
             "logits, the dense FFN's weighting)"),
      choice("ffn.router_init", "activations", {"activations", "random"},
             "router start: fitted (ridge least squares) to each block's output norm on calibration batches, "
             "or N(0, 0.02) as the SPT prototype"),
      choice("ffn.permute", "coactivation", {"coactivation", "none"},
             "before the router fit, reorder each routed layer's neurons so that neurons firing on the same "
             "tokens share a block (balanced k-means; the dense function is unchanged)"),
      ranged("ffn.balance_loss", N, 0.0, 0, 1e6,
             "weight of the load-balancing loss (Switch Transformer's: blocks x sum_b fraction_b x mean router "
             "probability_b) added per routed layer; 0: none"),
      ranged("ffn.calibration_batches", I, 4, 1, 1 << 20,
             "training batches whose FFN inputs permute the neurons and fit the routers before the first step"),
      ranged("ffn.max_samples", I, 8192, 16, 1 << 24, "tokens per layer used by the router fit"),
      // ---- task ----
      choice("task.type", "classification", {"glue", "classification", "regression", "causal_lm"},
             "what to train: a GLUE task, generic classification or regression, or causal LM"),
      choice("task.glue_task", nullptr,
             {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"},
             "the GLUE task (task.type = glue)"),
      // ---- data ----
      key("data.train", P, nullptr, "training file (TSV, CSV, JSONL or text; GLUE: the task folder's train.tsv by default)"),
      key("data.dev", P, nullptr, "evaluation file (GLUE: dev.tsv; MNLI: dev_matched.tsv)"),
      key("data.dir", P, nullptr, "GLUE: folder holding train.tsv / dev.tsv (default data/glue/<TASK>)"),
      choice("data.format", "auto", {"auto", "tsv", "csv", "jsonl", "text"},
             "file format (auto: from the extension)"),
      key("data.text_column", S, "text", "column (header name, or 0-based index) with the text"),
      key("data.text_pair_column", S, nullptr, "column with the second text of sentence pairs"),
      key("data.label_column", S, "label", "column with the label"),
      key("data.label_names", L, Json::array(), "label values in id order (default: sorted distinct training labels)"),
      key("data.has_header", B, true, "TSV/CSV: the first line names the columns"),
      key("data.skip_bad_rows", B, false, "skip (and count) malformed rows instead of stopping with an error"),
      ranged("data.block_size", I, 128, 2, 1 << 20, "causal LM: tokens per training block (texts are packed)"),
      ranged("data.max_train_examples", I, 0, 0, 1e15, "use at most this many training examples (0: all)"),
      ranged("data.max_eval_examples", I, 0, 0, 1e15, "evaluate on at most this many examples (0: all)"),
      // ---- tokenisation ----
      key("tokenizer.path", P, nullptr, "tokenizer folder or file (default: model.path)"),
      ranged("tokenizer.max_length", I, 128, 2, 1 << 20, "maximum tokens per example, special tokens included"),
      choice("tokenizer.truncation", "longest_first", {"longest_first", "only_first", "only_second"},
             "how pairs are truncated to max_length"),
      choice("tokenizer.padding", "longest", {"longest", "max_length"},
             "pad each batch to its longest example or to max_length"),
      key("tokenizer.group_by_length", B, false, "batch examples of similar length (less padding)"),
      // ---- optimisation ----
      ranged("train.seed", I, 42, 0, 1e18, "seed for initialisation, dropout and data order"),
      ranged("train.epochs", N, 3.0, 0, 1e6, "number of passes over the training data"),
      ranged("train.max_steps", I, -1, -1, 1e15, "stop after this many optimizer steps (-1: epochs decide)"),
      ranged("train.batch_size", I, 32, 1, 1 << 20,
             "examples per optimizer step over all processes (micro-batch x accumulation; several processes "
             "split each micro-batch, so a run gives the same result on any number of them)"),
      ranged("train.grad_accumulation", I, 1, 1, 1 << 16, "micro-batches per optimizer step"),
      ranged("train.learning_rate", N, 2e-5, 0, 10, "peak learning rate"),
      ranged("train.weight_decay", N, 0.01, 0, 10, "AdamW decoupled weight decay (not on biases and LayerNorm weights)"),
      ranged("train.adam_beta1", N, 0.9, 0, 0.999999, "AdamW beta1"),
      ranged("train.adam_beta2", N, 0.999, 0, 0.999999999, "AdamW beta2"),
      ranged("train.adam_epsilon", N, 1e-8, 1e-30, 1, "AdamW epsilon"),
      choice("train.scheduler", "linear", {"linear", "cosine", "constant"}, "learning-rate schedule after warmup"),
      ranged("train.warmup_steps", I, 0, 0, 1e15, "linear warmup steps (overrides warmup_ratio when > 0)"),
      ranged("train.warmup_ratio", N, 0.0, 0, 1, "warmup as a fraction of the total steps"),
      ranged("train.max_grad_norm", N, 1.0, 0, 1e9, "clip the global gradient norm to this (0: no clipping)"),
      choice("train.on_nonfinite", "stop", {"stop", "skip"},
             "a NaN / Inf loss or gradient: stop with a report (the step, the first layer whose output was not "
             "finite, the first gradients that were not), or skip that step's update and count it (the weights "
             "and AdamW moments stay as they were; the schedule moves on)"),
      // ---- evaluation ----
      ranged("eval.every_steps", I, 0, 0, 1e15, "evaluate every N optimizer steps (0: off)"),
      key("eval.every_epoch", B, true, "evaluate at the end of every epoch"),
      ranged("eval.batch_size", I, 64, 1, 1 << 20, "evaluation batch size"),
      key("eval.metric", S, nullptr, "metric that picks the best checkpoint (default: the task's main metric)"),
      ranged("eval.early_stopping_patience", I, 0, 0, 1e9,
             "stop after this many evaluations without improvement (0: never)"),
      // ---- checkpoints ----
      key("output.dir", P, "runs/run", "run folder: checkpoints, final model, metrics"),
      ranged("output.save_every_steps", I, 0, 0, 1e15, "write a checkpoint every N optimizer steps (0: off)"),
      ranged("output.keep_last", I, 2, 1, 1e6, "checkpoints to keep (the best is kept as well)"),
      key("output.save_best", B, true, "keep the checkpoint with the best eval metric"),
      key("output.save_final", B, true, "write the final model to <output.dir>/final"),
      // ---- logging ----
      ranged("logging.every_steps", I, 10, 1, 1e15, "progress line every N optimizer steps"),
      key("logging.metrics_file", P, nullptr, "JSONL metrics (default <output.dir>/metrics.jsonl)"),
      choice("logging.level", "info", {"trace", "debug", "info", "warn", "error"}, "log level"),
      key("logging.tensorboard", B, false,
          "also write TensorBoard event files to <output.dir>/tensorboard (scalars: loss, learning rate, "
          "tokens/s, memory, eval metrics, per-layer attention mass and router load); `tensorboard --logdir` "
          "reads them"),
      // ---- runtime ----
      key("runtime.device", S, "cpu", "cpu, cuda or cuda:N"),
      choice("runtime.precision", "fp32", {"fp32", "bf16", "fp16"},
             "training precision. bf16 / fp16: the linear layers' matrix products (attention projections, FFN, "
             "heads, LoRA's base weight) take bf16 / f16 operands rounded from f32 master weights and f32 "
             "activations, accumulate in f32 and write f32; softmax, norms, losses, the optimizer and the LoRA "
             "adapters stay f32 (PyTorch autocast's split). For CUDA (tensor cores); refused on the CPU, where "
             "they are slower than fp32 (docs/PERF.md, \"bf16 on the CPU\")"),
      choice("runtime.loss_scale", "auto", {"auto", "dynamic", "none"},
             "loss scaling: dynamic multiplies the loss by S for backward and the gradients by 1/S; a step whose "
             "scaled gradients overflow is skipped (counted as overflow_steps) and S halves, S doubles after "
             "runtime.loss_scale_window finite steps. auto: dynamic for fp16, none otherwise"),
      ranged("runtime.loss_scale_init", N, 65536.0, 1.0, 1e38, "the first loss scale S (dynamic loss scaling)"),
      ranged("runtime.loss_scale_window", I, 2000, 1, int64_t{1} << 40,
             "finite steps in a row after which the loss scale doubles"),
      choice("runtime.recompute", "none", {"none", "attention", "full"},
             "activation recomputation per transformer block: none keeps what backward needs; attention keeps "
             "only the attention's input and recomputes q, k, v and the attention in backward; full keeps only "
             "each block's input and runs the block again in backward (least memory, about one more forward). "
             "Gradients are identical"),
      ranged("runtime.threads", I, 0, 0, 4096, "CPU threads for OpenMP and BLAS (0: SPT_NUM_THREADS or all cores)"),
      ranged("runtime.memory_limit_mb", I, 0, 0, int64_t{1} << 40,
             "a cap on the MiB of live tensors on runtime.device (0: none): an allocation past it stops the run with "
             "an error naming the requested and available bytes, as running out of memory would (shared machines, "
             "tests)"),
      ranged("runtime.zero", I, 0, 0, 1,
             "several processes: 0 keeps AdamW's moments whole on every process; 1 (ZeRO-1) shards them over the "
             "processes (each updates its share of the weights, then all gather them): moments memory / N"),
      ranged("runtime.bucket_mb", N, 16.0, 0.001, 1e6,
             "several processes: MiB of gradients per all-reduce; a bucket starts as soon as backward has completed "
             "it (with NCCL on a second stream, overlapping the rest of backward), as DDP's bucket_cap_mb"),
      choice("runtime.comm", "auto", {"auto", "mpi", "nccl"},
             "several processes: collectives on MPI or NCCL; auto: NCCL when runtime.device is cuda and spt has "
             "NCCL, else MPI. NCCL needs one GPU per process"),
      key("runtime.rendezvous_dir", P, nullptr,
          "NCCL started without mpirun (srun without PMIx): a folder every process sees, where rank 0 leaves the "
          "NCCL id (default <output.dir>/.rendezvous)"),
      ranged("runtime.comm_timeout_s", N, 600.0, 0, 1e7,
             "several processes (mpirun / srun): seconds a collective may wait for the other ranks before this "
             "rank stops with exit code 74 (a rank died or hangs); 0: wait forever"),
  };
}

}  // namespace

const std::vector<std::pair<std::string, Json>>& spt_preset() {
  // Sparse attention as the prototype (L = T/8) with the first token always kept
  // and 2L candidates re-scored (measured: docs/PERF.md, selection on a real
  // model); half the FFN blocks per token; LoRA on every linear layer, as dense
  // LoRA (a routed layer's FFN adapters run inside its blocks; the routers train).
  // Attention-only adapters learned far more slowly: 70.2% vs 92.0% dev accuracy
  // after 40 steps of the spam benchmark (docs/PERF.md).
  static const std::vector<std::pair<std::string, Json>> p = {
      {"attention.type", "sparse"},   {"attention.top_ratio", 0.125}, {"attention.keep_first", 1},
      {"attention.pq.rerank", 2},     {"ffn.type", "routed"},         {"ffn.active", 0},
      {"lora.enabled", true},         {"lora.rank", 8},               {"lora.alpha", 16.0},
      {"lora.dropout", 0.05},         {"lora.targets", Json::array({"all-linear"})},
  };
  return p;
}

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> schema = build();
  return schema;
}

std::string config_reference_markdown() {
  std::ostringstream os;
  os << "# spt-finetune config reference\n\n"
     << "Generated from the schema in `src/train/config_schema.cpp` by\n"
     << "`spt-finetune --config-reference` (a test checks this file is current).\n\n"
     << "A config is a JSON object of sections; every key below is optional unless marked\n"
     << "required. Unknown keys are errors (with a suggestion); relative paths resolve\n"
     << "against the config file's folder; `--set section.key=value` overrides any key\n"
     << "(a relative path given with `--set` resolves against the current directory).\n"
     << "\n`\"spt\": true` (SPT mode) sets these keys wherever the config and `--set` leave them unset:\n\n"
     << "| key | SPT mode |\n|---|---|\n";
  for (const auto& [k, v] : spt_preset()) os << "| `" << k << "` | `" << v.dump() << "` |\n";
  std::string section;
  for (const KeySpec& k : config_schema()) {
    const std::string sec = k.path.substr(0, k.path.find('.'));
    if (sec != section) {
      section = sec;
      os << "\n## `" << section << "`\n\n| key | type | default | description |\n|---|---|---|---|\n";
    }
    std::string type = key_type_name(k.type);
    if (!k.choices.empty()) {
      type = "one of ";
      for (size_t i = 0; i < k.choices.size(); ++i) type += (i ? ", " : "") + std::string("`") + k.choices[i] + "`";
    } else if (k.min > -1e300 || k.max < 1e300) {
      std::ostringstream r;
      r << type << " in [" << k.min << ", " << k.max << "]";
      type = r.str();
    }
    const std::string def = k.required ? "**required**" : k.default_value.is_null() ? "—" : "`" + k.default_value.dump() + "`";
    os << "| `" << k.path << "` | " << type << " | " << def << " | " << k.help << " |\n";
  }
  return os.str();
}

}  // namespace spt::train
