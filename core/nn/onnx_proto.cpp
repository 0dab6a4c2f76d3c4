#include "nn/onnx_proto.hpp"

#include <algorithm>
#include <cstring>

namespace stacklab::nn::onnx {

OnnxError::OnnxError(std::string file, std::string path, size_t offset, const std::string& problem)
    : std::runtime_error(file + ": " + (path.empty() ? std::string() : path + ": ") + problem + " at byte " +
                         std::to_string(offset)),
      file_(std::move(file)),
      path_(std::move(path)),
      offset_(offset) {}

// ---------------------------------------------------------------------------------------------
// Data types

namespace {

struct DtypeInfo {
    const char* name;
    size_t size;
};

// Indexed by the DataType code; a null name marks a code this reader does not know (float8).
constexpr DtypeInfo kDtypes[] = {
    {"undefined", 0}, {"float", 4},  {"uint8", 1},  {"int8", 1},      {"uint16", 2},      {"int16", 2},
    {"int32", 4},     {"int64", 8},  {"string", 0}, {"bool", 1},      {"float16", 2},     {"double", 8},
    {"uint32", 4},    {"uint64", 8}, {"complex64", 8}, {"complex128", 16}, {"bfloat16", 2},
    {nullptr, 0},     {nullptr, 0},  {nullptr, 0},  {nullptr, 0},     {"uint4", 1},       {"int4", 1},
};
constexpr int32_t kDtypeCount = int32_t(sizeof kDtypes / sizeof kDtypes[0]);

}  // namespace

bool is_known_dtype(int32_t code) { return code >= 0 && code < kDtypeCount && kDtypes[code].name; }

bool is_4bit(DataType t) { return t == DataType::INT4 || t == DataType::UINT4; }

void unpack_4bit(DataType t, const uint8_t* packed, size_t numel, uint8_t* out) {
    if (!is_4bit(t)) throw std::invalid_argument(std::string("unpack_4bit: ") + dtype_name(t) + " is not int4 or uint4");
    for (size_t i = 0; i < numel; ++i) {
        const uint8_t nibble = uint8_t((packed[i / 2] >> (4 * (i % 2))) & 0xF);
        // INT4: two's complement in 4 bits, so 8..15 are -8..-1.
        out[i] = t == DataType::INT4 && nibble >= 8 ? uint8_t(nibble | 0xF0) : nibble;
    }
}

std::vector<uint8_t> pack_4bit(DataType t, const uint8_t* values, size_t numel) {
    if (!is_4bit(t)) throw std::invalid_argument(std::string("pack_4bit: ") + dtype_name(t) + " is not int4 or uint4");
    std::vector<uint8_t> packed((numel + 1) / 2, 0);
    for (size_t i = 0; i < numel; ++i) {
        const int v = t == DataType::INT4 ? int(int8_t(values[i])) : int(values[i]);
        if (t == DataType::INT4 ? (v < -8 || v > 7) : v > 15)
            throw std::invalid_argument("element " + std::to_string(i) + " (" + std::to_string(v) + ") is outside the " +
                                        dtype_name(t) + " range " + (t == DataType::INT4 ? "[-8, 7]" : "[0, 15]"));
        packed[i / 2] = uint8_t(packed[i / 2] | ((v & 0xF) << (4 * (i % 2))));
    }
    return packed;
}

size_t element_size(DataType t) {
    return is_known_dtype(int32_t(t)) ? kDtypes[int32_t(t)].size : 0;
}

const char* dtype_name(DataType t) {
    return is_known_dtype(int32_t(t)) ? kDtypes[int32_t(t)].name : "undefined";
}

const char* attribute_type_name(Attribute::Type t) {
    static const char* const names[] = {"UNDEFINED", "FLOAT",   "INT",           "STRING",         "TENSOR",
                                        "GRAPH",     "FLOATS",  "INTS",          "STRINGS",        "TENSORS",
                                        "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
    return t >= 0 && t <= Attribute::TYPE_PROTOS ? names[t] : "UNDEFINED";
}

const char* value_kind_name(ValueKind k) {
    switch (k) {
        case ValueKind::TENSOR: return "tensor";
        case ValueKind::SPARSE_TENSOR: return "sparse tensor";
        case ValueKind::SEQUENCE: return "sequence";
        case ValueKind::MAP: return "map";
        case ValueKind::OPTIONAL: return "optional";
        case ValueKind::UNDEFINED: break;
    }
    return "undefined";
}

namespace detail {
void throw_wrong_element_type(DataType t, const char* requested) {
    throw std::logic_error(std::string("a ") + dtype_name(t) + " tensor cannot be read as " + requested);
}
}  // namespace detail

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (int64_t d : dims)
        if (__builtin_mul_overflow(n, d, &n)) throw std::overflow_error("tensor '" + name + "': dims overflow int64");
    return n;
}

const Graph& Attribute::graph() const {
    if (type != GRAPH || graphs.size() != 1)
        throw std::logic_error("attribute '" + name + "' of type " + attribute_type_name(type) + " holds no graph");
    return graphs.front();
}

const Attribute* Node::attr(const std::string& attr_name) const {
    for (const auto& a : attributes)
        if (a.name == attr_name) return &a;
    return nullptr;
}

int64_t Model::opset(const std::string& domain_name) const {
    auto canonical = [](const std::string& d) { return d == "ai.onnx" ? std::string() : d; };
    const std::string want = canonical(domain_name);
    for (const auto& [d, version] : opset_imports)
        if (canonical(d) == want) return version;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

// Where the reader is, for error messages: a chain of stack frames, turned into
// "graph.node[3].attribute[1].t.dims" only when something goes wrong.
struct Path {
    const Path* parent;
    const char* field;  // nullptr: the root message
    int64_t index;      // -1: not an element of a repeated field
};

std::string path_string(const Path* p) {
    std::vector<const Path*> chain;
    for (; p; p = p->parent)
        if (p->field) chain.push_back(p);
    std::string s;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if (!s.empty()) s += '.';
        s += (*it)->field;
        if ((*it)->index >= 0) s += "[" + std::to_string((*it)->index) + "]";
    }
    return s;
}

std::string dims_string(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
    return s + "]";
}

enum Wire : int { VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5 };

const char* wire_name(int w) {
    switch (w) {
        case VARINT: return "varint";
        case FIXED64: return "64-bit";
        case LEN: return "length-delimited";
        case FIXED32: return "32-bit";
        default: return "invalid";
    }
}

// Subgraphs nest through attributes, sequences through sequences: bound the recursion so that a
// hostile file cannot overflow the stack (each level costs only a few bytes of input).
constexpr int kMaxDepth = 64;

struct Source {
    const uint8_t* bytes;
    const std::string& file;
    int depth = 0;
};

[[noreturn]] void fail(const Source& src, const Path& at, size_t offset, const std::string& problem) {
    throw OnnxError(src.file, path_string(&at), offset, problem);
}

struct DepthGuard {
    DepthGuard(Source& s, const Path& at, size_t offset) : src(s) {
        if (src.depth >= kMaxDepth)
            fail(src, at, offset, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        ++src.depth;
    }
    ~DepthGuard() { --src.depth; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    Source& src;
};

// Reads the fields of one message, bytes [begin, end) of the source.
class Reader {
public:
    Reader(Source& src, size_t begin, size_t end, const Path& path)
        : src_(&src), begin_(begin), pos_(begin), end_(end), path_(&path) {}

    // Reads the next tag; false at the end of the message.
    bool next() {
        if (pos_ >= end_) return false;
        tag_start_ = pos_;
        const uint64_t tag = read_varint(pos_, end_, *path_);
        wire_ = int(tag & 7);
        const uint64_t number = tag >> 3;
        if (number == 0 || number > 0x1FFFFFFF)
            fail(*path_, tag_start_, "invalid field number " + std::to_string(number));
        field_ = uint32_t(number);
        if (wire_ == 3 || wire_ == 4)
            fail(*path_, tag_start_,
                 "field " + std::to_string(field_) + " uses wire type " + std::to_string(wire_) +
                     " (group), which is unsupported");
        if (wire_ != VARINT && wire_ != FIXED64 && wire_ != LEN && wire_ != FIXED32)
            fail(*path_, tag_start_, "field " + std::to_string(field_) + " has invalid wire type " + std::to_string(wire_));
        return true;
    }

    uint32_t field() const { return field_; }
    int wire() const { return wire_; }
    size_t tag_start() const { return tag_start_; }
    size_t begin() const { return begin_; }
    size_t end() const { return end_; }
    const Path& path() const { return *path_; }
    Source& source() const { return *src_; }
    std::string whole() const { return std::string(ptr(begin_), ptr(end_)); }

    [[noreturn]] void fail(const Path& at, size_t offset, const std::string& problem) const {
        onnx::fail(*src_, at, offset, problem);
    }

    uint64_t varint(const Path& at) {
        expect(at, VARINT);
        return read_varint(pos_, end_, at);
    }
    int64_t int64(const Path& at) { return int64_t(varint(at)); }
    // Protobuf writes a negative int32 sign-extended to 64 bits and reads back the low 32 bits.
    int32_t int32(const Path& at) { return int32_t(uint32_t(varint(at))); }
    float f32(const Path& at) {
        expect(at, FIXED32);
        return read_f32(pos_, end_, at);
    }
    std::string bytes(const Path& at) {
        auto [b, e] = span(at);
        return std::string(ptr(b), ptr(e));
    }
    Reader message(const Path& at) {
        auto [b, e] = span(at);
        return Reader(*src_, b, e, at);
    }
    // The payload of a length-delimited field: [begin, end) in the source.
    std::pair<size_t, size_t> span(const Path& at) {
        expect(at, LEN);
        const uint64_t len = read_varint(pos_, end_, at);
        if (len > end_ - pos_)
            fail(at, tag_start_,
                 "truncated length-delimited field (" + std::to_string(len) + " bytes declared, " +
                     std::to_string(end_ - pos_) + " left)");
        const size_t b = pos_;
        pos_ += size_t(len);
        return {b, pos_};
    }
    const uint8_t* ptr(size_t offset) const { return src_->bytes + offset; }

    void skip() {
        switch (wire_) {
            case VARINT: read_varint(pos_, end_, *path_); break;
            case FIXED64: read_fixed(pos_, end_, 8, *path_); break;
            case FIXED32: read_fixed(pos_, end_, 4, *path_); break;
            case LEN: span(*path_); break;
            default: fail(*path_, tag_start_, "invalid wire type");
        }
    }

    // A repeated scalar field: packed (one length-delimited run) or unpacked (one field per
    // element); writers differ, protobuf readers must accept both.
    void repeated_varint(const Path& at, std::vector<uint64_t>& out) {
        if (wire_ == LEN) {
            auto [b, e] = span(at);
            for (size_t p = b; p < e;) out.push_back(read_varint(p, e, at));
        } else {
            out.push_back(varint(at));
        }
    }
    void repeated_f32(const Path& at, std::vector<float>& out) {
        if (wire_ == LEN) {
            auto [b, e] = span(at);
            out.reserve(out.size() + (e - b) / 4);
            for (size_t p = b; p < e;) out.push_back(read_f32(p, e, at));
        } else {
            out.push_back(f32(at));
        }
    }
    void repeated_f64(const Path& at, std::vector<double>& out) {
        if (wire_ == LEN) {
            auto [b, e] = span(at);
            out.reserve(out.size() + (e - b) / 8);
            for (size_t p = b; p < e;) out.push_back(read_f64(p, e, at));
        } else {
            expect(at, FIXED64);
            out.push_back(read_f64(pos_, end_, at));
        }
    }

private:
    void expect(const Path& at, int wire) const {
        if (wire_ != wire)
            fail(at, tag_start_,
                 std::string("wire type ") + std::to_string(wire_) + " (" + wire_name(wire_) + "), expected " +
                     std::to_string(wire) + " (" + wire_name(wire) + ")");
    }

    uint64_t read_varint(size_t& p, size_t e, const Path& at) const {
        const size_t start = p;
        uint64_t v = 0;
        for (int k = 0; k < 10; ++k) {
            if (p >= e) fail(at, start, "truncated varint");
            const uint8_t b = src_->bytes[p++];
            if (k == 9 && (b & 0x80)) fail(at, start, "varint longer than 10 bytes");
            if (k == 9 && b > 1) fail(at, start, "varint overflows 64 bits");
            v |= uint64_t(b & 0x7f) << (7 * k);
            if (!(b & 0x80)) return v;
        }
        fail(at, start, "varint longer than 10 bytes");
    }

    const uint8_t* read_fixed(size_t& p, size_t e, size_t n, const Path& at) const {
        if (e - p < n)
            fail(at, p, std::string("truncated ") + (n == 4 ? "32-bit" : "64-bit") + " value");
        const uint8_t* q = src_->bytes + p;
        p += n;
        return q;
    }
    float read_f32(size_t& p, size_t e, const Path& at) const {
        float f;
        std::memcpy(&f, read_fixed(p, e, 4, at), 4);
        return f;
    }
    double read_f64(size_t& p, size_t e, const Path& at) const {
        double d;
        std::memcpy(&d, read_fixed(p, e, 8, at), 8);
        return d;
    }

    Source* src_;
    size_t begin_, pos_, end_;
    const Path* path_;
    size_t tag_start_ = 0;
    uint32_t field_ = 0;
    int wire_ = 0;
};

// --- TensorProto -----------------------------------------------------------------------------

void append_le(std::vector<uint8_t>& out, uint64_t v, size_t n) {
    for (size_t k = 0; k < n; ++k) out.push_back(uint8_t(v >> (8 * k)));
}

Tensor read_tensor(Reader r) {
    const Path& self = r.path();
    Tensor t;
    int32_t data_type = 0;
    size_t data_type_at = r.begin(), dims_at = r.begin();
    std::vector<uint64_t> dims;
    // The data fields, kept until data_type is known (fields may come in any order).
    struct Data {
        const char* field;
        size_t at;
    };
    std::vector<Data> data_fields;
    auto note = [&](const char* field) {
        for (const auto& d : data_fields)
            if (d.field == field) return;
        data_fields.push_back({field, r.tag_start()});
    };
    std::vector<float> float_data;
    std::vector<uint64_t> int32_data, int64_data, uint64_data;
    std::vector<double> double_data;
    std::pair<size_t, size_t> raw{0, 0};

    while (r.next()) {
        switch (r.field()) {
            case 1: {
                const Path at{&self, "dims", -1};
                if (dims.empty()) dims_at = r.tag_start();
                r.repeated_varint(at, dims);
                break;
            }
            case 2:
                data_type_at = r.tag_start();
                data_type = r.int32(Path{&self, "data_type", -1});
                break;
            case 3: r.fail(Path{&self, "segment", -1}, r.tag_start(), "segmented tensors are not supported");
            case 4:
                note("float_data");
                r.repeated_f32(Path{&self, "float_data", -1}, float_data);
                break;
            case 5:
                note("int32_data");
                r.repeated_varint(Path{&self, "int32_data", -1}, int32_data);
                break;
            case 6:
                note("string_data");
                t.strings.push_back(r.bytes(Path{&self, "string_data", -1}));
                break;
            case 7:
                note("int64_data");
                r.repeated_varint(Path{&self, "int64_data", -1}, int64_data);
                break;
            case 8: t.name = r.bytes(Path{&self, "name", -1}); break;
            case 9:
                note("raw_data");
                raw = r.span(Path{&self, "raw_data", -1});
                break;
            case 10:
                note("double_data");
                r.repeated_f64(Path{&self, "double_data", -1}, double_data);
                break;
            case 11:
                note("uint64_data");
                r.repeated_varint(Path{&self, "uint64_data", -1}, uint64_data);
                break;
            case 12: t.doc_string = r.bytes(Path{&self, "doc_string", -1}); break;
            case 13:
                r.fail(Path{&self, "external_data", -1}, r.tag_start(),
                       "external data not supported (the tensor's data lives in another file)");
            case 14: {
                const Path at{&self, "data_location", -1};
                const size_t where = r.tag_start();
                const int32_t location = r.int32(at);
                if (location == 1) r.fail(at, where, "external data not supported (data_location is EXTERNAL)");
                if (location != 0) r.fail(at, where, "unknown data_location " + std::to_string(location));
                break;
            }
            default: r.skip();
        }
    }

    if (!is_known_dtype(data_type))
        r.fail(Path{&self, "data_type", -1}, data_type_at, "unknown data type " + std::to_string(data_type));
    t.dtype = DataType(data_type);
    const size_t esize = element_size(t.dtype);

    // Shape: no negative dims, and a product that fits (the data size check below then bounds it).
    int64_t numel = 1;
    t.dims.reserve(dims.size());
    for (uint64_t d : dims) {
        const int64_t dim = int64_t(d);
        if (dim < 0) r.fail(Path{&self, "dims", -1}, dims_at, "negative dimension " + std::to_string(dim));
        t.dims.push_back(dim);
    }
    for (int64_t dim : t.dims) {
        int64_t bytes = 0;
        if (__builtin_mul_overflow(numel, dim, &numel) ||
            __builtin_mul_overflow(numel, int64_t(std::max<size_t>(esize, 1)), &bytes))
            r.fail(Path{&self, "dims", -1}, dims_at, "the product of dims " + dims_string(t.dims) + " overflows");
    }

    if (data_fields.size() > 1)
        r.fail(Path{&self, data_fields[1].field, -1}, data_fields[1].at,
               std::string("both ") + data_fields[0].field + " and " + data_fields[1].field + " hold data");
    const char* field = data_fields.empty() ? nullptr : data_fields[0].field;
    const size_t field_at = data_fields.empty() ? r.begin() : data_fields[0].at;
    const Path data_path{&self, field, -1};
    const Path& size_path = field ? data_path : self;
    auto wrong_field = [&]() {
        r.fail(data_path, field_at, std::string(field) + " cannot hold a " + dtype_name(t.dtype) + " tensor");
    };
    auto allowed = [&](std::initializer_list<DataType> types) {
        if (std::find(types.begin(), types.end(), t.dtype) == types.end()) wrong_field();
    };

    auto is = [&](const char* name) { return std::strcmp(field, name) == 0; };
    using D = DataType;
    if (!field) {
        // no data: fine for zero elements (checked below)
    } else if (is("raw_data")) {
        if (t.dtype == D::STRING || t.dtype == D::UNDEFINED) wrong_field();
        t.data.assign(r.ptr(raw.first), r.ptr(raw.second));
    } else if (is("float_data")) {
        allowed({D::FLOAT, D::COMPLEX64});
        t.data.resize(float_data.size() * 4);
        if (!float_data.empty()) std::memcpy(t.data.data(), float_data.data(), t.data.size());
    } else if (is("double_data")) {
        allowed({D::DOUBLE, D::COMPLEX128});
        t.data.resize(double_data.size() * 8);
        if (!double_data.empty()) std::memcpy(t.data.data(), double_data.data(), t.data.size());
    } else if (is("int32_data") && is_4bit(t.dtype)) {
        // One packed byte (two elements) per entry, as onnx.helper.make_tensor writes them.
        t.data.reserve(int32_data.size());
        for (size_t i = 0; i < int32_data.size(); ++i) {
            if (int32_data[i] > 0xFF)
                r.fail(data_path, field_at,
                       (t.name.empty() ? std::string() : "tensor '" + t.name + "': ") + "entry " + std::to_string(i) +
                           " (" + std::to_string(int64_t(int32_data[i])) + ") is not one byte of packed " +
                           dtype_name(t.dtype) + " values (0 to 255)");
            t.data.push_back(uint8_t(int32_data[i]));
        }
    } else if (is("int32_data")) {
        // int32_data carries every integer type narrower than 64 bits, bool, and the bit patterns
        // of float16/bfloat16 (onnx.proto): keep the low element_size bytes, as numpy's astype.
        allowed({D::INT32, D::INT16, D::INT8, D::UINT16, D::UINT8, D::BOOL, D::FLOAT16, D::BFLOAT16});
        t.data.reserve(int32_data.size() * esize);
        for (uint64_t v : int32_data) append_le(t.data, t.dtype == D::BOOL ? uint64_t(v != 0) : v, esize);
    } else if (is("int64_data")) {
        allowed({D::INT64});
        t.data.reserve(int64_data.size() * 8);
        for (uint64_t v : int64_data) append_le(t.data, v, 8);
    } else if (is("uint64_data")) {
        allowed({D::UINT32, D::UINT64});
        t.data.reserve(uint64_data.size() * esize);
        for (uint64_t v : uint64_data) append_le(t.data, v, esize);
    } else if (is("string_data")) {
        allowed({D::STRING});
    }

    if (t.dtype == D::STRING) {
        if (int64_t(t.strings.size()) != numel)
            r.fail(size_path, field_at,
                   "dims " + dims_string(t.dims) + " hold " + std::to_string(numel) + " strings, found " +
                       std::to_string(t.strings.size()));
    } else if (t.dtype == D::UNDEFINED) {
        if (field) wrong_field();
    } else if (is_4bit(t.dtype)) {
        // Two elements per byte; an odd count leaves the last high nibble unused.
        const uint64_t need = (uint64_t(numel) + 1) / 2;
        if (need != t.data.size())
            r.fail(size_path, field_at,
                   (t.name.empty() ? std::string() : "tensor '" + t.name + "': ") + "dims " + dims_string(t.dims) +
                       " need " + std::to_string(need) + " bytes of packed " +
                       dtype_name(t.dtype) + " data (two elements per byte), found " + std::to_string(t.data.size()));
        std::vector<uint8_t> unpacked(static_cast<size_t>(numel));
        unpack_4bit(t.dtype, t.data.data(), size_t(numel), unpacked.data());
        t.data = std::move(unpacked);
    } else if (uint64_t(numel) * esize != t.data.size()) {
        r.fail(size_path, field_at,
               "dims " + dims_string(t.dims) + " need " + std::to_string(uint64_t(numel) * esize) + " bytes of " +
                   dtype_name(t.dtype) + " data, found " + std::to_string(t.data.size()));
    }
    return t;
}

// --- GraphProto and what it holds ------------------------------------------------------------

Graph read_graph(Reader r);

bool attribute_type_known(int32_t code) { return code >= Attribute::FLOAT && code <= Attribute::TYPE_PROTOS; }

Attribute read_attribute(Reader r) {
    const Path& self = r.path();
    Attribute a;
    int32_t type = 0;
    size_t type_at = r.begin();
    // Which value fields are present, by the attribute type they belong to, with where they start.
    uint32_t present = 0;
    const char* first_field[15] = {};
    size_t first_at[15] = {};
    auto note = [&](Attribute::Type ty, const char* field) {
        if (!(present & (1u << ty))) {
            first_field[ty] = field;
            first_at[ty] = r.tag_start();
        }
        present |= 1u << ty;
    };
    std::vector<Graph> g, graphs;
    std::vector<std::string> tp, type_protos, sparse_tensor, sparse_tensors;
    int64_t n_tensors = 0, n_graphs = 0;

    while (r.next()) {
        switch (r.field()) {
            case 1: a.name = r.bytes(Path{&self, "name", -1}); break;
            case 2:
                note(Attribute::FLOAT, "f");
                a.f = r.f32(Path{&self, "f", -1});
                break;
            case 3:
                note(Attribute::INT, "i");
                a.i = r.int64(Path{&self, "i", -1});
                break;
            case 4:
                note(Attribute::STRING, "s");
                a.s = r.bytes(Path{&self, "s", -1});
                break;
            case 5: {
                note(Attribute::TENSOR, "t");
                const Path at{&self, "t", -1};
                a.t = read_tensor(r.message(at));
                break;
            }
            case 6: {
                note(Attribute::GRAPH, "g");
                const Path at{&self, "g", -1};
                g.assign(1, read_graph(r.message(at)));
                break;
            }
            case 7:
                note(Attribute::FLOATS, "floats");
                r.repeated_f32(Path{&self, "floats", -1}, a.floats);
                break;
            case 8: {
                note(Attribute::INTS, "ints");
                std::vector<uint64_t> v;
                r.repeated_varint(Path{&self, "ints", -1}, v);
                for (uint64_t x : v) a.ints.push_back(int64_t(x));
                break;
            }
            case 9:
                note(Attribute::STRINGS, "strings");
                a.strings.push_back(r.bytes(Path{&self, "strings", -1}));
                break;
            case 10: {
                note(Attribute::TENSORS, "tensors");
                const Path at{&self, "tensors", n_tensors++};
                a.tensors.push_back(read_tensor(r.message(at)));
                break;
            }
            case 11: {
                note(Attribute::GRAPHS, "graphs");
                const Path at{&self, "graphs", n_graphs++};
                graphs.push_back(read_graph(r.message(at)));
                break;
            }
            case 13: a.doc_string = r.bytes(Path{&self, "doc_string", -1}); break;
            case 14:
                note(Attribute::TYPE_PROTO, "tp");
                tp.assign(1, r.bytes(Path{&self, "tp", -1}));
                break;
            case 15:
                note(Attribute::TYPE_PROTOS, "type_protos");
                type_protos.push_back(r.bytes(Path{&self, "type_protos", -1}));
                break;
            case 20:
                type_at = r.tag_start();
                type = r.int32(Path{&self, "type", -1});
                break;
            case 21: a.ref_attr_name = r.bytes(Path{&self, "ref_attr_name", -1}); break;
            case 22:
                note(Attribute::SPARSE_TENSOR, "sparse_tensor");
                sparse_tensor.assign(1, r.bytes(Path{&self, "sparse_tensor", -1}));
                break;
            case 23:
                note(Attribute::SPARSE_TENSORS, "sparse_tensors");
                sparse_tensors.push_back(r.bytes(Path{&self, "sparse_tensors", -1}));
                break;
            default: r.skip();
        }
    }

    const std::string quoted = "attribute '" + a.name + "'";
    if (type == 0) {
        // IR version 1 had no type field: the one value field present says it.
        for (int32_t k = Attribute::FLOAT; k <= Attribute::TYPE_PROTOS; ++k)
            if (present == (1u << k)) type = k;
        if (type == 0 && a.ref_attr_name.empty())
            r.fail(self, r.begin(),
                   quoted + (present ? " has no type and several value fields" : " has neither a type nor a value"));
    } else if (!attribute_type_known(type)) {
        r.fail(Path{&self, "type", -1}, type_at, quoted + " has unknown type " + std::to_string(type));
    }
    a.type = Attribute::Type(type);
    for (int32_t k = Attribute::FLOAT; k <= Attribute::TYPE_PROTOS; ++k)
        if ((present & (1u << k)) && k != type)
            r.fail(Path{&self, first_field[k], -1}, first_at[k],
                   quoted + " of type " + attribute_type_name(a.type) + " also sets " + first_field[k]);
    switch (a.type) {
        case Attribute::GRAPH: a.graphs = std::move(g); break;
        case Attribute::GRAPHS: a.graphs = std::move(graphs); break;
        case Attribute::TYPE_PROTO: a.opaque = std::move(tp); break;
        case Attribute::TYPE_PROTOS: a.opaque = std::move(type_protos); break;
        case Attribute::SPARSE_TENSOR: a.opaque = std::move(sparse_tensor); break;
        case Attribute::SPARSE_TENSORS: a.opaque = std::move(sparse_tensors); break;
        default: break;
    }
    return a;
}

Node read_node(Reader r) {
    const Path& self = r.path();
    Node n;
    int64_t n_attributes = 0;
    while (r.next()) {
        switch (r.field()) {
            case 1: n.inputs.push_back(r.bytes(Path{&self, "input", int64_t(n.inputs.size())})); break;
            case 2: n.outputs.push_back(r.bytes(Path{&self, "output", int64_t(n.outputs.size())})); break;
            case 3: n.name = r.bytes(Path{&self, "name", -1}); break;
            case 4: n.op_type = r.bytes(Path{&self, "op_type", -1}); break;
            case 5: {
                const Path at{&self, "attribute", n_attributes++};
                n.attributes.push_back(read_attribute(r.message(at)));
                break;
            }
            case 6: n.doc_string = r.bytes(Path{&self, "doc_string", -1}); break;
            case 7: n.domain = r.bytes(Path{&self, "domain", -1}); break;
            default: r.skip();
        }
    }
    return n;
}

void read_dimension(Reader r, int64_t& value, std::string& param) {
    const Path& self = r.path();
    value = -1;
    param.clear();
    while (r.next()) {
        switch (r.field()) {
            // A oneof: the last one wins. A negative dim_value (some exporters write -1 for a
            // dynamic axis) reads as unknown.
            case 1:
                value = std::max<int64_t>(r.int64(Path{&self, "dim_value", -1}), -1);
                param.clear();
                break;
            case 2:
                param = r.bytes(Path{&self, "dim_param", -1});
                value = -1;
                break;
            default: r.skip();
        }
    }
}

void read_tensor_type(Reader r, ValueInfo& vi) {
    const Path& self = r.path();
    while (r.next()) {
        switch (r.field()) {
            case 1: {
                const Path at{&self, "elem_type", -1};
                const size_t where = r.tag_start();
                const int32_t code = r.int32(at);
                if (!is_known_dtype(code)) r.fail(at, where, "unknown data type " + std::to_string(code));
                vi.elem_type = DataType(code);
                break;
            }
            case 2: {
                const Path at{&self, "shape", -1};
                Reader shape = r.message(at);
                vi.has_shape = true;
                vi.dims.clear();
                vi.dim_params.clear();
                while (shape.next()) {
                    if (shape.field() != 1) {
                        shape.skip();
                        continue;
                    }
                    const Path dim_at{&at, "dim", int64_t(vi.dims.size())};
                    vi.dims.emplace_back();
                    vi.dim_params.emplace_back();
                    read_dimension(shape.message(dim_at), vi.dims.back(), vi.dim_params.back());
                }
                break;
            }
            default: r.skip();
        }
    }
}

void read_type(Reader r, ValueInfo& vi) {
    const Path& self = r.path();
    vi.kind = ValueKind::UNDEFINED;
    while (r.next()) {
        const uint32_t f = r.field();
        if (f == 1 || f == 8) {
            const Path at{&self, f == 1 ? "tensor_type" : "sparse_tensor_type", -1};
            vi.kind = f == 1 ? ValueKind::TENSOR : ValueKind::SPARSE_TENSOR;
            vi.elem_type = DataType::UNDEFINED;
            vi.has_shape = false;
            vi.dims.clear();
            vi.dim_params.clear();
            read_tensor_type(r.message(at), vi);
            continue;
        }
        if (f == 4) vi.kind = ValueKind::SEQUENCE;
        if (f == 5) vi.kind = ValueKind::MAP;
        if (f == 9) vi.kind = ValueKind::OPTIONAL;
        r.skip();
    }
    if (vi.kind != ValueKind::TENSOR && vi.kind != ValueKind::SPARSE_TENSOR) {
        vi.elem_type = DataType::UNDEFINED;
        vi.has_shape = false;
        vi.dims.clear();
        vi.dim_params.clear();
        vi.type_proto = r.whole();
    }
}

ValueInfo read_value_info(Reader r) {
    const Path& self = r.path();
    ValueInfo vi;
    while (r.next()) {
        switch (r.field()) {
            case 1: vi.name = r.bytes(Path{&self, "name", -1}); break;
            case 2: {
                const Path at{&self, "type", -1};
                // A repeated type field replaces the earlier one.
                ValueInfo typed;
                read_type(r.message(at), typed);
                vi.kind = typed.kind;
                vi.elem_type = typed.elem_type;
                vi.has_shape = typed.has_shape;
                vi.dims = std::move(typed.dims);
                vi.dim_params = std::move(typed.dim_params);
                vi.type_proto = std::move(typed.type_proto);
                break;
            }
            case 3: vi.doc_string = r.bytes(Path{&self, "doc_string", -1}); break;
            default: r.skip();
        }
    }
    return vi;
}

Graph read_graph(Reader r) {
    const Path& self = r.path();
    DepthGuard guard(r.source(), self, r.begin());
    Graph g;
    while (r.next()) {
        switch (r.field()) {
            case 1: {
                const Path at{&self, "node", int64_t(g.nodes.size())};
                g.nodes.push_back(read_node(r.message(at)));
                break;
            }
            case 2: g.name = r.bytes(Path{&self, "name", -1}); break;
            case 5: {
                const Path at{&self, "initializer", int64_t(g.initializers.size())};
                g.initializers.push_back(read_tensor(r.message(at)));
                break;
            }
            case 10: g.doc_string = r.bytes(Path{&self, "doc_string", -1}); break;
            case 11: {
                const Path at{&self, "input", int64_t(g.inputs.size())};
                g.inputs.push_back(read_value_info(r.message(at)));
                break;
            }
            case 12: {
                const Path at{&self, "output", int64_t(g.outputs.size())};
                g.outputs.push_back(read_value_info(r.message(at)));
                break;
            }
            case 13: {
                const Path at{&self, "value_info", int64_t(g.value_info.size())};
                g.value_info.push_back(read_value_info(r.message(at)));
                break;
            }
            default: r.skip();
        }
    }
    return g;
}

std::pair<std::string, std::string> read_string_pair(Reader r, uint32_t key_field, uint32_t value_field,
                                                     const char* key_name, const char* value_name) {
    const Path& self = r.path();
    std::pair<std::string, std::string> kv;
    while (r.next()) {
        if (r.field() == key_field) kv.first = r.bytes(Path{&self, key_name, -1});
        else if (r.field() == value_field) kv.second = r.bytes(Path{&self, value_name, -1});
        else r.skip();
    }
    return kv;
}

std::pair<std::string, int64_t> read_opset(Reader r) {
    const Path& self = r.path();
    std::pair<std::string, int64_t> op{"", 0};
    while (r.next()) {
        if (r.field() == 1) op.first = r.bytes(Path{&self, "domain", -1});
        else if (r.field() == 2) op.second = r.int64(Path{&self, "version", -1});
        else r.skip();
    }
    return op;
}

// --- SequenceProto / OptionalProto -----------------------------------------------------------

Value read_value(Reader r, ValueKind kind, size_t kind_at);

Value read_container(Reader r, ValueKind kind) {
    const Path& self = r.path();
    DepthGuard guard(r.source(), self, r.begin());
    const bool sequence = kind == ValueKind::SEQUENCE;
    const char* const names[] = {nullptr, sequence ? "tensor_values" : "tensor_value",
                                 sequence ? "sparse_tensor_values" : "sparse_tensor_value",
                                 sequence ? "sequence_values" : "sequence_value",
                                 sequence ? "map_values" : "map_value",
                                 sequence ? "optional_values" : "optional_value"};
    Value v;
    v.kind = kind;
    int32_t elem_type = 0;
    size_t elem_type_at = r.begin();
    struct Seen {
        ValueKind kind;
        size_t at;
    };
    std::vector<Seen> seen;
    while (r.next()) {
        const uint32_t f = r.field();
        if (f == 1) {
            v.name = r.bytes(Path{&self, "name", -1});
        } else if (f == 2) {
            elem_type_at = r.tag_start();
            elem_type = r.int32(Path{&self, "elem_type", -1});
        } else if (f >= 3 && f <= 7) {
            // field 3 + k holds elements of SequenceProto.DataType k + 1
            const ValueKind ek = ValueKind(int32_t(f) - 2);
            const Path at{&self, names[f - 2], sequence ? int64_t(v.elements.size()) : -1};
            if (ek == ValueKind::SPARSE_TENSOR || ek == ValueKind::MAP)
                r.fail(at, r.tag_start(), std::string(value_kind_name(ek)) + " values are not supported");
            const size_t where = r.tag_start();
            Value element = read_value(r.message(at), ek, where);
            if (!sequence) v.elements.clear();  // an optional holds one value; the last one wins
            v.elements.push_back(std::move(element));
            seen.push_back({ek, where});
        } else {
            r.skip();
        }
    }
    if (elem_type < 0 || elem_type > int32_t(ValueKind::OPTIONAL))
        r.fail(Path{&self, "elem_type", -1}, elem_type_at, "unknown element type " + std::to_string(elem_type));
    v.elem_kind = ValueKind(elem_type);
    for (const auto& s : seen)
        if (s.kind != v.elem_kind)
            r.fail(self, s.at,
                   std::string("a ") + value_kind_name(kind) + " of " + value_kind_name(v.elem_kind) + " holds a " +
                       value_kind_name(s.kind));
    return v;
}

Value read_value(Reader r, ValueKind kind, size_t kind_at) {
    switch (kind) {
        case ValueKind::TENSOR: {
            Value v;
            v.kind = kind;
            v.tensor = read_tensor(r);
            v.name = v.tensor.name;
            return v;
        }
        case ValueKind::SEQUENCE:
        case ValueKind::OPTIONAL: return read_container(r, kind);
        default:
            r.fail(r.path(), kind_at, std::string(value_kind_name(kind)) + " values are not supported");
    }
}

}  // namespace

Model parse_model(const std::string& bytes, const std::string& file_name) {
    Source src{reinterpret_cast<const uint8_t*>(bytes.data()), file_name};
    const Path root{nullptr, nullptr, -1};
    Reader r(src, 0, bytes.size(), root);
    Model m;
    bool has_graph = false;
    while (r.next()) {
        switch (r.field()) {
            case 1: m.ir_version = r.int64(Path{&root, "ir_version", -1}); break;
            case 2: m.producer_name = r.bytes(Path{&root, "producer_name", -1}); break;
            case 3: m.producer_version = r.bytes(Path{&root, "producer_version", -1}); break;
            case 4: m.domain = r.bytes(Path{&root, "domain", -1}); break;
            case 5: m.model_version = r.int64(Path{&root, "model_version", -1}); break;
            case 6: m.doc_string = r.bytes(Path{&root, "doc_string", -1}); break;
            case 7: {
                const Path at{&root, "graph", -1};
                m.graph = read_graph(r.message(at));
                has_graph = true;
                break;
            }
            case 8: {
                const Path at{&root, "opset_import", int64_t(m.opset_imports.size())};
                m.opset_imports.push_back(read_opset(r.message(at)));
                break;
            }
            case 14: {
                const Path at{&root, "metadata_props", int64_t(m.metadata_props.size())};
                m.metadata_props.push_back(read_string_pair(r.message(at), 1, 2, "key", "value"));
                break;
            }
            default: r.skip();
        }
    }
    if (!has_graph)
        fail(src, root, bytes.size(), bytes.empty() ? "empty file, not an ONNX model"
                                                    : "no graph (ModelProto field 7): not an ONNX model");
    return m;
}

Tensor parse_tensor(const std::string& bytes, const std::string& file_name) {
    Source src{reinterpret_cast<const uint8_t*>(bytes.data()), file_name};
    const Path root{nullptr, nullptr, -1};
    return read_tensor(Reader(src, 0, bytes.size(), root));
}

Value parse_value(const std::string& bytes, const std::string& file_name, ValueKind kind) {
    Source src{reinterpret_cast<const uint8_t*>(bytes.data()), file_name};
    const Path root{nullptr, nullptr, -1};
    return read_value(Reader(src, 0, bytes.size(), root), kind, 0);
}

// ---------------------------------------------------------------------------------------------
// Writer: fields in field-number order, as protobuf writes them; repeated scalars that onnx.proto
// declares [packed = true] are written packed, the others unpacked, as libprotobuf does.

namespace {

class Writer {
public:
    std::string out;

