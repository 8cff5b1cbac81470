// Restricted unpickler (see pickle.h). Opcode reference: CPython
// Lib/pickletools.py; the objects torch.save writes: torch/serialization.py
// (persistent ids) and torch/_utils.py (_rebuild_tensor_v2).
#include "pickle.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <map>
#include <unordered_set>

#include "spt/core/error.h"

namespace spt::io {

namespace {

const char* kHint =
    "; hint: spt reads only state dicts saved with torch.save(model.state_dict()); "
    "convert other files to safetensors with transformers";

PyRef make(PyObject::Kind k) {
  auto o = std::make_shared<PyObject>();
  o->kind = k;
  return o;
}
PyRef make_int(int64_t v, PyObject::Kind k = PyObject::Kind::integer) {
  PyRef o = make(k);
  o->i = v;
  return o;
}
PyRef make_str(std::string s, PyObject::Kind k = PyObject::Kind::string) {
  PyRef o = make(k);
  o->s = std::move(s);
  return o;
}

std::optional<StoredDType> storage_dtype(const std::string& global) {
  static const std::map<std::string, StoredDType> kStorages = {
      {"torch.FloatStorage", StoredDType::F32},   {"torch.DoubleStorage", StoredDType::F64},
      {"torch.HalfStorage", StoredDType::F16},    {"torch.BFloat16Storage", StoredDType::BF16},
      {"torch.LongStorage", StoredDType::I64},    {"torch.IntStorage", StoredDType::I32},
      {"torch.ShortStorage", StoredDType::I16},   {"torch.CharStorage", StoredDType::I8},
      {"torch.ByteStorage", StoredDType::U8},     {"torch.BoolStorage", StoredDType::BOOL}};
  auto it = kStorages.find(global);
  if (it == kStorages.end()) return std::nullopt;
  return it->second;
}

bool allowed_global(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_parameter" || storage_dtype(g).has_value();
}

constexpr int kMaxDepth = 64;

class Machine {
 public:
  Machine(const unsigned char* data, uint64_t size, const std::string& what)
      : p_(data), size_(size), what_(what) {}

  PyRef run() {
    for (;;) {
      const uint64_t at = pos_;
      const unsigned char op = u8();
      if (op == '.') break;
      step(op, at);
    }
    SPT_CHECK(stack_.size() == 1 && marks_.empty(), what_, ": pickle ends with ", stack_.size(),
              " objects on the stack", kHint);
    return stack_.back();
  }

