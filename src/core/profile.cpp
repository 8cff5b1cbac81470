// Op-level profile (see include/spt/core/profile.h). Scopes are opened by the
// thread that calls the ops (the training loop), so the bookkeeping is
// per-thread and merged under a lock only when a scope closes.
#include "spt/core/profile.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "spt/backend/backend.h"

namespace spt::prof {

namespace {

using Clock = std::chrono::steady_clock;

struct Entry {
  int64_t calls = 0;
  double self_s = 0;
};

struct Frame {
  const char* name;
  Clock::time_point start;
  double child_s;
};

std::mutex g_mu;
std::map<std::string, Entry>& entries() {
  static std::map<std::string, Entry> e;
  return e;
}
thread_local std::vector<Frame> t_stack;

int read_mode() {
  const char* v = std::getenv("SPT_PROFILE");
  if (!v || !*v || std::strcmp(v, "0") == 0) return 0;
  return std::strcmp(v, "sync") == 0 ? 2 : 1;
}

}  // namespace

int mode() {
  static const int m = read_mode();
  return m;
}

void Scope::begin() { t_stack.push_back({name_, Clock::now(), 0.0}); }

void Scope::end() {
  if (mode() == 2) synchronize_all_backends();
  const Frame f = t_stack.back();
  t_stack.pop_back();
  const double total = std::chrono::duration<double>(Clock::now() - f.start).count();
  if (!t_stack.empty()) t_stack.back().child_s += total;
  const std::lock_guard<std::mutex> lock(g_mu);
  Entry& e = entries()[f.name];
  e.calls += 1;
  e.self_s += total - f.child_s;
}

std::string table() {
  if (!enabled()) return {};
  const std::lock_guard<std::mutex> lock(g_mu);
  std::vector<std::pair<std::string, Entry>> rows(entries().begin(), entries().end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.self_s > b.second.self_s; });
  double total = 0;
  for (const auto& r : rows) total += r.second.self_s;
  std::string out = fmt::format("{:<28} {:>8} {:>11} {:>7}\n", "op (SPT_PROFILE)", "calls", "self ms",
                                "share");
  for (const auto& [name, e] : rows)
    out += fmt::format("{:<28} {:>8} {:>11.1f} {:>6.1f}%\n", name, e.calls, 1e3 * e.self_s,
                       total > 0 ? 100.0 * e.self_s / total : 0.0);
  out += fmt::format("{:<28} {:>8} {:>11.1f}\n", "total in ops", "", 1e3 * total);
  return out;
}

void reset() {
  const std::lock_guard<std::mutex> lock(g_mu);
  entries().clear();
}

}  // namespace spt::prof
