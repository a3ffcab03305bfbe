#include "io/pickle.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "rembert/error.h"

namespace rembert::pickle {

namespace {

// Opcodes, named as in CPython's pickle module.
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

struct AllowedGlobal {
  const char* module;
  const char* name;
  GlobalKind kind;
  DType dtype;
};

const AllowedGlobal kAllowedGlobals[] = {
    {"collections", "OrderedDict", GlobalKind::OrderedDict, DType::F32},
    {"torch._utils", "_rebuild_tensor_v2", GlobalKind::RebuildTensorV2, DType::F32},
    {"torch._utils", "_rebuild_tensor", GlobalKind::RebuildTensor, DType::F32},
    {"torch._utils", "_rebuild_parameter", GlobalKind::RebuildParameter, DType::F32},
    {"torch", "FloatStorage", GlobalKind::StorageType, DType::F32},
    {"torch", "HalfStorage", GlobalKind::StorageType, DType::F16},
    {"torch", "BFloat16Storage", GlobalKind::StorageType, DType::BF16},
    {"torch", "DoubleStorage", GlobalKind::StorageType, DType::F64},
    {"torch", "LongStorage", GlobalKind::StorageType, DType::I64},
    {"torch", "IntStorage", GlobalKind::StorageType, DType::I32},
    {"torch", "ShortStorage", GlobalKind::StorageType, DType::I16},
    {"torch", "CharStorage", GlobalKind::StorageType, DType::I8},
    {"torch", "ByteStorage", GlobalKind::StorageType, DType::U8},
    {"torch", "BoolStorage", GlobalKind::StorageType, DType::Bool},
};

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}

  Unpickled run() {
    while (true) {
      op_offset_ = pos_;
      const uint8_t op = read_u8();
      switch (op) {
        case PROTO: {
          const uint8_t version = read_u8();
          if (version > 5) fail("unsupported pickle protocol " + std::to_string(version));
          break;
        }
        case FRAME: read_uint(8); break;  // framing only groups opcodes; the data stream is the same
        case STOP: {
          result_.root = pop();
          return std::move(result_);
        }
        case MARK: marks_.push_back(stack_.size()); break;

        case NONE: push(make(Value::Kind::None)); break;
        case NEWTRUE:
        case NEWFALSE: {
          Value* v = make(Value::Kind::Bool);
          v->boolean = op == NEWTRUE;
          push(v);
          break;
        }
        case BININT: push_int(static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)))); break;
        case BININT1: push_int(static_cast<int64_t>(read_uint(1))); break;
        case BININT2: push_int(static_cast<int64_t>(read_uint(2))); break;
        case LONG1: push_int(read_long1()); break;
        case BINFLOAT: {
          const uint8_t* bytes = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = bits << 8 | bytes[i];  // BINFLOAT is big-endian
          Value* v = make(Value::Kind::Float);
          std::memcpy(&v->real, &bits, sizeof(bits));
          push(v);
          break;
        }