    void varint(uint64_t v) {
        while (v >= 0x80) {
            out.push_back(char(uint8_t(v) | 0x80));
            v >>= 7;
        }
        out.push_back(char(v));
    }
    void tag(uint32_t field, int wire) { varint((uint64_t(field) << 3) | uint64_t(wire)); }
    // int32 and int64 alike: a negative value is written sign-extended to 64 bits.
    void int_field(uint32_t field, int64_t v) {
        tag(field, VARINT);
        varint(uint64_t(v));
    }
    void bytes_field(uint32_t field, const void* p, size_t n) {
        tag(field, LEN);
        varint(n);
        out.append(static_cast<const char*>(p), n);
    }
    void string_field(uint32_t field, const std::string& s) { bytes_field(field, s.data(), s.size()); }
    void string_field_if(uint32_t field, const std::string& s) {
        if (!s.empty()) string_field(field, s);
    }
    void float_field(uint32_t field, float f) {
        tag(field, FIXED32);
        out.append(reinterpret_cast<const char*>(&f), 4);
    }
    template <class Fill>
    void message_field(uint32_t field, Fill fill) {
        Writer sub;
        fill(sub);
        string_field(field, sub.out);
    }
};

[[noreturn]] void invalid(const std::string& path, const std::string& problem) {
    throw std::invalid_argument("serialize: " + (path.empty() ? std::string() : path + ": ") + problem);
}

std::string at(const std::string& path, const char* field, int64_t index = -1) {
    std::string s = path.empty() ? field : path + "." + field;
    if (index >= 0) s += "[" + std::to_string(index) + "]";
    return s;
}

void write_tensor(Writer& w, const Tensor& t, const std::string& path) {
    if (!is_known_dtype(int32_t(t.dtype))) invalid(path, "unknown data type " + std::to_string(int32_t(t.dtype)));
    int64_t numel = 1;
    for (int64_t d : t.dims) {
        if (d < 0) invalid(at(path, "dims"), "negative dimension " + std::to_string(d));
        if (__builtin_mul_overflow(numel, d, &numel)) invalid(at(path, "dims"), "the product of dims overflows");
    }
    const size_t esize = element_size(t.dtype);
    if (t.dtype == DataType::STRING) {
        if (int64_t(t.strings.size()) != numel || !t.data.empty())
            invalid(path, "a string tensor of dims " + dims_string(t.dims) + " needs " + std::to_string(numel) +
                              " strings and no data, has " + std::to_string(t.strings.size()) + " strings");
    } else if (!t.strings.empty()) {
        invalid(path, std::string("a ") + dtype_name(t.dtype) + " tensor holds strings");
    } else if (t.dtype == DataType::UNDEFINED) {
        if (!t.data.empty()) invalid(path, "a tensor of undefined type holds data");
    } else if (uint64_t(numel) * esize != t.data.size()) {
        invalid(path, "dims " + dims_string(t.dims) + " need " + std::to_string(uint64_t(numel) * esize) +
                          " bytes of " + dtype_name(t.dtype) + " data, found " + std::to_string(t.data.size()));
    }
    std::vector<uint8_t> packed;
    if (is_4bit(t.dtype)) {
        try {
            packed = pack_4bit(t.dtype, t.data.data(), t.data.size());
        } catch (const std::invalid_argument& e) {
            invalid(path, e.what());
        }
    }
    for (int64_t d : t.dims) w.int_field(1, d);
    if (t.dtype != DataType::UNDEFINED) w.int_field(2, int32_t(t.dtype));
    for (const auto& s : t.strings) w.string_field(6, s);
    w.string_field_if(8, t.name);
    if (is_4bit(t.dtype)) {
        if (!packed.empty()) w.bytes_field(9, packed.data(), packed.size());
    } else if (!t.data.empty()) {
        w.bytes_field(9, t.data.data(), t.data.size());
    }
    w.string_field_if(12, t.doc_string);
}

void write_graph(Writer& w, const Graph& g, const std::string& path);

uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

void write_attribute(Writer& w, const Attribute& a, const std::string& path) {
    using A = Attribute;
    const std::string quoted = "attribute '" + a.name + "'";
    if (!attribute_type_known(a.type)) invalid(path, quoted + " has no valid type");
    // Only the value of the attribute's own type is written: a value elsewhere would be lost.
    const struct {
        bool set;
        A::Type type;
        const char* field;
    } values[] = {
        {float_bits(a.f) != 0, A::FLOAT, "f"},
        {a.i != 0, A::INT, "i"},
        {!a.s.empty(), A::STRING, "s"},
        {!(a.t == Tensor{}), A::TENSOR, "t"},
        {!a.floats.empty(), A::FLOATS, "floats"},
        {!a.ints.empty(), A::INTS, "ints"},
        {!a.strings.empty(), A::STRINGS, "strings"},
        {!a.tensors.empty(), A::TENSORS, "tensors"},
    };
    for (const auto& v : values)
        if (v.set && v.type != a.type)
            invalid(path, quoted + " of type " + attribute_type_name(a.type) + " also sets " + v.field);
    if (!a.graphs.empty() && a.type != A::GRAPH && a.type != A::GRAPHS)
        invalid(path, quoted + " of type " + attribute_type_name(a.type) + " holds graphs");
    if (a.type == A::GRAPH && a.graphs.size() > 1) invalid(path, quoted + " of type GRAPH holds several graphs");
    const bool opaque_type = a.type == A::SPARSE_TENSOR || a.type == A::SPARSE_TENSORS || a.type == A::TYPE_PROTO ||
                             a.type == A::TYPE_PROTOS;
    if (!a.opaque.empty() && !opaque_type)
        invalid(path, quoted + " of type " + attribute_type_name(a.type) + " holds opaque messages");
    if ((a.type == A::SPARSE_TENSOR || a.type == A::TYPE_PROTO) && a.opaque.size() > 1)
        invalid(path, quoted + " of type " + attribute_type_name(a.type) + " holds several messages");

    w.string_field_if(1, a.name);
    switch (a.type) {
        case A::FLOAT: w.float_field(2, a.f); break;
        case A::INT: w.int_field(3, a.i); break;
        case A::STRING: w.string_field(4, a.s); break;
        case A::TENSOR: w.message_field(5, [&](Writer& s) { write_tensor(s, a.t, at(path, "t")); }); break;
        case A::GRAPH:
            if (!a.graphs.empty())
                w.message_field(6, [&](Writer& s) { write_graph(s, a.graphs[0], at(path, "g")); });
            break;
        case A::FLOATS:
            for (float f : a.floats) w.float_field(7, f);
            break;
        case A::INTS:
            for (int64_t i : a.ints) w.int_field(8, i);
            break;
        case A::STRINGS:
            for (const auto& s : a.strings) w.string_field(9, s);
            break;
        case A::TENSORS:
            for (size_t k = 0; k < a.tensors.size(); ++k)
                w.message_field(10, [&](Writer& s) { write_tensor(s, a.tensors[k], at(path, "tensors", int64_t(k))); });
            break;
        case A::GRAPHS:
            for (size_t k = 0; k < a.graphs.size(); ++k)
                w.message_field(11, [&](Writer& s) { write_graph(s, a.graphs[k], at(path, "graphs", int64_t(k))); });
            break;
        default: break;
    }
    w.string_field_if(13, a.doc_string);
    const uint32_t opaque_field = a.type == A::TYPE_PROTO       ? 14
                                  : a.type == A::TYPE_PROTOS    ? 15
                                  : a.type == A::SPARSE_TENSOR  ? 22
                                  : a.type == A::SPARSE_TENSORS ? 23
                                                                : 0;
    if (opaque_field == 14 || opaque_field == 15)
        for (const auto& m : a.opaque) w.string_field(opaque_field, m);
    w.int_field(20, a.type);
    w.string_field_if(21, a.ref_attr_name);
    if (opaque_field == 22 || opaque_field == 23)
        for (const auto& m : a.opaque) w.string_field(opaque_field, m);
}

void write_node(Writer& w, const Node& n, const std::string& path) {
    // Every input is written, "" included: an empty name marks an omitted optional input.
    for (const auto& s : n.inputs) w.string_field(1, s);
    for (const auto& s : n.outputs) w.string_field(2, s);
    w.string_field_if(3, n.name);
    w.string_field_if(4, n.op_type);
    for (size_t k = 0; k < n.attributes.size(); ++k)
        w.message_field(5, [&](Writer& s) { write_attribute(s, n.attributes[k], at(path, "attribute", int64_t(k))); });
    w.string_field_if(6, n.doc_string);
    w.string_field_if(7, n.domain);
}

void write_value_info(Writer& w, const ValueInfo& vi, const std::string& path) {
    w.string_field_if(1, vi.name);
    const bool tensor = vi.kind == ValueKind::TENSOR || vi.kind == ValueKind::SPARSE_TENSOR;
    if (tensor) {
        if (!vi.type_proto.empty()) invalid(path, "a tensor type with type_proto bytes");
        if (!vi.has_shape && !vi.dims.empty()) invalid(path, "dims without has_shape");
        if (!vi.dim_params.empty() && vi.dim_params.size() != vi.dims.size())
            invalid(path, "dim_params and dims differ in length");
        for (size_t k = 0; k < vi.dims.size(); ++k) {
            const bool param = k < vi.dim_params.size() && !vi.dim_params[k].empty();
            if (vi.dims[k] < -1) invalid(at(path, "dims"), "dimension " + std::to_string(vi.dims[k]) + " (use -1 for unknown)");
            if (vi.dims[k] >= 0 && param) invalid(at(path, "dims"), "a dimension with both a size and a symbol");
        }
        w.message_field(2, [&](Writer& type) {
            type.message_field(vi.kind == ValueKind::TENSOR ? 1 : 8, [&](Writer& tt) {
                if (vi.elem_type != DataType::UNDEFINED) tt.int_field(1, int32_t(vi.elem_type));
                if (vi.has_shape)
                    tt.message_field(2, [&](Writer& shape) {
                        for (size_t k = 0; k < vi.dims.size(); ++k)
                            shape.message_field(1, [&](Writer& dim) {
                                if (vi.dims[k] >= 0) dim.int_field(1, vi.dims[k]);
                                if (k < vi.dim_params.size()) dim.string_field_if(2, vi.dim_params[k]);
                            });
                    });
            });
        });
    } else if (!vi.type_proto.empty()) {
        w.string_field(2, vi.type_proto);
    } else if (vi.kind != ValueKind::UNDEFINED) {
        invalid(path, std::string("a ") + value_kind_name(vi.kind) + " type needs its type_proto bytes");
    }
    w.string_field_if(3, vi.doc_string);
}

void write_graph(Writer& w, const Graph& g, const std::string& path) {
    for (size_t k = 0; k < g.nodes.size(); ++k)
        w.message_field(1, [&](Writer& s) { write_node(s, g.nodes[k], at(path, "node", int64_t(k))); });
    w.string_field_if(2, g.name);
    for (size_t k = 0; k < g.initializers.size(); ++k)
        w.message_field(5, [&](Writer& s) { write_tensor(s, g.initializers[k], at(path, "initializer", int64_t(k))); });
    w.string_field_if(10, g.doc_string);
    for (size_t k = 0; k < g.inputs.size(); ++k)
        w.message_field(11, [&](Writer& s) { write_value_info(s, g.inputs[k], at(path, "input", int64_t(k))); });
    for (size_t k = 0; k < g.outputs.size(); ++k)
        w.message_field(12, [&](Writer& s) { write_value_info(s, g.outputs[k], at(path, "output", int64_t(k))); });
    for (size_t k = 0; k < g.value_info.size(); ++k)
        w.message_field(13, [&](Writer& s) { write_value_info(s, g.value_info[k], at(path, "value_info", int64_t(k))); });
}

void write_value(Writer& w, const Value& v, const std::string& path) {
    if (v.kind == ValueKind::TENSOR) {
        write_tensor(w, v.tensor, path);
        return;
    }
    if (v.kind != ValueKind::SEQUENCE && v.kind != ValueKind::OPTIONAL)
        invalid(path, std::string(value_kind_name(v.kind)) + " values are not supported");
    if (v.kind == ValueKind::OPTIONAL && v.elements.size() > 1) invalid(path, "an optional holds several values");
    w.string_field_if(1, v.name);
    if (v.elem_kind != ValueKind::UNDEFINED) w.int_field(2, int32_t(v.elem_kind));
    for (size_t k = 0; k < v.elements.size(); ++k) {
        const Value& e = v.elements[k];
        if (e.kind != v.elem_kind)
            invalid(path, std::string("a ") + value_kind_name(v.kind) + " of " + value_kind_name(v.elem_kind) +
                              " holds a " + value_kind_name(e.kind));
        if (e.kind != ValueKind::TENSOR && e.kind != ValueKind::SEQUENCE && e.kind != ValueKind::OPTIONAL)
            invalid(path, std::string(value_kind_name(e.kind)) + " values are not supported");
        // field 3 + k holds elements of SequenceProto.DataType k + 1
        w.message_field(uint32_t(e.kind) + 2, [&](Writer& s) { write_value(s, e, at(path, "element", int64_t(k))); });
    }
}

}  // namespace

std::string serialize_tensor(const Tensor& t) {
    Writer w;
    write_tensor(w, t, "");
    return std::move(w.out);
}

std::string serialize_value(const Value& v) {
    Writer w;
    write_value(w, v, "");
    return std::move(w.out);
}

std::string serialize_model(const Model& m) {
    Writer w;
    if (m.ir_version) w.int_field(1, m.ir_version);
    w.string_field_if(2, m.producer_name);
    w.string_field_if(3, m.producer_version);
    w.string_field_if(4, m.domain);
    if (m.model_version) w.int_field(5, m.model_version);
    w.string_field_if(6, m.doc_string);
    w.message_field(7, [&](Writer& s) { write_graph(s, m.graph, "graph"); });
    // (No structured bindings here: clang 14, em++'s compiler, cannot capture them in lambdas.)
    for (const auto& opset : m.opset_imports)
        w.message_field(8, [&](Writer& s) {
            s.string_field_if(1, opset.first);
            s.int_field(2, opset.second);
        });
    for (const auto& prop : m.metadata_props)
        w.message_field(14, [&](Writer& s) {
            s.string_field_if(1, prop.first);
            s.string_field_if(2, prop.second);
        });
    return std::move(w.out);
}

// ---------------------------------------------------------------------------------------------
// Equality

namespace {
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}
}  // namespace

bool operator==(const Tensor& a, const Tensor& b) {
    return a.name == b.name && a.dtype == b.dtype && a.dims == b.dims && a.data == b.data &&
           a.strings == b.strings && a.doc_string == b.doc_string;
}

bool operator==(const Attribute& a, const Attribute& b) {
    return a.name == b.name && a.type == b.type && float_bits(a.f) == float_bits(b.f) && a.i == b.i &&
           a.s == b.s && a.t == b.t && same_bits(a.floats, b.floats) && a.ints == b.ints &&
           a.strings == b.strings && a.tensors == b.tensors && a.graphs == b.graphs && a.opaque == b.opaque &&
           a.ref_attr_name == b.ref_attr_name && a.doc_string == b.doc_string;
}

bool operator==(const Node& a, const Node& b) {
    return a.name == b.name && a.op_type == b.op_type && a.domain == b.domain && a.doc_string == b.doc_string &&
           a.inputs == b.inputs && a.outputs == b.outputs && a.attributes == b.attributes;
}

bool operator==(const ValueInfo& a, const ValueInfo& b) {
    return a.name == b.name && a.doc_string == b.doc_string && a.kind == b.kind && a.elem_type == b.elem_type &&
           a.has_shape == b.has_shape && a.dims == b.dims && a.dim_params == b.dim_params &&
           a.type_proto == b.type_proto;
}

bool operator==(const Graph& a, const Graph& b) {
    return a.name == b.name && a.doc_string == b.doc_string && a.nodes == b.nodes &&
           a.initializers == b.initializers && a.inputs == b.inputs && a.outputs == b.outputs &&
           a.value_info == b.value_info;
}

bool operator==(const Model& a, const Model& b) {
    return a.ir_version == b.ir_version && a.opset_imports == b.opset_imports && a.producer_name == b.producer_name &&
           a.producer_version == b.producer_version && a.domain == b.domain && a.doc_string == b.doc_string &&
           a.model_version == b.model_version && a.graph == b.graph && a.metadata_props == b.metadata_props;
}

bool operator==(const Value& a, const Value& b) {
    return a.name == b.name && a.kind == b.kind && a.tensor == b.tensor && a.elem_kind == b.elem_kind &&
           a.elements == b.elements;
}

}  // namespace stacklab::nn::onnx
