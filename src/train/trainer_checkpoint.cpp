// Checkpoints of a run: the model in the spt checkpoint format plus, for
// resumable checkpoints, the trainer state (step, best metric, data position)
// and AdamW's moments; resuming restores all of it, so the continued run is
// bit-identical to an uninterrupted one on the CPU.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "spt/core/error.h"
#include "spt/io/checkpoint.h"
#include "spt/io/safetensors.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

namespace fs = std::filesystem;

namespace {

// The step of "checkpoint-<N>", or -1.
int64_t checkpoint_step(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string prefix = "checkpoint-";
  if (name.rfind(prefix, 0) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

void Trainer::Impl::save(const std::string& dir, bool with_trainer_state) {
  // ZeRO-1: the moments' shards meet first (every rank takes part).
  const auto [moment_m, moment_v] = with_trainer_state ? full_moments() : std::pair<Tensor, Tensor>();
  if (!root()) return;  // several processes hold the same weights: rank 0 writes
  io::CheckpointData d;
  d.config = mcfg;
  d.head = head;
  d.config.raw["architectures"] = {io::hf_architecture(mcfg, head)};
  if (head == io::ModelHead::sequence_classification) {
    Json id2label = Json::object(), label2id = Json::object();
    for (size_t i = 0; i < static_cast<size_t>(num_labels); ++i) {
      const std::string name = i < label_names.size() ? label_names[i] : str_cat("LABEL_", i);
      id2label[std::to_string(i)] = name;
      label2id[name] = i;
    }
    d.config.raw["id2label"] = id2label;
    d.config.raw["label2id"] = label2id;
    d.config.raw["num_labels"] = num_labels;
    if (num_labels == 1) d.config.raw["problem_type"] = "regression";
  }
  d.spt = {{"task", cfg.str("task.type")}, {"label_names", label_names},
           {"max_length", cfg.integer("tokenizer.max_length")}, {"attention", "dense"}, {"ffn", "dense"}};
  if (glue) d.spt["glue_task"] = cfg.str("task.glue_task");
  model_opts.write_json(d.spt);
  d.spt["base_model"] = base_model;
  for (const ParamInfo& p : ps.infos()) d.params.emplace_back(p.name, ps.param(p.name));
  if (fs::is_directory(tokenizer_dir)) d.tokenizer_dir = tokenizer_dir;
  if (with_trainer_state) {
    d.trainer_state = {{"step", step},
                       {"best", best},
                       {"best_step", best_step},
                       {"bad_evals", bad_evals},
                       {"skipped_steps", skipped_steps},
                       {"data", train_it->state().to_json()},
                       {"num_trainable", ps.num_trainable()},
                       {"seed", cfg.integer("train.seed")},
                       {"total_steps", total_steps}};
    d.trainer_state.update(scaler.state());
    d.trainer_tensors = {{"adam_m", moment_m}, {"adam_v", moment_v}};
  }
  io::save_checkpoint(dir, d);
  spdlog::info("saved {} (step {})", dir, step);
}

void Trainer::Impl::resume(const std::string& dir) {
  SPT_CHECK(!dir.empty(), "[resume] no checkpoint to resume from in ", out_dir,
            "; hint: set output.save_every_steps to write checkpoints, or pass --resume DIR");
  io::LoadedCheckpoint lc;
  try {
    lc = io::load_checkpoint(dir);
  } catch (const Error& e) {
    fail(e.what(), "; `--resume` without a folder resumes from the newest intact checkpoint in ", out_dir);
  }
  SPT_CHECK(!lc.trainer_state.is_null() && !lc.trainer_tensors_path.empty(), "[resume] ", dir,
            " has no trainer state (a final or best model); hint: resume from a checkpoint-<step> folder");
  const Json& st = lc.trainer_state;
  SPT_CHECK(st.at("num_trainable").get<int64_t>() == ps.num_trainable(), "[resume] ", dir, " has ",
            st.at("num_trainable").get<int64_t>(), " trainable parameters, this run ", ps.num_trainable(),
            "; hint: resume with the config the checkpoint was written with (model.freeze, task)");
  SPT_CHECK(st.at("seed").get<int64_t>() == cfg.integer("train.seed"), "[resume] ", dir,
            " was written with train.seed = ", st.at("seed").get<int64_t>(), ", this run has ",
            cfg.integer("train.seed"), "; hint: keep the seed to continue the same run");
  // Every parameter of the run comes from the checkpoint, and every checkpoint
  // tensor has its parameter: nothing is silently left at its initial value.
  std::set<std::string> restored;
  for (const auto* list : {&lc.weights.params, &lc.spt_tensors}) {
    for (const auto& [name, t] : *list) {
      SPT_CHECK(ps.has(name), "[resume] ", dir, " holds ", name, ", which this run's model does not have; "
                "hint: resume with the config the checkpoint was written with (lora section)");
      ps.param(name).copy_from(t);
      restored.insert(name);
    }
  }
  for (const ParamInfo& p : ps.infos())
    SPT_CHECK(restored.count(p.name), "[resume] ", dir, " lacks ", p.name, " of this run's model; hint: "
              "resume with the config the checkpoint was written with (lora section)");
  const io::SafetensorsReader moments(lc.trainer_tensors_path);
  load_moments(moments.load("adam_m", DType::f32), moments.load("adam_v", DType::f32));  // this rank's shard (ZeRO-1)
  step = st.at("step").get<int64_t>();
  best = st.at("best").is_number() ? st.at("best").get<double>() : best;
  best_step = st.at("best_step").get<int64_t>();
  bad_evals = st.at("bad_evals").get<int64_t>();
  skipped_steps = st.value("skipped_steps", int64_t{0});  // absent before the non-finite guard
  scaler.load_state(st);
  train_it->restore(data::IteratorState::from_json(st.at("data")));
  codebooks_ready = true;  // restored with the other tensors
  routers_ready = true;
  spdlog::info("resumed from {} at step {}", dir, step);
}

std::string Trainer::Impl::latest_checkpoint() const {
  // Newest first; a damaged one (a file truncated or changed after saving) is
  // skipped with a warning naming the file, so a run resumes from the newest
  // intact checkpoint.
  if (!fs::is_directory(out_dir)) return "";
  std::vector<std::pair<int64_t, std::string>> found;
  for (const auto& e : fs::directory_iterator(out_dir))
    if (const int64_t n = checkpoint_step(e.path()); n >= 0 && io::is_spt_checkpoint(e.path().string()))
      found.emplace_back(n, e.path().string());
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> damaged;
  std::string intact;
  for (const auto& [n, dir] : found) {
    const std::string problem = io::checkpoint_problem(dir);
    if (problem.empty()) {
      intact = dir;
      break;
    }
    spdlog::warn("skipping damaged checkpoint {}: {}", dir, problem);
    damaged.push_back(dir);
  }
  SPT_CHECK(!intact.empty() || damaged.empty(), "[resume] every checkpoint in ", out_dir, " is damaged (",
            damaged.size(), ", newest ", damaged.empty() ? "" : damaged.front(), "); hint: restore one from a "
            "backup, or move them away to start afresh");
  // The damaged ones go aside (kept for inspection, out of the rotation, which
  // would otherwise keep them over the new checkpoints of the resumed run).
  for (const std::string& d : damaged) {
    const std::string aside = d + ".damaged";
    std::error_code ec;
    fs::remove_all(aside, ec);
    fs::rename(d, aside, ec);
    if (!ec) spdlog::warn("moved {} aside to {}", d, aside);
  }
  if (!damaged.empty())
    spdlog::warn("resuming from {}, the newest intact checkpoint ({} newer one(s) damaged)", intact, damaged.size());
  return intact;
}

void Trainer::Impl::rotate_checkpoints() {
  if (!root()) return;
  const int64_t keep = cfg.integer("output.keep_last");
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& e : fs::directory_iterator(out_dir))
    if (const int64_t n = checkpoint_step(e.path()); n >= 0) found.push_back({n, e.path()});
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) {
    fs::remove_all(found[i].second);
    spdlog::debug("removed old checkpoint {}", found[i].second.string());
  }
}

}  // namespace spt::train