 private:
  // ---- reading ----
  void need(uint64_t n) {
    SPT_CHECK(n <= size_ - pos_, what_, ": pickle truncated at byte ", pos_, kHint);
  }
  unsigned char u8() {
    need(1);
    return p_[pos_++];
  }
  template <class T>
  T le() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string bytes(uint64_t n) {
    need(n);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string line() {
    std::string s;
    for (;;) {
      const unsigned char c = u8();
      if (c == '\n') return s;
      s += static_cast<char>(c);
      SPT_CHECK(s.size() < 4096, what_, ": overlong GLOBAL name", kHint);
    }
  }

  // ---- stack ----
  PyRef pop() {
    SPT_CHECK(!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back()), what_,
              ": pickle stack underflow", kHint);
    PyRef v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    SPT_CHECK(!stack_.empty(), what_, ": pickle stack underflow", kHint);
    return stack_.back();
  }
  void push(PyRef v) {
    SPT_CHECK(stack_.size() < (1u << 22), what_, ": pickle stack too deep", kHint);
    stack_.push_back(std::move(v));
  }
  std::vector<PyRef> pop_mark() {
    SPT_CHECK(!marks_.empty(), what_, ": pickle MARK missing", kHint);
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  // Records that `child` now sits inside `parent`; containers nest at most
  // kMaxDepth deep (a state dict needs 4).
  void nest(PyObject& parent, const PyRef& child) {
    // No container inside itself, directly or not: a state dict has no cycle,
    // and one would keep its objects alive forever (shared ownership).
    SPT_CHECK(!reaches(*child, &parent), what_, ": pickle puts a container inside itself (a reference cycle); a "
              "state dict has none", kHint);
    parent.depth = std::max(parent.depth, child->depth + 1);
    SPT_CHECK(parent.depth <= kMaxDepth, what_, ": pickle nests containers more than ", kMaxDepth,
              " deep", kHint);
  }
  // True when `target` is `from` or lies inside it (items and dict entries).
  // Each node visited costs one unit of a budget for the whole pickle, so a
  // hostile file cannot make the checks quadratic.
  bool reaches(const PyObject& from, const PyObject* target) {
    std::vector<const PyObject*> todo = {&from};
    std::unordered_set<const PyObject*> seen;
    while (!todo.empty()) {
      const PyObject* o = todo.back();
      todo.pop_back();
      if (o == target) return true;
      if (!seen.insert(o).second) continue;
      SPT_CHECK(--walk_budget_ > 0, what_, ": pickle too intricate (more than 2^24 container visits)", kHint);
      for (const PyRef& x : o->items) todo.push_back(x.get());
      for (const auto& [k, v] : o->entries) {
        todo.push_back(k.get());
        todo.push_back(v.get());
      }
    }
    return false;
  }
  PyRef container(PyObject::Kind k, std::vector<PyRef> items) {
    PyRef t = make(k);
    for (const PyRef& x : items) nest(*t, x);
    t->items = std::move(items);
    return t;
  }
  PyRef tuple(std::vector<PyRef> items) { return container(PyObject::Kind::tuple, std::move(items)); }
  void set_items(PyRef& d, std::vector<PyRef>& kv) {
    SPT_CHECK(d->kind == PyObject::Kind::dict && kv.size() % 2 == 0, what_,
              ": SETITEM on a ", py_kind_name(*d), kHint);
    for (size_t k = 0; k < kv.size(); k += 2) {
      nest(*d, kv[k]);
      nest(*d, kv[k + 1]);
      d->entries.emplace_back(kv[k], kv[k + 1]);
    }
  }
  void memo_put(uint32_t idx) { memo_[idx] = top(); }
  PyRef memo_get(uint32_t idx) {
    auto it = memo_.find(idx);
    SPT_CHECK(it != memo_.end(), what_, ": pickle memo entry ", idx, " missing", kHint);
    return it->second;
  }
  PyRef global(const std::string& module, const std::string& name) {
    const std::string g = module + "." + name;
    SPT_CHECK(allowed_global(g), what_, ": the pickle refers to '", g,
              "', which spt does not load (it never runs code from a checkpoint)", kHint);
    return make_str(g, PyObject::Kind::global);
  }

  void step(unsigned char op, uint64_t at);
  PyRef reduce(const PyRef& fn, const PyRef& args);
  PyRef persistent(const PyRef& pid);

  const unsigned char* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& what_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint32_t, PyRef> memo_;
  int64_t walk_budget_ = int64_t{1} << 24;  // container visits left for the cycle checks
};

void Machine::step(unsigned char op, uint64_t at) {
  using K = PyObject::Kind;
  switch (op) {
    case 0x80: u8(); break;             // PROTO
    case 0x95: le<uint64_t>(); break;   // FRAME (framing is only a read-ahead hint)
    case '(': marks_.push_back(stack_.size()); break;
    case ')': push(tuple({})); break;
    case 't': push(tuple(pop_mark())); break;
    case 0x85: { PyRef a = pop(); push(tuple({a})); break; }
    case 0x86: { PyRef b = pop(), a = pop(); push(tuple({a, b})); break; }
    case 0x87: { PyRef c = pop(), b = pop(), a = pop(); push(tuple({a, b, c})); break; }
    case ']': push(make(K::list)); break;
    case 'l': push(container(K::list, pop_mark())); break;
    case 'a': { PyRef v = pop(); SPT_CHECK(top()->kind == K::list, what_, ": APPEND to a non-list", kHint);
                nest(*top(), v); top()->items.push_back(v); break; }
    case 'e': { auto v = pop_mark(); SPT_CHECK(top()->kind == K::list, what_, ": APPENDS to a non-list", kHint);
                for (auto& x : v) { nest(*top(), x); top()->items.push_back(x); } break; }
    case '}': push(make(K::dict)); break;
    case 'd': { PyRef d = make(K::dict); auto kv = pop_mark(); set_items(d, kv); push(d); break; }
    case 's': { PyRef v = pop(), k = pop(); std::vector<PyRef> kv{k, v}; set_items(top(), kv); break; }
    case 'u': { auto kv = pop_mark(); set_items(top(), kv); break; }
    case 'N': push(make(K::none)); break;
    case 0x88: push(make_int(1, K::boolean)); break;
    case 0x89: push(make_int(0, K::boolean)); break;
    case 'J': push(make_int(le<int32_t>())); break;
    case 'K': push(make_int(u8())); break;
    case 'M': push(make_int(le<uint16_t>())); break;
    case 0x8a: {  // LONG1: n-byte little-endian two's complement
      const unsigned n = u8();
      SPT_CHECK(n <= 8, what_, ": integer of ", n, " bytes is too large", kHint);
      uint64_t v = 0;
      for (unsigned k = 0; k < n; ++k) v |= static_cast<uint64_t>(u8()) << (8 * k);
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~0ull << (8 * n);  // sign-extend
      push(make_int(static_cast<int64_t>(v)));
      break;
    }
    case 'G': {  // BINFLOAT: big-endian double
      uint64_t b = 0;
      for (int k = 0; k < 8; ++k) b = (b << 8) | u8();
      PyRef f = make(K::floating);
      std::memcpy(&f->f, &b, 8);
      push(f);
      break;
    }
    case 'X': push(make_str(bytes(le<uint32_t>()))); break;
    case 0x8c: push(make_str(bytes(u8()))); break;
    case 0x8d: push(make_str(bytes(le<uint64_t>()))); break;
    case 'C': push(make_str(bytes(u8()), K::bytes)); break;
    case 'B': push(make_str(bytes(le<uint32_t>()), K::bytes)); break;
    case 'c': { std::string m = line(); std::string n = line(); push(global(m, n)); break; }
    case 0x93: {  // STACK_GLOBAL
      PyRef n = pop(), m = pop();
      SPT_CHECK(m->kind == K::string && n->kind == K::string, what_, ": bad STACK_GLOBAL", kHint);
      push(global(m->s, n->s));
      break;
    }
    case 'q': memo_put(u8()); break;
    case 'r': memo_put(le<uint32_t>()); break;
    case 0x94: memo_put(static_cast<uint32_t>(memo_.size())); break;
    case 'h': push(memo_get(u8())); break;
    case 'j': push(memo_get(le<uint32_t>())); break;
    case '0': pop(); break;
    case '1': pop_mark(); break;
    case '2': push(top()); break;
    case 'R': { PyRef args = pop(), fn = pop(); push(reduce(fn, args)); break; }
    case 'Q': push(persistent(pop())); break;
    case 'b': {  // BUILD: only the attributes torch puts on OrderedDict (_metadata) occur
      PyRef state = pop();
      SPT_CHECK(top()->kind == K::dict && (state->kind == K::dict || state->kind == K::none),
                what_, ": unsupported BUILD of a ", py_kind_name(*top()), kHint);
      break;
    }
    default:
      fail(what_, ": unsupported pickle opcode 0x", std::hex, static_cast<int>(op), std::dec,
           " at byte ", at, kHint);
  }
}

PyRef Machine::reduce(const PyRef& fn, const PyRef& args) {
  using K = PyObject::Kind;
  SPT_CHECK(fn->kind == K::global && args->kind == K::tuple, what_, ": REDUCE of a ",
            py_kind_name(*fn), kHint);
  const auto& a = args->items;
  auto is_int = [](const PyRef& v) { return v->kind == K::integer; };
  auto int_tuple = [&](const PyRef& v, Shape& out) {
    SPT_CHECK(v->kind == K::tuple || v->kind == K::list, what_, ": tensor size/stride is a ",
              py_kind_name(*v), kHint);
    for (const PyRef& x : v->items) {
      SPT_CHECK(is_int(x) && x->i >= 0, what_, ": tensor size/stride must hold non-negative ints",
                kHint);
      out.push_back(x->i);
    }
  };
  if (fn->s == "collections.OrderedDict") {
    SPT_CHECK(a.empty(), what_, ": OrderedDict with arguments", kHint);
    return make(K::dict);
  }
  if (fn->s == "torch._utils._rebuild_parameter") {
    SPT_CHECK(a.size() >= 1 && a[0]->kind == K::tensor, what_, ": bad _rebuild_parameter", kHint);
    return a[0];
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
  //                                 backward_hooks[, metadata])
  SPT_CHECK(a.size() == 6 || a.size() == 7, what_, ": _rebuild_tensor_v2 with ", a.size(),
            " arguments", kHint);
  SPT_CHECK(a[0]->kind == K::storage && is_int(a[1]) && a[1]->i >= 0, what_,
            ": bad _rebuild_tensor_v2 storage/offset", kHint);
  PyRef t = make(K::tensor);
  t->items = {a[0]};
  t->dtype = a[0]->dtype;
  t->offset = a[1]->i;
  int_tuple(a[2], t->shape);
  int_tuple(a[3], t->stride);
  SPT_CHECK(t->shape.size() == t->stride.size(), what_, ": tensor size ", shape_str(t->shape),
            " and stride ", shape_str(t->stride), " differ in length", kHint);
  return t;
}

PyRef Machine::persistent(const PyRef& pid) {
  using K = PyObject::Kind;
  // ('storage', torch.<T>Storage, key, location, numel)
  const auto& a = pid->items;
  SPT_CHECK(pid->kind == K::tuple && a.size() == 5 && a[0]->kind == K::string &&
                a[0]->s == "storage" && a[1]->kind == K::global && a[2]->kind == K::string &&
                a[4]->kind == K::integer && a[4]->i >= 0,
            what_, ": unsupported persistent id (not a torch storage)", kHint);
  const auto dt = storage_dtype(a[1]->s);
  SPT_CHECK(dt.has_value(), what_, ": unsupported storage type ", a[1]->s, kHint);
  PyRef s = make_str(a[2]->s, K::storage);
  s->dtype = *dt;
  s->numel = a[4]->i;
  return s;
}

}  // namespace

const char* py_kind_name(const PyObject& o) {
  switch (o.kind) {
    case PyObject::Kind::none: return "None";
    case PyObject::Kind::boolean: return "bool";
    case PyObject::Kind::integer: return "int";
    case PyObject::Kind::floating: return "float";
    case PyObject::Kind::string: return "str";
    case PyObject::Kind::bytes: return "bytes";
    case PyObject::Kind::tuple: return "tuple";
    case PyObject::Kind::list: return "list";
    case PyObject::Kind::dict: return "dict";
    case PyObject::Kind::global: return "global";
    case PyObject::Kind::storage: return "storage";
    case PyObject::Kind::tensor: return "tensor";
  }
  return "?";
}

PyRef unpickle(const unsigned char* data, uint64_t size, const std::string& what) {
  return Machine(data, size, what).run();
}

}  // namespace spt::io
