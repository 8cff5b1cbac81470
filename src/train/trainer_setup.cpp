// Building a run from the config: task, model (Hugging Face folder or spt
// checkpoint, new heads initialised as transformers does), tokenizer, datasets,
// batch sizes and the learning-rate schedule.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "spt/core/error.h"
#include "spt/data/lm_text.h"
#include "spt/data/table_dataset.h"
#include "spt/io/checkpoint.h"
#include "spt/io/weight_map.h"
#include "spt/model/init.h"
#include "spt/model/peft.h"
#include "spt/train/step_cost.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

namespace fs = std::filesystem;

namespace {

TaskKind task_kind(const std::string& s) {
  if (s == "glue") return TaskKind::glue;
  if (s == "regression") return TaskKind::regression;
  if (s == "causal_lm") return TaskKind::causal_lm;
  return TaskKind::classification;
}

}  // namespace

namespace {

// The run's LoRA settings: the config's lora section, or a PEFT adapter's
// (model.adapter), or those of the spt checkpoint being continued. Targets are
// resolved to explicit module names, so checkpoints store exactly what was built.
model::LoraOptions lora_from_config(const ResolvedConfig& cfg) {
  model::LoraOptions o;
  o.enabled = cfg.boolean("lora.enabled");
  o.rank = cfg.integer("lora.rank");
  o.alpha = cfg.number("lora.alpha");
  o.dropout = cfg.number("lora.dropout");
  o.targets = cfg.strings("lora.targets");
  o.rslora = cfg.boolean("lora.rslora");
  o.bias = model::lora_bias_from_name(cfg.str("lora.bias"), "[config] " + cfg.source);
  o.modules_to_save = cfg.strings("lora.modules_to_save");
  o.init = model::lora_init_from_name(cfg.str("lora.init"), "[config] " + cfg.source);
  SPT_CHECK(!o.enabled || o.alpha > 0, "[config] ", cfg.source, ": lora.alpha must be > 0, got ", o.alpha,
            "; hint: PEFT's default is lora.alpha = lora.rank (scale 1)");
  return o;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string describe_lora(const model::LoraOptions& o) {
  return str_cat("r=", o.rank, " alpha=", o.alpha, " scale=", o.scale(), " dropout=", o.dropout,
                 " bias=", model::lora_bias_name(o.bias), " on ", o.targets.size(), " linear layers");
}

}  // namespace

void Trainer::Impl::setup_model() {
  model_source = cfg.str("model.path");
  SPT_CHECK(fs::exists(model_source), "[model] ", model_source,
            ": no such folder (model.path); hint: point model.path at a Hugging Face model folder "
            "(for the demo: bash scripts/fetch_minilm.sh)");
  const bool from_spt = io::is_spt_checkpoint(model_source);
  io::LoadedWeights weights;
  std::vector<std::pair<std::string, Tensor>> extra;  // adapters (and head) from a checkpoint or adapter
  model::LoraOptions ckpt_lora;
  model::Pooling ckpt_pooling = model::Pooling::cls;
  if (from_spt) {
    io::LoadedCheckpoint lc = io::load_checkpoint(model_source);
    mcfg = lc.config;
    SPT_CHECK(lc.head == head, "[model] ", model_source, ": checkpoint has head ", io::head_name(lc.head),
              " but the task needs ", io::head_name(head));
    weights = std::move(lc.weights);
    extra = std::move(lc.spt_tensors);
    const model::ModelOptions ckpt = model::ModelOptions::from_json(lc.spt, "[model] " + model_source);
    ckpt_lora = ckpt.lora;
    ckpt_pooling = ckpt.pooling;
    base_model = lc.spt.value("base_model", model_source);
  } else if (gguf) {
    mcfg = io::parse_model_config(io::Json::parse(gguf->config.dump()), model_source);
    base_model = model_source;
  } else {
    mcfg = io::load_model_config(model_source);
    base_model = model_source;
  }
  if (head == io::ModelHead::sequence_classification) {
    if (!from_spt && mcfg.num_labels != num_labels && io::head_from_architectures(mcfg) == head)
      spdlog::warn("[model] {} has a {}-label head; the task has {} labels: the head is re-initialised",
                   model_source, mcfg.num_labels, num_labels);
    mcfg.num_labels = num_labels;
  }
  setup_lora(ckpt_lora, extra);
  setup_attention();
  setup_ffn();
  model_opts.pooling = ckpt_pooling;
  if (cfg.is_set("model.pooling")) {
    model_opts.pooling = model::parse_pooling(cfg.str("model.pooling"), "[config] " + cfg.source + ": model.pooling");
    if (from_spt && model_opts.pooling != ckpt_pooling)
      spdlog::warn("[model] {} was trained with {} pooling; model.pooling = {} reads the encoder differently",
                   model_source, model::pooling_name(ckpt_pooling), model::pooling_name(model_opts.pooling));
  }
  ps = ParameterStore(model::model_param_infos(mcfg, head, model_opts), device);
  if (gguf) {
    weights = io::load_weights(mcfg, *gguf->tensors, head);
    gguf->tensors.reset();  // the file's mapping is not needed any more
  } else if (!from_spt) {
    const auto reader = io::open_tensors(model_source);
    weights = io::load_weights(mcfg, *reader, head);
  }
  for (const auto& [name, t] : weights.params) ps.param(name).copy_from(t);
  init_new_heads(weights.newly_initialized);
  place_extra_tensors(extra);
  const std::vector<std::string> freeze = cfg.strings("model.freeze");
  if (!freeze.empty()) {
    const int n = ps.freeze(freeze);
    SPT_CHECK(n > 0, "[model] model.freeze patterns matched no parameter; hint: patterns are globs "
                     "over spt names such as \"embeddings.*\" or \"layers.0.*\"");
  }
  for (const std::string& name : newly_initialized)
    if (!ps.info(name).trainable)
      spdlog::warn("[model] {} is newly initialised but frozen (LoRA or model.freeze): it stays random; "
                   "hint: add its module to lora.modules_to_save", name);
  ps.set_compute_dtype(compute_dtype);
  net = model::make_model(mcfg, head, ps, model_opts);
  if (!cfg.is_set("tokenizer.path")) tokenizer_dir = gguf ? gguf_tokenizer_dir() : model_source;
  else tokenizer_dir = cfg.str("tokenizer.path");
}

std::string Trainer::Impl::gguf_tokenizer_dir() const {
  return (fs::path(cfg.str("output.dir")) / "gguf-tokenizer").string();
}

void Trainer::Impl::place_extra_tensors(const std::vector<std::pair<std::string, Tensor>>& extra) {
  bool have_adapters = false;
  for (const auto& [name, t] : extra) have_adapters = have_adapters || io::spt_tensor_kind(name) == "LoRA adapter";
  if (model_opts.lora.enabled && !have_adapters)
    model::init_lora(ps, model_opts.lora, static_cast<uint64_t>(cfg.integer("train.seed")));
  int64_t codebooks = 0, wanted = 0, routers = 0, routers_wanted = 0;
  for (const ParamInfo& p : ps.infos()) wanted += io::spt_tensor_kind(p.name) == "PQ codebooks";
  for (const ParamInfo& p : ps.infos()) routers_wanted += io::spt_tensor_kind(p.name) == "FFN router";
  for (const auto& [name, t] : extra) {
    if (io::spt_tensor_kind(name) == "FFN router") {
      // Trained routers of the same layout are kept; another layout is fitted anew.
      if (ps.has(name) && ps.info(name).shape == t.shape()) {
        ps.param(name).copy_from(t);
        ++routers;
      }
      continue;
    }
    if (io::spt_tensor_kind(name) == "PQ codebooks") {
      // Codebooks steer selection only: reuse them when this run's layout matches.
      if (ps.has(name) && ps.info(name).shape == t.shape()) {
        ps.param(name).copy_from(t);
        ++codebooks;
      }
      continue;
    }
    SPT_CHECK(ps.has(name), "[model] ", model_source, ": tensor ", name, " does not fit this run's model");
    ps.param(name).copy_from(t);
  }
  codebooks_ready = codebooks == wanted;
  routers_ready = routers == routers_wanted;
  if (routers_wanted > 0 && routers_ready) spdlog::info("[ffn] routers of every routed layer from {}", model_source);
  if (wanted > 0 && codebooks_ready)
    spdlog::info("[sparse] codebooks of every sparse layer from {}", model_source);
  else if (codebooks > 0)
    spdlog::info("[sparse] {} has codebooks for another layout; learning new ones", model_source);
}

void Trainer::Impl::setup_lora(const model::LoraOptions& ckpt_lora,
                               std::vector<std::pair<std::string, Tensor>>& extra) {
  model::LoraOptions o = lora_from_config(cfg);
  if (cfg.is_set("model.adapter")) {
    SPT_CHECK(!ckpt_lora.enabled, "[model] ", model_source, " already holds LoRA adapters; model.adapter ",
              "would add a second set; hint: start from the base model, or drop model.adapter");
    const std::string dir = cfg.str("model.adapter");
    model::PeftAdapter ad = model::read_peft_adapter(dir, mcfg, head);
    spdlog::info("[lora] starting from the PEFT adapter {} ({})", dir, describe_lora(ad.options));
    ad.options.dropout = o.enabled ? o.dropout : ad.options.dropout;
    o = ad.options;
    extra = std::move(ad.tensors);
  } else if (ckpt_lora.enabled) {
    if (!o.enabled) {
      spdlog::info("[lora] continuing the adapters of {} ({})", model_source, describe_lora(ckpt_lora));
      o = ckpt_lora;
    } else {
      SPT_CHECK(o.rank == ckpt_lora.rank, "[config] ", cfg.source, ": lora.rank = ", o.rank, " but ",
                model_source, " holds adapters of rank ", ckpt_lora.rank,
                "; hint: set lora.enabled to false to continue them as they are");
    }
  }
  if (o.enabled) {
    std::vector<std::string> resolved;
    for (const model::LoraModule& m : model::lora_modules(mcfg, head, o)) resolved.push_back(m.name);
    o.targets = resolved;
    if (ckpt_lora.enabled && !cfg.is_set("model.adapter"))
      SPT_CHECK(o.targets == ckpt_lora.targets, "[config] ", cfg.source, ": lora.targets select other layers "
                "than the adapters in ", model_source, " have; hint: set lora.enabled to false to continue them");
    spdlog::info("[lora] {}", describe_lora(o));
  }
  model_opts.lora = o;
}

void Trainer::Impl::init_new_heads(const std::vector<std::string>& names) {
  // New heads: weights ~ N(0, initializer_range), biases 0 (transformers' _init_weights).
  const double init_range = mcfg.raw.value("initializer_range", 0.02);
  uint64_t salt = 0;
  for (const std::string& name : names) {
    Tensor& p = ps.param(name);
    const bool bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    const std::vector<double> v =
        bias ? std::vector<double>(static_cast<size_t>(p.numel()), 0.0)
             : model::normal_values(static_cast<uint64_t>(cfg.integer("train.seed")) * 1000003 + ++salt,
                                    p.numel(), init_range);
    p.copy_from(Tensor::from_doubles(v, p.shape(), DType::f32));
    newly_initialized.push_back(name);
  }
  if (!newly_initialized.empty()) {
    std::string list;
    for (const auto& n : newly_initialized) list += (list.empty() ? "" : ", ") + n;
    spdlog::warn("[model] newly initialised (not in the checkpoint): {}; train them before use", list);
  }
}

void Trainer::Impl::setup_data() {
  const bool skip = cfg.boolean("data.skip_bad_rows");
  data::TokenizeOptions topt;
  topt.truncation = tokenize::parse_truncation(cfg.str("tokenizer.truncation"));
  topt.max_length = static_cast<size_t>(cfg.integer("tokenizer.max_length"));
  topt.skip_bad_rows = skip;
  data::ReadOptions rtrain, reval;
  rtrain.skip_bad_rows = reval.skip_bad_rows = skip;
  rtrain.max_examples = static_cast<size_t>(cfg.integer("data.max_train_examples"));
  reval.max_examples = static_cast<size_t>(cfg.integer("data.max_eval_examples"));
  rtrain.require_labels = reval.require_labels = true;
  rtrain.config_key = "data.train";
  reval.config_key = "data.dev";

  auto need = [&](const char* key) {
    SPT_CHECK(cfg.is_set(key), "[config] ", cfg.source, ": key \"", key, "\" is required for task.type ",
              cfg.str("task.type"));
    return fs::path(cfg.str(key));
  };

  if (kind == TaskKind::glue) {
    const data::GlueTaskInfo& info = data::glue_task_info(*glue);
    const fs::path dir = cfg.is_set("data.dir") ? fs::path(cfg.str("data.dir"))
                                                : fs::path(cfg.dir) / "data" / "glue" / info.folder;
    const fs::path train = cfg.is_set("data.train") ? fs::path(cfg.str("data.train")) : dir / "train.tsv";
    const data::TextDataset tr = data::read_glue(*glue, train, rtrain);
    train_data = data::TokenizedDataset::from_examples(tr, *tok, topt);
    std::vector<std::pair<std::string, fs::path>> devs;
    if (cfg.is_set("data.dev")) devs.push_back({"dev", cfg.str("data.dev")});
    else
      for (const std::string& f : info.dev_files) devs.push_back({fs::path(f).stem().string(), dir / f});
    for (const auto& [name, file] : devs)
      eval_sets.push_back({name, data::TokenizedDataset::from_examples(data::read_glue(*glue, file, reval), *tok, topt)});
    num_labels = static_cast<int64_t>(info.num_labels());
    label_names = info.label_names;
  } else if (kind == TaskKind::causal_lm) {
    data::LmOptions lo;
    lo.block_size = static_cast<size_t>(cfg.integer("data.block_size"));
    lo.skip_bad_rows = skip;
    lo.max_blocks = rtrain.max_examples;
    train_data = data::TokenizedDataset::from_blocks(data::read_lm_blocks({need("data.train")}, *tok, lo));
    if (cfg.is_set("data.dev")) {
      lo.config_key = "data.dev";
      lo.max_blocks = reval.max_examples;
      eval_sets.push_back({"dev", data::TokenizedDataset::from_blocks(
                                      data::read_lm_blocks({cfg.str("data.dev")}, *tok, lo))});
    }
    num_labels = 0;
  } else {
    data::TableOptions to;
    to.format = cfg.str("data.format");
    to.text_column = cfg.str("data.text_column");
    to.text_pair_column = cfg.str("data.text_pair_column");
    to.label_column = cfg.str("data.label_column");
    to.has_header = cfg.boolean("data.has_header");
    to.kind = kind == TaskKind::regression ? data::LabelKind::regression : data::LabelKind::classification;
    to.label_names = cfg.strings("data.label_names");
    to.read = rtrain;
    const data::TextDataset tr = data::read_table(need("data.train"), to);
    train_data = data::TokenizedDataset::from_examples(tr, *tok, topt);
    label_names = tr.label_names;
    if (cfg.is_set("data.dev")) {
      to.label_names = label_names;  // eval labels must be among the training labels
      to.read = reval;
      eval_sets.push_back({"dev", data::TokenizedDataset::from_examples(
                                      data::read_table(cfg.str("data.dev"), to), *tok, topt)});
    }
    num_labels = kind == TaskKind::regression ? 1 : static_cast<int64_t>(label_names.size());
    if (cfg.is_set("model.num_labels") && kind == TaskKind::classification) {
      SPT_CHECK(cfg.integer("model.num_labels") == num_labels, "[config] ", cfg.source,
                ": model.num_labels = ", cfg.integer("model.num_labels"), " but the data has ", num_labels,
                " labels; hint: remove model.num_labels or fix data.label_names");
    }
  }
  SPT_CHECK(train_data.size() > 0, "[data] ", train_data.source(), ": no training examples");
  if (const std::string s = train_data.bad_rows().summary(); !s.empty()) spdlog::warn("[data] train: {}", s);
  for (const EvalSet& e : eval_sets)
    if (const std::string s = e.data.bad_rows().summary(); !s.empty()) spdlog::warn("[data] {}: {}", e.name, s);
}

void Trainer::Impl::setup_schedule() {
  const int64_t batch = cfg.integer("train.batch_size");
  accum = cfg.integer("train.grad_accumulation");
  SPT_CHECK(batch % accum == 0, "[config] ", cfg.source, ": train.batch_size = ", batch,
            " is not a multiple of train.grad_accumulation = ", accum,
            "; hint: the micro-batch is batch_size / grad_accumulation");
  micro_batch = batch / accum;
  batch_opt.batch_size = static_cast<size_t>(micro_batch);
  batch_opt.shuffle = true;
  batch_opt.seed = static_cast<uint64_t>(cfg.integer("train.seed"));
  batch_opt.group_by_length = cfg.boolean("tokenizer.group_by_length");
  const bool to_max = cfg.str("tokenizer.padding") == "max_length";
  batch_opt.pad_to = to_max ? data::PadTo::max_length : data::PadTo::longest;
  batch_opt.max_length = static_cast<size_t>(cfg.integer("tokenizer.max_length"));
  eval_opt = batch_opt;
  eval_opt.shuffle = false;
  eval_opt.group_by_length = false;
  eval_opt.sort_by_length = true;  // batches of similar lengths: less padding, the same metrics
  eval_opt.batch_size = static_cast<size_t>(cfg.integer("eval.batch_size"));
  pad_id = data::pad_id_for(*tok);
  train_it = std::make_unique<data::BatchIterator>(train_data, batch_opt, pad_id);

  steps_per_epoch = (static_cast<int64_t>(train_it->batches_per_epoch()) + accum - 1) / accum;
  const int64_t max_steps = cfg.integer("train.max_steps");
  total_steps = max_steps > 0 ? max_steps
                              : static_cast<int64_t>(std::ceil(cfg.number("train.epochs") * static_cast<double>(steps_per_epoch)));
  SPT_CHECK(total_steps > 0, "[config] ", cfg.source, ": no training steps (train.epochs = ",
            cfg.number("train.epochs"), ", train.max_steps = ", max_steps, ")");
  schedule.kind = schedule_from_name(cfg.str("train.scheduler"));
  schedule.peak = cfg.number("train.learning_rate");
  schedule.total = total_steps;
  schedule.warmup = warmup_steps(cfg.integer("train.warmup_steps"), cfg.number("train.warmup_ratio"), total_steps);
  adam.beta1 = static_cast<float>(cfg.number("train.adam_beta1"));
  adam.beta2 = static_cast<float>(cfg.number("train.adam_beta2"));
  adam.eps = static_cast<float>(cfg.number("train.adam_epsilon"));
  adam.weight_decay = static_cast<float>(cfg.number("train.weight_decay"));
  max_grad_norm = cfg.number("train.max_grad_norm");
  const std::string rc = cfg.str("runtime.recompute");
  recompute = rc == "full" ? model::Recompute::full : rc == "attention" ? model::Recompute::attention
                                                                        : model::Recompute::none;
  setup_nonfinite();

  // The metric that picks the best model.
  if (cfg.is_set("eval.metric")) {
    metric = cfg.str("eval.metric");
  } else if (kind == TaskKind::glue) {
    metric = data::glue_task_info(*glue).main_metric;
  } else if (kind == TaskKind::classification) {
    metric = "accuracy";
  } else if (kind == TaskKind::regression) {
    metric = "pearson";
  } else {
    metric = "loss";
  }
  greater_is_better = !(metric == "loss" || metric == "mse" || metric == "perplexity");
}

Trainer::Trainer(const ResolvedConfig& cfg) : impl_(new Impl) {
  Impl& m = *impl_;
  m.cfg = cfg;
  const comm::World world = comm::detect_world();
  std::string device_name = cfg.str("runtime.device");
  if (device_name == "cuda" && world.size > 1 && cuda_device_count() > 0)  // one GPU per rank of the node
    // (modulo the visible ones: Slurm's --gpus-per-task leaves each task one)
    device_name = str_cat("cuda:", world.local_rank % cuda_device_count());
  m.device = device_from_name(device_name);
  m.memory_limit.emplace(m.device, static_cast<size_t>(cfg.integer("runtime.memory_limit_mb")) << 20);
  comm::Options co;
  co.backend = cfg.str("runtime.comm");
  co.device = m.device;
  co.rendezvous_dir = cfg.is_set("runtime.rendezvous_dir") ? cfg.str("runtime.rendezvous_dir")
                                                           : (fs::path(cfg.str("output.dir")) / ".rendezvous").string();
  co.timeout_s = cfg.number("runtime.comm_timeout_s");
  m.comm = &comm::init_world(co);
  m.setup_precision();
  m.kind = task_kind(cfg.str("task.type"));
  if (m.kind == TaskKind::glue) {
    SPT_CHECK(cfg.is_set("task.glue_task"), "[config] ", cfg.source,
              ": task.type is glue but task.glue_task is not set; hint: e.g. \"glue_task\": \"sst2\"");
    m.glue = data::parse_glue_task(cfg.str("task.glue_task"));
  }
  m.head = m.kind == TaskKind::causal_lm ? io::ModelHead::causal_lm : io::ModelHead::sequence_classification;
  // The tokenizer first (the data decides the number of labels, which shapes the head).
  std::string tok_path = cfg.is_set("tokenizer.path") ? cfg.str("tokenizer.path") : cfg.str("model.path");
  if (fs::path(cfg.str("model.path")).extension() == ".gguf" && fs::is_regular_file(cfg.str("model.path"))) {
    // A GGUF file: its tokenizer (and config) are written beside the run's output,
    // where checkpoints copy them from.
    m.gguf = io::open_gguf_model(cfg.str("model.path"));
    if (!cfg.is_set("tokenizer.path")) {
      tok_path = m.gguf_tokenizer_dir();
      if (m.root()) io::write_gguf_tokenizer(*m.gguf, tok_path);  // one writer; the others wait for it
      m.comm->barrier();
    }
  }
  SPT_CHECK(fs::exists(tok_path), "[tokenizer] ", tok_path, ": no such file or folder (tokenizer.path / model.path)");
  m.tok = tokenize::load_tokenizer(tok_path);
  m.setup_data();
  m.setup_model();
  m.setup_schedule();
  m.setup_zero();
  m.setup_grad_sync();
  m.out_dir = cfg.str("output.dir");
  m.metrics_path = cfg.is_set("logging.metrics_file") ? cfg.str("logging.metrics_file")
                                                      : (fs::path(m.out_dir) / "metrics.jsonl").string();
}

Trainer::~Trainer() = default;

std::string Trainer::plan() const { return impl_->plan(); }

std::string Trainer::Impl::plan() const {
  const double bytes_params = static_cast<double>(ps.num_params()) * 4;
  // Gradients + AdamW's 2 moments (ZeRO-1: this process's share of the moments).
  const double bytes_train = static_cast<double>(ps.num_trainable()) * 4 +
                             static_cast<double>(ps.moments_end() - ps.moments_begin()) * 8;
  std::string s;
  s += str_cat("model:       ", model_source, " (", mcfg.model_type, ", ", io::hf_architecture(mcfg, head), ")\n");
  s += str_cat("parameters:  ", ps.num_params(), " total, ", ps.num_trainable(), " trainable (",
               fixed(100.0 * static_cast<double>(ps.num_trainable()) / static_cast<double>(ps.num_params()), 2),
               "%), ", ps.num_params() - ps.num_trainable(), " frozen\n");
  if (model_opts.lora.enabled) {
    int64_t adapter = 0;
    for (const ParamInfo& p : ps.infos())
      if (io::spt_tensor_kind(p.name) == "LoRA adapter") adapter += shape_numel(p.shape);
    s += str_cat("lora:        ", describe_lora(model_opts.lora), "; ", adapter, " adapter parameters; ",
                 "base frozen (no gradients, no AdamW moments)\n");
  }
  if (model_opts.attention.enabled) {
    // Bytes kept for backward by the attention of all layers at max_length and micro-batch size.
    const model::AttentionShape a = model::attention_shape(mcfg);
    const int64_t T = cfg.integer("tokenizer.max_length"), B = micro_batch;
    const int64_t L = ops::sparse_slots(model_opts.attention.select, T);
    const double dense_layer = static_cast<double>(B * a.heads * T) * static_cast<double>(T) * 4.0 * 2.0;
    const double sparse_layer =
        static_cast<double>(B * a.heads * T) * (static_cast<double>(L * dtype_size(ops::sparse_index_dtype(T))) + 4.0);
    int64_t n = 0;
    for (int64_t l = 0; l < a.layers; ++l) n += model_opts.attention.is_sparse_layer(l);
    s += str_cat("attention:   ", describe_attention(), "\n");
    s += str_cat("ffn:         ", describe_ffn(), "\n");
    s += str_cat("             saved for backward at batch ", B, " x ", T, ": ",
                 fixed(static_cast<double>(n) * sparse_layer / 1048576.0, 1), " MiB in the sparse layers instead of ",
                 fixed(static_cast<double>(n) * dense_layer / 1048576.0, 1),
                 " MiB dense (probabilities and their dropout), ", fixed(dense_layer / sparse_layer, 1), "x less\n");
  }
  s += step_cost_table(mcfg, head, model_opts, micro_batch, head == io::ModelHead::causal_lm
                                                               ? cfg.integer("data.block_size")
                                                               : cfg.integer("tokenizer.max_length"),
                       recompute);
  if (recompute != model::Recompute::none)
    s += str_cat("recompute:   ", cfg.str("runtime.recompute"), " (activations recomputed in backward, gradients "
                 "identical)\n");
  if (compute_dtype != DType::f32)
    s += str_cat("precision:   ", cfg.str("runtime.precision"), " GEMM operands in the linear layers, f32 master weights "
                 "and accumulation", scaler.enabled() ? str_cat("; dynamic loss scaling from ", scaler.scale()) : "",
                 "\n");
  if (!newly_initialized.empty()) s += str_cat("new heads:   ", newly_initialized.size(), " tensors initialised\n");
  s += str_cat("task:        ", cfg.str("task.type"), glue ? " " + cfg.str("task.glue_task") : std::string(),
               num_labels > 0 ? str_cat(", ", num_labels, " label(s)") : std::string(), "\n");
  s += str_cat("data:        ", train_data.size(), " training examples (", train_data.source(), ")");
  for (const EvalSet& e : eval_sets) s += str_cat(", ", e.data.size(), " in ", e.name);
  s += "\n";
  s += str_cat("steps:       ", total_steps, " (", steps_per_epoch, " per epoch; batch ", micro_batch * accum,
               " = ", micro_batch, " x ", accum, " accumulation), warmup ", schedule.warmup, "\n");
  s += str_cat("metric:      ", metric, greater_is_better ? " (higher is better)" : " (lower is better)", "\n");
  s += str_cat("memory est.: ", static_cast<int64_t>((bytes_params + bytes_train) / 1048576.0),
               " MiB for parameters (", static_cast<int64_t>(bytes_params / 1048576.0),
               "), gradients and AdamW moments (", static_cast<int64_t>(bytes_train / 1048576.0),
               "), plus activations\n");
  if (comm->size() > 1)
    s += str_cat("processes:   ", comm->size(), " (", comm->world().launcher, ", ", comm->backend(),
                 "): each micro-batch of ", micro_batch, " rows split over them",
                 zero_offsets.empty() ? "" : "; ZeRO-1: AdamW moments sharded", "\n");
  s += str_cat("output:      ", out_dir, "\n");
  return s;
}

}  // namespace spt::train
