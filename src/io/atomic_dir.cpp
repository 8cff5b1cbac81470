// AtomicDir: write into <target>.tmp-<pid>, fsync, rename into place.
#include "spt/io/atomic_dir.h"

#include <unistd.h>

#include <filesystem>

#include "spt/core/error.h"
#include "spt/io/atomic_file.h"

namespace spt::io {

namespace fs = std::filesystem;

namespace {

std::string parent_of(const std::string& p) {
  const fs::path parent = fs::path(p).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// fsyncs every regular file below `dir`, then the folders themselves.
void fsync_tree(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() || e.is_directory()) fsync_path(e.path().string());
  fsync_path(dir);
}

}  // namespace

AtomicDir::AtomicDir(std::string target, std::string component,
                     std::function<bool(const std::string&)> may_replace)
    : target_(std::move(target)), component_(std::move(component)),
      may_replace_(std::move(may_replace)) {
  while (!target_.empty() && target_.size() > 1 && target_.back() == '/') target_.pop_back();
  SPT_CHECK(!target_.empty(), "[", component_, "] empty output folder name");
  std::error_code ec;
  if (fs::exists(target_, ec)) {
    SPT_CHECK(fs::is_directory(target_, ec), "[", component_, "] ", target_,
              " exists and is not a folder; hint: choose another output path");
    SPT_CHECK(fs::is_empty(target_, ec) || may_replace_(target_), "[", component_, "] ",
              target_, " exists and is not a folder spt may replace; hint: choose a new folder "
              "or remove it first");
  }
  const std::string parent = parent_of(target_);
  fs::create_directories(parent, ec);
  SPT_CHECK(fs::is_directory(parent), "[", component_, "] cannot create ", parent, ": ",
            ec.message());
  tmp_ = target_ + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp_, ec);
  SPT_CHECK(fs::create_directory(tmp_, ec), "[", component_, "] cannot create ", tmp_, ": ",
            ec.message(), "; hint: check that the folder is writable");
}

AtomicDir::~AtomicDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

void AtomicDir::commit() {
  SPT_CHECK(!committed_, "[", component_, "] ", target_, " committed twice");
  fsync_tree(tmp_);
  std::error_code ec;
  std::string old;
  if (fs::exists(target_, ec)) {
    old = target_ + ".old-" + std::to_string(::getpid());
    fs::remove_all(old, ec);
    fs::rename(target_, old, ec);
    SPT_CHECK(!ec, "[", component_, "] cannot move ", target_, " aside: ", ec.message());
  }
  fs::rename(tmp_, target_, ec);
  SPT_CHECK(!ec, "[", component_, "] cannot rename ", tmp_, " to ", target_, ": ", ec.message(),
            old.empty() ? "" : "; the previous version is in " + old);
  committed_ = true;
  fsync_path(parent_of(target_));
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace spt::io