        case SHORT_BINUNICODE:
        case SHORT_BINSTRING: push_str(read_uint(1)); break;
        case BINUNICODE: push_str(read_uint(4)); break;
        case BINSTRING: {
          const int32_t length = static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)));
          if (length < 0) fail("negative string length");
          push_str(static_cast<uint64_t>(length));
          break;
        }
        case BINUNICODE8: push_str(read_uint(8)); break;

        case EMPTY_TUPLE: push(make(Value::Kind::Tuple)); break;
        case TUPLE1:
        case TUPLE2:
        case TUPLE3: {
          const size_t n = static_cast<size_t>(op - TUPLE1 + 1);
          Value* tuple = make(Value::Kind::Tuple);
          tuple->items.resize(n);
          for (size_t i = n; i-- > 0;) tuple->items[i] = pop();
          push(tuple);
          break;
        }
        case TUPLE: {
          Value* tuple = make(Value::Kind::Tuple);
          tuple->items = pop_to_mark();
          push(tuple);
          break;
        }
        case EMPTY_LIST: push(make(Value::Kind::List)); break;
        case LIST: {
          Value* list = make(Value::Kind::List);
          list->items = pop_to_mark();
          push(list);
          break;
        }
        case APPEND: {
          Value* item = pop();
          mutable_top(Value::Kind::List, "APPEND")->items.push_back(item);
          break;
        }
        case APPENDS: {
          std::vector<Value*> items = pop_to_mark();
          Value* list = mutable_top(Value::Kind::List, "APPENDS");
          list->items.insert(list->items.end(), items.begin(), items.end());
          break;
        }
        case EMPTY_DICT: push(make(Value::Kind::Dict)); break;
        case DICT: {
          Value* dict = make(Value::Kind::Dict);
          add_pairs(dict, pop_to_mark());
          push(dict);
          break;
        }
        case SETITEM: {
          Value* value = pop();
          Value* key = pop();
          mutable_top(Value::Kind::Dict, "SETITEM")->entries.emplace_back(key, value);
          break;
        }
        case SETITEMS: {
          std::vector<Value*> items = pop_to_mark();
          add_pairs(mutable_top(Value::Kind::Dict, "SETITEMS"), items);
          break;
        }

        case BINPUT: memo_put(static_cast<uint32_t>(read_uint(1))); break;
        case LONG_BINPUT: memo_put(static_cast<uint32_t>(read_uint(4))); break;
        case MEMOIZE: memo_put(static_cast<uint32_t>(memo_.size())); break;
        case BINGET: memo_get(static_cast<uint32_t>(read_uint(1))); break;
        case LONG_BINGET: memo_get(static_cast<uint32_t>(read_uint(4))); break;

        case GLOBAL: {
          std::string module = read_line();
          std::string name = read_line();
          push(resolve_global(module, name));
          break;
        }
        case STACK_GLOBAL: {
          Value* name = pop();
          Value* module = pop();
          if (module->kind != Value::Kind::Str || name->kind != Value::Kind::Str) {
            fail("STACK_GLOBAL expects two strings");
          }
          push(resolve_global(module->str, name->str));
          break;
        }
        case REDUCE: {
          Value* args = pop();
          Value* callable = pop();
          push(call(callable, args));
          break;
        }
        case NEWOBJ: {
          Value* args = pop();
          Value* cls = pop();
          if (cls->kind != Value::Kind::Global || cls->global != GlobalKind::OrderedDict) {
            fail(std::string("NEWOBJ is only allowed for collections.OrderedDict, got ") + kind_name(*cls));
          }
          push(call(cls, args));
          break;
        }
        case BUILD: {
          pop();  // the state
          Value* obj = top();
          // A state_dict carries its `_metadata` (per-module versions) as OrderedDict attributes: not needed.
          if (obj->kind != Value::Kind::Dict) fail(std::string("BUILD on a ") + kind_name(*obj) + " is not allowed");
          break;
        }
        case BINPERSID: push(persistent_load(pop())); break;

        default: {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(source_ + ": " + message + " (at byte " + std::to_string(op_offset_) + ")");
  }

  // Bytes [pos_, pos_ + n) or an error when the input ends first.
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail("truncated pickle: needs " + std::to_string(n) + " more bytes");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint8_t read_u8() {
    if (pos_ >= size_) {
      op_offset_ = pos_;
      fail("truncated pickle: no STOP opcode");
    }
    return data_[pos_++];
  }
  // Little-endian unsigned integer of `n` bytes (n <= 8).
  uint64_t read_uint(int n) {
    const uint8_t* p = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
    return v;
  }
  int64_t read_long1() {
    const uint64_t n = read_uint(1);
    if (n > 8) fail("LONG1 integer of " + std::to_string(n) + " bytes is too large");
    if (n == 0) return 0;
    const int bytes = static_cast<int>(n);
    uint64_t v = read_uint(bytes);
    if (bytes < 8 && (v >> (8 * bytes - 1)) & 1u) v |= ~uint64_t{0} << (8 * bytes);  // sign-extend
    int64_t result;
    std::memcpy(&result, &v, sizeof(v));
    return result;
  }
  std::string read_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("truncated pickle: unterminated GLOBAL");
    const size_t end = static_cast<size_t>(static_cast<const uint8_t*>(nl) - data_);
    std::string line(reinterpret_cast<const char*>(data_ + pos_), end - pos_);
    pos_ = end + 1;
    return line;
  }

  Value* make(Value::Kind kind) {
    result_.arena.push_back(std::make_unique<Value>());
    result_.arena.back()->kind = kind;
    return result_.arena.back().get();
  }
  void push(Value* v) { stack_.push_back(v); }
  void push_int(int64_t i) {
    Value* v = make(Value::Kind::Int);
    v->integer = i;
    push(v);
  }
  void push_str(uint64_t length) {
    const uint8_t* p = take(length);
    Value* v = make(Value::Kind::Str);
    v->str.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
    push(v);
  }

  // The stack above the innermost MARK is all an opcode may consume.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Value* top() const {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  Value* pop() {
    Value* v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<Value*> pop_to_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  // The top of the stack, which APPEND/SETITEM-like opcodes mutate in place (lists and dicts only).
  Value* mutable_top(Value::Kind kind, const char* opcode) {
    Value* v = top();
    if (v->kind != kind) fail(std::string(opcode) + " on a " + kind_name(*v));
    return v;
  }
  void add_pairs(Value* dict, const std::vector<Value*>& items) {
    if (items.size() % 2 != 0) fail("odd number of items for a dict");
    for (size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }

  void memo_put(uint32_t index) { memo_[index] = top(); }
  void memo_get(uint32_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo index " + std::to_string(index) + " is not defined");
    push(it->second);
  }

  Value* resolve_global(const std::string& module, const std::string& name) {
    for (const AllowedGlobal& g : kAllowedGlobals) {
      if (module == g.module && name == g.name) {
        Value* v = make(Value::Kind::Global);
        v->str = module + " " + name;
        v->global = g.kind;
        v->dtype = g.dtype;
        return v;
      }
    }
    fail("refusing to unpickle global '" + module + " " + name + "' (only tensors and OrderedDict are allowed)");
  }

  // REDUCE / NEWOBJ of an allowed global: builds the value the call would return, without calling anything.
  Value* call(Value* callable, Value* args) {
    if (callable->kind != Value::Kind::Global) fail(std::string("cannot call a ") + kind_name(*callable));
    if (args->kind != Value::Kind::Tuple) fail("call arguments are not a tuple");
    const std::vector<Value*>& a = args->items;
    switch (callable->global) {
      case GlobalKind::OrderedDict:
        if (!a.empty()) fail("OrderedDict with arguments is not supported");
        return make(Value::Kind::Dict);
      case GlobalKind::RebuildTensorV2:
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 expects 6 or 7 arguments");
        if (a[4]->kind != Value::Kind::Bool) fail("_rebuild_tensor_v2: requires_grad is not a bool");
        if (a[5]->kind != Value::Kind::Dict) fail("_rebuild_tensor_v2: backward_hooks is not a dict");
        return make_tensor(a);
      case GlobalKind::RebuildTensor:
        if (a.size() != 4) fail("_rebuild_tensor expects 4 arguments");
        return make_tensor(a);
      case GlobalKind::RebuildParameter:
        // (data, requires_grad, backward_hooks): a Parameter is just its tensor here.
        if (a.size() != 3 || a[0]->kind != Value::Kind::Tensor) fail("_rebuild_parameter expects (tensor, bool, dict)");
        return a[0];
      case GlobalKind::StorageType: break;
    }
    fail("cannot call " + callable->str);
  }

  Value* make_tensor(const std::vector<Value*>& a) {
    if (a[0]->kind != Value::Kind::Storage) fail("tensor storage is a " + std::string(kind_name(*a[0])));
    if (a[1]->kind != Value::Kind::Int) fail("tensor storage offset is not an int");
    Value* t = make(Value::Kind::Tensor);
    t->storage = a[0];
    t->storage_offset = a[1]->integer;
    t->size = int_tuple(a[2], "size");
    t->stride = int_tuple(a[3], "stride");
    if (t->size.size() != t->stride.size()) fail("tensor size and stride differ in length");
    return t;
  }
  std::vector<int64_t> int_tuple(Value* v, const char* what) {
    if (v->kind != Value::Kind::Tuple) fail(std::string("tensor ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (Value* item : v->items) {
      if (item->kind != Value::Kind::Int) fail(std::string("tensor ") + what + " holds a non-int");
      out.push_back(item->integer);
    }
    return out;
  }

  // torch.save's persistent id: ('storage', storage_type, key, location, numel).
  Value* persistent_load(Value* pid) {
    const std::vector<Value*>& p = pid->items;
    if (pid->kind != Value::Kind::Tuple || p.size() != 5 || p[0]->kind != Value::Kind::Str || p[0]->str != "storage") {
      fail("unsupported persistent id (expected ('storage', type, key, location, numel))");
    }
    if (p[1]->kind != Value::Kind::Global || p[1]->global != GlobalKind::StorageType) {
      fail("persistent id: storage type is not a torch storage class");
    }
    if (p[2]->kind != Value::Kind::Str || p[3]->kind != Value::Kind::Str || p[4]->kind != Value::Kind::Int) {
      fail("persistent id: expected (str key, str location, int numel)");
    }
    if (p[4]->integer < 0) fail("persistent id: negative storage size");
    Value* storage = make(Value::Kind::Storage);
    storage->dtype = p[1]->dtype;
    storage->storage_key = p[2]->str;
    storage->storage_numel = p[4]->integer;
    return storage;
  }

  const uint8_t* data_;
  size_t size_;
  std::string source_;
  size_t pos_ = 0;
  size_t op_offset_ = 0;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Value*> memo_;
  Unpickled result_;
};

}  // namespace

Unpickled unpickle(const uint8_t* data, size_t size, const std::string& source) {
  return Unpickler(data, size, source).run();
}

const char* kind_name(const Value& value) {
  switch (value.kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::Str: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
  }
  return "?";
}

}  // namespace rembert::pickle
