// SCALE-Sim v2 compatible systolic-array cycle model; see systolic.hpp for the model and sources.
// Our own C++ reimplementation: the file and revision each rule comes from is cited next to it.
#include "chip/systolic.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <utility>

namespace stacklab::chip {

ScalesimInputError::ScalesimInputError(std::string input, int line, std::string field, const std::string& problem)
    : std::invalid_argument(input + ":" + std::to_string(line) + ": " + field + ": " + problem),
      input_(std::move(input)),
      line_(line),
      field_(std::move(field)) {}

const char* dataflow_name(Dataflow d) {
    switch (d) {
        case Dataflow::os: return "os";
        case Dataflow::ws: return "ws";
        case Dataflow::is: return "is";
    }
    return "?";
}

namespace {

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::string cur;
    for (char c : text) {
        if (c == '\n') {
            lines.push_back(cur);
            cur.clear();
        } else if (c != '\r') {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) lines.push_back(cur);
    return lines;
}

// Python int() on a stripped field: optional sign, decimal digits. Bounded so that every product
// the model forms stays far below 2^63 (and the percentages' operands below 2^53).
int64_t parse_int(const std::string& raw, const std::string& input, int line, const std::string& field) {
    const std::string s = trim(raw);
    if (s.empty()) throw ScalesimInputError(input, line, field, "empty value, expected an integer");
    size_t i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == s.size()) throw ScalesimInputError(input, line, field, "\"" + s + "\" is not an integer");
    int64_t v = 0;
    for (; i < s.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])))
            throw ScalesimInputError(input, line, field, "\"" + s + "\" is not an integer");
        v = v * 10 + (s[i] - '0');
        if (v > 1000000000000LL) throw ScalesimInputError(input, line, field, "\"" + s + "\" is too large");
    }
    return neg ? -v : v;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Config: Python configparser semantics as far as SCALE-Sim's files use them (scale_config.py).
SystolicConfig parse_scalesim_config(const std::string& text, const std::string& input) {
    struct Value {
        std::string text;
        int line;
    };
    std::map<std::string, std::map<std::string, Value>> sections;
    std::string section;
    const auto lines = split_lines(text);
    for (size_t n = 0; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        const std::string s = trim(lines[n]);
        if (s.empty() || s[0] == '#' || s[0] == ';') continue;
        if (s[0] == '[') {
            if (s.back() != ']') throw ScalesimInputError(input, line, s, "section header lacks ']'");
            section = lower(trim(s.substr(1, s.size() - 2)));
            if (section.empty()) throw ScalesimInputError(input, line, s, "empty section name");
            if (sections.count(section)) throw ScalesimInputError(input, line, "[" + section + "]", "duplicate section");
            sections[section];
            continue;
        }
        const size_t eq = s.find_first_of("=:");
        if (eq == std::string::npos)
            throw ScalesimInputError(input, line, s, "expected 'key = value' or 'key: value'");
        if (section.empty()) throw ScalesimInputError(input, line, trim(s.substr(0, eq)), "key before any [section]");
        const std::string key = lower(trim(s.substr(0, eq)));
        if (key.empty()) throw ScalesimInputError(input, line, s, "empty key");
        auto& sec = sections[section];
        if (sec.count(key)) throw ScalesimInputError(input, line, "[" + section + "] " + key, "duplicate key");
        sec[key] = {trim(s.substr(eq + 1)), line};
    }

    auto find = [&](const std::string& sec, const std::string& key) -> const Value* {
        auto s = sections.find(sec);
        if (s == sections.end()) return nullptr;
        auto k = s->second.find(lower(key));
        return k == s->second.end() ? nullptr : &k->second;
    };
    auto need = [&](const std::string& sec, const std::string& key) -> const Value& {
        const Value* v = find(sec, key);
        if (!v) throw ScalesimInputError(input, 0, "[" + sec + "] " + key, "missing (SCALE-Sim v2 requires it)");
        return *v;
    };
    auto need_int = [&](const std::string& sec, const std::string& key, int64_t min_value) {
        const Value& v = need(sec, key);
        const int64_t x = parse_int(v.text, input, v.line, key);
        if (x < min_value)
            throw ScalesimInputError(input, v.line, key, "must be at least " + std::to_string(min_value) + ", got " +
                                                             std::to_string(x));
        return x;
    };

    SystolicConfig c;
    c.run_name = need("general", "run_name").text;

    const Value& mode = need("run_presets", "InterfaceBandwidth");
    if (mode.text == "USER")
        c.user_bandwidth = true;
    else if (mode.text == "CALC")
        c.user_bandwidth = false;
    else
        throw ScalesimInputError(input, mode.line, "InterfaceBandwidth", "\"" + mode.text + "\" is neither USER nor CALC");

    const std::string a = "architecture_presets";
    c.array_rows = need_int(a, "ArrayHeight", 1);
    c.array_cols = need_int(a, "ArrayWidth", 1);
    c.ifmap_sram_kb = need_int(a, "IfmapSramSzkB", 1);
    c.filter_sram_kb = need_int(a, "FilterSramSzkB", 1);
    c.ofmap_sram_kb = need_int(a, "OfmapSramSzkB", 1);
    c.ifmap_offset = need_int(a, "IfmapOffset", 0);
    c.filter_offset = need_int(a, "FilterOffset", 0);
    c.ofmap_offset = need_int(a, "OfmapOffset", 0);
    if (c.array_rows > 4096 || c.array_cols > 4096)
        throw ScalesimInputError(input, need(a, "ArrayHeight").line, "ArrayHeight/ArrayWidth", "at most 4096 PEs per side");

    const Value& df = need(a, "Dataflow");
    if (df.text == "os")
        c.dataflow = Dataflow::os;
    else if (df.text == "ws")
        c.dataflow = Dataflow::ws;
    else if (df.text == "is")
        c.dataflow = Dataflow::is;
    else
        throw ScalesimInputError(input, df.line, "Dataflow", "\"" + df.text + "\" is not one of os, ws, is");

    int64_t banks = 1;
    if (const Value* mb = find(a, "MemoryBanks")) {
        banks = parse_int(mb->text, input, mb->line, "MemoryBanks");
        // More banks need SCALE-Sim's memory-map files ([memory_map_files]); not supported here.
        if (banks != 1) throw ScalesimInputError(input, mb->line, "MemoryBanks", "only 1 bank is supported");
    }
    if (c.user_bandwidth) {
        // scale_config.py: "Bandwidth" is a comma list with one entry per memory bank (ISSUE #12).
        const Value& bw = need(a, "Bandwidth");
        std::string item;
        std::vector<std::string> items;
        for (char ch : bw.text + ",") {
            if (ch == ',') {
                items.push_back(item);
                item.clear();
            } else {
                item.push_back(ch);
            }
        }
        for (const auto& it : items) {
            const int64_t x = parse_int(it, input, bw.line, "Bandwidth");
            if (x < 1) throw ScalesimInputError(input, bw.line, "Bandwidth", "must be at least 1 word/cycle");
            c.bandwidths.push_back(x);
        }
        if (static_cast<int64_t>(c.bandwidths.size()) != banks)
            throw ScalesimInputError(input, bw.line, "Bandwidth", "USER mode needs one bandwidth per memory bank (" +
                                                                      std::to_string(banks) + ")");
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// Topologies (topology_utils.py load_arrays_conv / load_arrays_gemm). The first line is the header
// and is skipped whatever it holds; blank lines are skipped; a trailing comma ends each row.
namespace {

std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : line) {
        if (c == ',') {
            f.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    f.push_back(cur);
    // SCALE-Sim drops the last field (after the trailing comma); we drop it only when empty, so a
    // row without the trailing comma still reads.
    if (f.size() > 1 && trim(f.back()).empty()) f.pop_back();
    return f;
}

void check_layer(const ConvLayer& l, const std::string& input, int line) {
    // topology_utils.py append_topo_arrays, ISSUE #9.
    if (l.filter_h > l.ifmap_h) throw ScalesimInputError(input, line, "Filter Height", "larger than IFMAP Height");
    if (l.filter_w > l.ifmap_w) throw ScalesimInputError(input, line, "Filter Width", "larger than IFMAP Width");
    const int64_t window = l.filter_h * l.filter_w * l.channels;
    const int64_t px = ofmap_rows(l) * ofmap_cols(l);
    // Keeps every address and product exact in int64 and every percentage operand below 2^53.
    if (window > 100000000 || px > 100000000 || l.num_filters > 100000000 || px * window > 2000000000000LL ||
        px * l.num_filters > 2000000000000LL || window * l.num_filters > 2000000000000LL)
        throw ScalesimInputError(input, line, l.name, "layer too large to simulate");
}

}  // namespace

std::vector<ConvLayer> parse_scalesim_topology(const std::string& text, const std::string& input) {
    static const char* kFields[] = {"Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                    "Channels",   "Num Filter",   "Strides",     "Stride Width"};
    std::vector<ConvLayer> layers;
    const auto lines = split_lines(text);
    for (size_t n = 1; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        if (trim(lines[n]).empty()) continue;
        const auto f = csv_fields(lines[n]);
        if (f.size() < 8 || f.size() > 9)
            throw ScalesimInputError(input, line, "row", "expected 8 fields (Layer name, IFMAP Height, IFMAP Width, "
                                                         "Filter Height, Filter Width, Channels, Num Filter, Strides) "
                                                         "and an optional stride width, found " +
                                                             std::to_string(f.size()));
        ConvLayer l;
        l.name = trim(f[0]);
        if (l.name.empty()) throw ScalesimInputError(input, line, kFields[0], "empty");
        int64_t v[8];
        for (size_t i = 1; i < f.size(); ++i) {
            v[i - 1] = parse_int(f[i], input, line, kFields[i]);
            if (v[i - 1] < 1) throw ScalesimInputError(input, line, kFields[i], "must be at least 1");
        }
        l.ifmap_h = v[0];
        l.ifmap_w = v[1];
        l.filter_h = v[2];
        l.filter_w = v[3];
        l.channels = v[4];
        l.num_filters = v[5];
        l.stride_h = v[6];
        l.stride_w = f.size() == 9 ? v[7] : v[6];  // same stride for columns when only one is given
        check_layer(l, input, line);
        if (l.name.find("DP") != std::string::npos) {
            // Depth-wise: one single-channel layer per channel (topology_utils.py load_arrays_conv).
            const int64_t ch = l.channels;
            if (ch > 100000) throw ScalesimInputError(input, line, "Channels", "too many depth-wise channels");
            for (int64_t c = 0; c < ch; ++c) {
                ConvLayer d = l;
                d.name = l.name + "Channel_" + std::to_string(c);
                d.channels = 1;
                layers.push_back(d);
            }
        } else {
            layers.push_back(l);
        }
    }
    if (layers.empty()) throw ScalesimInputError(input, 0, "rows", "no layers after the header line");
    return layers;
}

std::vector<ConvLayer> parse_scalesim_gemm_topology(const std::string& text, const std::string& input) {
    static const char* kFields[] = {"Layer", "M", "N", "K"};
    std::vector<ConvLayer> layers;
    const auto lines = split_lines(text);
    for (size_t n = 1; n < lines.size(); ++n) {
        const int line = static_cast<int>(n) + 1;
        if (trim(lines[n]).empty()) continue;
        const auto f = csv_fields(lines[n]);
        if (f.size() != 4)
            throw ScalesimInputError(input, line, "row", "expected 4 fields (Layer, M, N, K), found " +
                                                             std::to_string(f.size()));
        int64_t v[3];
        for (int i = 1; i < 4; ++i) {
            v[i - 1] = parse_int(f[i], input, line, kFields[i]);
            if (v[i - 1] < 1) throw ScalesimInputError(input, line, kFields[i], "must be at least 1");
        }
        ConvLayer l;
        l.name = trim(f[0]);
        if (l.name.empty()) throw ScalesimInputError(input, line, kFields[0], "empty");
        // topology_utils.py load_arrays_gemm: [M, K, 1, K, 1, N, 1, 1] = ifmap M x K, filter 1 x K,
        // 1 channel, N filters, stride 1, so the ofmap is M x 1 pixels and the window is K.
        l.ifmap_h = v[0];
        l.ifmap_w = v[2];
        l.filter_h = 1;
        l.filter_w = v[2];
        l.channels = 1;
        l.num_filters = v[1];
        check_layer(l, input, line);
        layers.push_back(l);
    }
    if (layers.empty()) throw ScalesimInputError(input, 0, "rows", "no layers after the header line");
    return layers;
}

int64_t ofmap_rows(const ConvLayer& l) { return ceil_div(l.ifmap_h - l.filter_h + l.stride_h, l.stride_h); }
int64_t ofmap_cols(const ConvLayer& l) { return ceil_div(l.ifmap_w - l.filter_w + l.stride_w, l.stride_w); }

// ---------------------------------------------------------------------------------------------
// Simulation.
//
// Implementation: SCALE-Sim builds every demand matrix (one row per cycle) and walks its entries
// through hashed buffers. We produce the same entries in the same order without materialising
// anything: per fold and demand row, each operand's non-null columns form one interval given in
// closed form by the fill/drain gaps and the skew, and the addresses come from per-pixel and
// per-tap tables (no division per entry). Addresses are kept as offsets from their operand's
// offset (each buffer sees one operand, so equality is unchanged) and index flat arrays. Only the
// ofmap write buffer needs the number of entries of a row, not their addresses, and serves a row's
// entries in bulk, stopping at the entries where its state changes. A fold whose operand slice is
// the previous fold's and was all hits there skips that operand's look-ups.
namespace {

constexpr int64_t kNull = -1;  // SCALE-Sim's "no request" entry

// A flat array over an operand's address offsets is used when it is not much larger than the
// accesses that will touch it (a hash map otherwise, e.g. a huge stride over a huge ifmap).
bool dense_range(int64_t range, int64_t accesses) {
    return range <= (int64_t{1} << 27) && range <= std::max<int64_t>(int64_t{1} << 20, 2 * accesses);
}

// Operand address matrices, compute/operand_matrix.py (rev 1f53104), as offsets from the
// operand's offset. ifmap(i, j) = pixel part + tap part, null when the tap falls past the edge.
struct Operands {
    int64_t window = 0, num_filters = 0, px = 0;
    int64_t ifmap_range = 0;  // H x W x channels, the ifmap offsets' range
    struct Pixel {
        int64_t off;           // (i_row * W + i_col) * channels
        int32_t rem_h, rem_w;  // H - i_row and W - i_col, clamped to [-1, filter size]
    };
    struct Tap {
        int64_t off;         // (c_row * W + c_col) * channels + c_ch
        int32_t row, col;    // c_row, c_col
    };
    std::vector<Pixel> pixels;  // row i of the ifmap matrix: ofmap pixel
    std::vector<Tap> taps;      // column j: position in the convolution window (row, col, channel)

    explicit Operands(const ConvLayer& l) {
        window = l.filter_h * l.filter_w * l.channels;
        num_filters = l.num_filters;
        const int64_t out_w = ofmap_cols(l);
        px = ofmap_rows(l) * out_w;
        const double range = static_cast<double>(l.ifmap_h) * static_cast<double>(l.ifmap_w) * static_cast<double>(l.channels);
        ifmap_range = range < 4e18 ? l.ifmap_h * l.ifmap_w * l.channels : INT64_MAX;
        pixels.resize(static_cast<size_t>(px));
        for (int64_t i = 0; i < px; ++i) {
            const int64_t i_row = (i / out_w) * l.stride_h, i_col = (i % out_w) * l.stride_w;
            pixels[static_cast<size_t>(i)] = {i_row * l.ifmap_w * l.channels + i_col * l.channels,
                                              static_cast<int32_t>(std::clamp<int64_t>(l.ifmap_h - i_row, -1, l.filter_h)),
                                              static_cast<int32_t>(std::clamp<int64_t>(l.ifmap_w - i_col, -1, l.filter_w))};
        }
        taps.resize(static_cast<size_t>(window));
        for (int64_t j = 0; j < window; ++j) {
            const int64_t c_row = j / (l.filter_w * l.channels), k = j % (l.filter_w * l.channels);
            const int64_t c_col = k / l.channels, c_ch = k % l.channels;
            taps[static_cast<size_t>(j)] = {c_row * l.ifmap_w * l.channels + c_col * l.channels + c_ch,
                                            static_cast<int32_t>(c_row), static_cast<int32_t>(c_col)};
        }
    }
    int64_t ifmap(int64_t i, int64_t j) const {
        const Pixel& p = pixels[static_cast<size_t>(i)];
        const Tap& t = taps[static_cast<size_t>(j)];
        return t.row >= p.rem_h || t.col >= p.rem_w ? kNull : p.off + t.off;  // window past the edge
    }
    int64_t filter(int64_t i, int64_t j) const { return j * window + i; }
    int64_t ofmap(int64_t i, int64_t j) const { return num_filters * i + j; }
};

// The order in which a read buffer's fetch matrix lists the operand: the valid addresses (null
// entries dropped, as prepare_hashed_buffer drops them) and the entry count including nulls.
struct FetchOrder {
    std::vector<int64_t> addrs;
    int64_t num_elems = 0;
};

// A prefetch matrix is M x N, built by stacking folds of P rows each; elem(fold, row in fold, j).
// Skewed operands are read out along anti-diagonals ("Fixing ISSUE #15, #16" in the compute
// files), the others row by row.
template <typename Elem>
FetchOrder make_fetch_order(int64_t M, int64_t N, int64_t P, bool diagonal, Elem elem) {
    FetchOrder f;
    f.num_elems = M * N;
    f.addrs.reserve(static_cast<size_t>(M * N));
    if (!diagonal) {
        for (int64_t i = 0, blk = 0, t = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j)
                if (int64_t a = elem(blk, t, j); a != kNull) f.addrs.push_back(a);
            if (++t == P) t = 0, ++blk;
        }
        return f;
    }
    for (int64_t d = 0; d < M + N - 1; ++d) {
        const int64_t hi = std::min(d, M - 1), lo = std::max<int64_t>(0, d - N + 1);
        int64_t blk = hi / P, t = hi % P;
        for (int64_t i = hi; i >= lo; --i) {
            if (int64_t a = elem(blk, t, d - i); a != kNull) f.addrs.push_back(a);
            if (--t < 0) t = P - 1, --blk;
        }
    }
    return f;
}

// USER-mode double-buffered read SRAM, memory/read_buffer.py rev 48f6938 (SCALE-Sim v2).
// The fetch order is cut into "lines" of ceil(size/100) valid addresses; an active window of lines
// serves hits; a miss rotates the window by the prefetch lines and issues one prefetch of
// ceil(prefetch size / bandwidth) DRAM lines, back to back after the previous one (read port
// latency 1). A row is served at the completion cycle of the last prefetch it waited for, else
// after the hit latency (1).
class ReadBuffer {
public:
    // `range`: the operand's address offsets lie in [0, range); `offset` only labels errors.
    ReadBuffer(int64_t size_bytes, int64_t bandwidth, FetchOrder order, int64_t range, int64_t offset)
        : bw_(bandwidth), offset_(offset) {
        const int64_t total = size_bytes;  // word size 1
        active_size_ = ceil_div(total, 2);  // active_buf_frac 0.5 (single_layer_sim.py)
        prefetch_size_ = total - active_size_;
        const int64_t per_line = ceil_div(total, 100);
        fetch_rows_ = ceil_div(order.num_elems, bw_);

        // prepare_hashed_buffer: a new line starts after every per_line valid entries; the last
        // (possibly empty) line counts too.
        std::vector<int64_t>& keys = order.addrs;
        const int64_t valid = static_cast<int64_t>(keys.size());
        num_lines_ = valid / per_line + 1;
        // Address -> slot: the offset itself over a dense range, else the rank among the distinct
        // addresses.
        int64_t slots = range;
        if (!dense_range(range, valid)) {
            sparse_keys_ = keys;
            std::sort(sparse_keys_.begin(), sparse_keys_.end());
            sparse_keys_.erase(std::unique(sparse_keys_.begin(), sparse_keys_.end()), sparse_keys_.end());
            for (auto& k : keys) k = std::lower_bound(sparse_keys_.begin(), sparse_keys_.end(), k) - sparse_keys_.begin();
            slots = static_cast<int64_t>(sparse_keys_.size());
        }
        // Slot -> increasing line ids holding it (a counting sort: the fetch order visits lines in
        // increasing order). Line ids fit 32 bits for any fetch order that fits in memory.
        if (num_lines_ > static_cast<int64_t>(UINT32_MAX))
            throw std::invalid_argument("systolic model: fetch order too long to simulate");
        slots_.assign(static_cast<size_t>(slots) + 1, SlotLines{0, 0, 0});
        for (int64_t i = 0, line = 1, in_line = 0; i < valid; ++i) {  // cur = last line + 1 here
            SlotLines& sl = slots_[static_cast<size_t>(keys[static_cast<size_t>(i)])];
            if (sl.cur != line) sl.cur = static_cast<uint32_t>(line), ++sl.begin;
            if (++in_line == per_line) in_line = 0, ++line;
        }
        size_t sum = 0;
        for (SlotLines& sl : slots_) {
            const size_t n = sl.begin;
            sl.begin = sum, sl.cur = 0;
            sum += n;
        }
        line_ids_.resize(sum);
        for (int64_t i = 0, line = 0, in_line = 0; i < valid; ++i) {  // cur = entries filled here
            SlotLines& sl = slots_[static_cast<size_t>(keys[static_cast<size_t>(i)])];
            if (sl.cur == 0 || line_ids_[sl.begin + sl.cur - 1] != line) line_ids_[sl.begin + sl.cur++] = static_cast<uint32_t>(line);
            if (++in_line == per_line) in_line = 0, ++line;
        }
        for (SlotLines& sl : slots_) sl.cur = 0;

        const int64_t max_active = ceil_div(active_size_, per_line), max_prefetch = ceil_div(prefetch_size_, per_line);
        active_lines_ = std::min(num_lines_, max_active);
        prefetch_lines_ = std::min(num_lines_ - active_lines_, max_prefetch);
        // The first demand row (cycle 0) starts the active buffer's prefetch.
        prefetch_active_buffer(0);
    }

    int64_t dram_reads() const { return dram_reads_; }
    // Counts the window moves: while it stands still, a look-up changes nothing.
    int64_t moves() const { return dram_reads_; }

    // Serves a row's entries for columns [lo, hi), in column order; addr(c) is the address offset
    // or kNull. Returns the cycle at which the row is served.
    template <typename Addr>
    int64_t service(int64_t lo, int64_t hi, Addr addr, int64_t cycle) {
        int64_t out = cycle + 1;  // hit latency
        for (int64_t c = lo; c < hi; ++c) {
            const int64_t a = addr(c);
            if (a == kNull) continue;
            const int64_t s = slot(a);
            int64_t rotations = 0;
            while (!hit(s)) {
                if (++rotations > num_lines_ + 1)
                    throw std::logic_error("systolic model: address " + std::to_string(a + offset_) + " never fetched");
                new_prefetch();
                // read_buffer.py: offset += last_prefetch - (cycle + offset), i.e. the row is served
                // when this prefetch lands, even if that is earlier than cycle + hit latency.
                out = last_prefetch_;
            }
        }
        return out;
    }

private:
    void prefetch_active_buffer(int64_t start_cycle) {
        const int64_t lines = std::min(ceil_div(active_size_, bw_), fetch_rows_);
        dram_reads_ += lines * bw_;
        // Requests at start - lines + i - latency, served one latency later: the last lands at
        // start_cycle - 1, just before the first demand.
        last_prefetch_ = start_cycle - 1;
        active_start_ = 0;
        active_end_ = active_lines_;
    }

    void new_prefetch() {
        const int64_t start = active_start_;
        active_start_ = (active_start_ + prefetch_lines_) % num_lines_;
        if (active_start_ < start) ++generation_;
        active_end_ = (active_start_ + active_lines_) % num_lines_;
        const int64_t lines = ceil_div(prefetch_size_, bw_);
        dram_reads_ += lines * bw_;
        // Requests at last + 1 + i, served at last + 2 + i.
        last_prefetch_ += lines + 1;
    }

    // Slot of an address, or -1 when the fetch order never lists it.
    int64_t slot(int64_t a) const {
        if (sparse_keys_.empty()) return a < static_cast<int64_t>(slots_.size()) - 1 ? a : -1;
        auto k = std::lower_bound(sparse_keys_.begin(), sparse_keys_.end(), a);
        return k == sparse_keys_.end() || *k != a ? -1 : k - sparse_keys_.begin();
    }

    // Whether a line of the active window holds slot s. The window only moves forward between two
    // wrap-arounds of its start (generations), so each slot keeps a cursor on its first line at or
    // after the window start as of its last look-up, valid within its generation.
    bool hit(int64_t s) {
        if (s < 0) return false;
        SlotLines& sl = slots_[static_cast<size_t>(s)];
        const uint32_t* lines = line_ids_.data() + sl.begin;
        const uint32_t n = static_cast<uint32_t>(slots_[static_cast<size_t>(s) + 1].begin - sl.begin);
        if (n == 0) return false;
        if (sl.gen != generation_) sl.gen = generation_, sl.cur = 0;
        uint32_t cur = sl.cur;
        for (int probes = 0; cur != n && lines[cur] < active_start_; ++cur) {
            if (++probes == 8) {  // far behind: search the rest
                cur = static_cast<uint32_t>(std::lower_bound(lines + cur, lines + n, active_start_) - lines);
                break;
            }
        }
        sl.cur = cur;
        if (active_start_ < active_end_) return cur != n && lines[cur] < active_end_;
        // Window wraps around (or covers every line when start == end).
        return cur != n || lines[0] < active_end_;
    }

    int64_t bw_, offset_;
    int64_t active_size_ = 0, prefetch_size_ = 0, fetch_rows_ = 0;
    int64_t num_lines_ = 1, active_lines_ = 1, prefetch_lines_ = 0;
    int64_t active_start_ = 0, active_end_ = 0;
    int64_t last_prefetch_ = -1;
    int64_t dram_reads_ = 0;
    std::vector<int64_t> sparse_keys_;  // distinct addresses, sorted, when the range is sparse
    struct SlotLines {
        size_t begin;  // first entry in line_ids_; the next slot's begin ends it
        uint32_t cur;  // cursor: entries from begin (see hit)
        uint32_t gen;  // generation of the cursor
    };
    std::vector<SlotLines> slots_;  // one per slot, and an end marker
    std::vector<uint32_t> line_ids_;
    uint32_t generation_ = 1;
};

// CALC-mode read SRAM, memory/read_buffer_estimate_bw.py: never stalls (every request is a hit
// after the hit latency); it groups the addresses it sees into sets of floor(size/100) new
// addresses and counts a DRAM read for each address of every set it "prefetches": 50 sets first,
// then 50 sets each time the array has consumed a prefetch buffer's worth, the rest at the end,
// so every set is counted once. An address hits when a set of the current read window holds it
// or the open set does; the window moves by 50 sets exactly when the 50th set of the window
// closes, and is then empty. So an address is new when it was not added since the last multiple
// of 50 sets closed ("epoch"): one stamp per address offset holds the epoch that last added it.
// The prefetch after the first divides by the cycles between the two previous 50-set marks
// (read_buffer_estimate_bw.py); SCALE-Sim fails when they fell on the same cycle, which here is
// the same demand row (a row's cycle grows with its index).
class EstimateReadBuffer {
public:
    EstimateReadBuffer(int64_t size_bytes, int64_t range, int64_t accesses) {
        epoch_size_ = kActiveSets * (size_bytes / 100);
        if (dense_range(range, accesses)) stamps_.assign(static_cast<size_t>(range), 0);
        else dense_ = false;
    }
    int64_t dram_reads() const { return dram_reads_; }
    // Counts the stamps set: while it stands still, a look-up changes nothing.
    int64_t moves() const { return dram_reads_; }

    void access(int64_t a, int64_t row) {
        uint32_t& st = dense_ ? stamps_[static_cast<size_t>(a)] : sparse_[a];
        if (st == epoch_) return;
        st = epoch_;
        ++dram_reads_;
        if (++in_epoch_ == epoch_size_) close_epoch(row);
    }

    void complete_all_prefetches() {
        if (div_by_zero_) throw std::invalid_argument("SCALE-Sim's CALC bandwidth estimate divides by zero for this layer");
    }

private:
    static constexpr int64_t kActiveSets = 50;  // int(0.5 * 100) sets per window, 100 - 50 per prefetch

    void close_epoch(int64_t row) {
        in_epoch_ = 0;
        if (++epoch_ == UINT32_MAX) {  // stamps of older epochs never match: restart the numbering
            std::fill(stamps_.begin(), stamps_.end(), 0);
            sparse_.clear();
            epoch_ = 1;
        }
        // SCALE-Sim divides at the next mark (or at the end) by the cycles between this mark and
        // the previous one, the first mark excepted.
        if (div_by_zero_) complete_all_prefetches();
        div_by_zero_ = ++marks_ >= 2 && row == last_mark_row_;
        last_mark_row_ = row;
    }

    int64_t epoch_size_ = 1;
    uint32_t epoch_ = 1;
    int64_t in_epoch_ = 0, marks_ = 0, last_mark_row_ = -1;
    bool div_by_zero_ = false;
    int64_t dram_reads_ = 0;
    bool dense_ = true;
    std::vector<uint32_t> stamps_;
    std::unordered_map<int64_t, uint32_t> sparse_;
};

// Ofmap write SRAM, memory/write_buffer.py rev 51074ed: outputs are packed into DRAM lines of
// `bandwidth` words; when more than the active half is occupied and no drain is running, the
// buffered lines (the partial one included) drain at one line per cycle (write port latency 0).
// A row stalls only when the buffer is completely full while a drain is still running.
class WriteBuffer {
public:
    WriteBuffer(int64_t size_bytes, int64_t bandwidth) : bw_(bandwidth) {
        total_ = size_bytes;
        active_size_ = ceil_div(total_, 2);
        drain_size_ = total_ - active_size_;
        free_ = total_;
    }
    int64_t dram_writes() const { return dram_writes_; }

    // Serves a row with n ofmap entries (their addresses do not matter) at `cycle`; returns the
    // cycle at which the row is served. SCALE-Sim checks its state after every entry; the state
    // only changes at the entries that fill the buffer or cross into the drain half, so the entries
    // between are stored at once.
    int64_t service(int64_t n, int64_t cycle) {
        int64_t current = cycle;
        while (n > 0) {
            if (current < drain_end_) {
                // Each entry: store, then wait for the drain if the buffer is full.
                if (free_ - n > 0) {
                    store(n);
                    break;
                }
                const int64_t k = std::max<int64_t>(free_, 1);
                store(k);
                n -= k;
                current = drain_end_;
            } else {
                // Each entry: store, then start a drain once less than the active half is free.
                const int64_t k = std::max<int64_t>(free_ - active_size_ + 1, 1);
                if (k > n) {
                    store(n);
                    break;
                }
                store(k);
                n -= k;
                close_partial_line();
                drain_end_ = drain(current);
            }
        }
        return current;
    }

    void empty_all_buffers(int64_t cycle) {
        close_partial_line();
        while (drain_start_ < lines_) {
            drain_end_ = drain(cycle);
            cycle = drain_end_ + 1;
        }
    }

private:
    void store(int64_t k) {
        free_ -= k;
        line_fill_ += k;
        lines_ += line_fill_ / bw_;
        line_fill_ %= bw_;
    }
    void close_partial_line() {
        if (line_fill_ != 0) partial_.push_back({lines_++, line_fill_});
        line_fill_ = 0;
    }
    // empty_drain_buf: returns the cycle of the last line written.
    int64_t drain(int64_t start) {
        const int64_t end = std::min<int64_t>(drain_start_ + ceil_div(drain_size_, bw_), lines_);
        const int64_t n = end - drain_start_;
        if (n <= 0) throw std::logic_error("systolic model: empty ofmap drain");
        int64_t last_line = bw_;  // words in line end - 1
        for (; next_partial_ < partial_.size() && partial_[next_partial_].first < end; ++next_partial_)
            if (partial_[next_partial_].first == end - 1) last_line = partial_[next_partial_].second;
        // Every drained line counts as full except the padding of the drain's last line.
        const int64_t data = n * bw_ - (bw_ - last_line);
        dram_writes_ += data;
        free_ += data;
        drain_start_ = end;
        return start + n - 1;
    }

    int64_t bw_;
    int64_t total_ = 0, active_size_ = 0, drain_size_ = 0, free_ = 0;
    int64_t lines_ = 0;  // closed lines; all full except those listed in partial_
    std::vector<std::pair<int64_t, int64_t>> partial_;  // (line, valid words) of partly filled lines
    size_t next_partial_ = 0;                           // first entry of partial_ not drained
    int64_t line_fill_ = 0;
    int64_t drain_start_ = 0;
    int64_t drain_end_ = 0;
    int64_t dram_writes_ = 0;
};

// Columns [lo, hi) of a demand row r whose entries are b = r - c - shift in [0, T), c < limit:
// the non-null entries of a skewed operand.
struct Span {
    int64_t lo, hi;
};
Span skewed(int64_t r, int64_t shift, int64_t T, int64_t limit) {
    return {std::max<int64_t>(0, r - shift - T + 1), std::min(limit, r - shift + 1)};
}

// One fold of the array: which operand slice it holds (compute/systolic_compute_{ws,os,is}.py).
struct Fold {
    int64_t R, C, T;  // array rows, array cols, temporal extent
    int64_t r0, c0;   // first spatial row / column of the operand mapped to this fold
    int64_t ru, cu;   // rows / columns of the array used
    int64_t rows;     // demand rows of the fold
};

// The demand rows of a fold, per dataflow: for row r, the span of non-null columns of each
// operand and their addresses (with fill/drain gaps and the skew applied), and the number of
// non-null ofmap entries.
template <Dataflow D>
struct Demand;

template <>
struct Demand<Dataflow::ws> {
    // ifmap: R null rows (weights load), T rows of ifmap, C-1 null rows; skewed.
    static Span ifmap_span(const Fold& f, int64_t r) { return skewed(r, f.R, f.T, f.ru); }
    static int64_t ifmap(const Operands& op, const Fold& f, int64_t r, int64_t c) { return op.ifmap(r - c - f.R, f.r0 + c); }
    // filter: slice flipped upside down, then R+C+T-2 null rows; no skew.
    static Span filter_span(const Fold& f, int64_t r) {
        return r < f.R && f.R - 1 - r < f.ru ? Span{0, f.cu} : Span{0, 0};
    }
    static int64_t filter(const Operands& op, const Fold& f, int64_t r, int64_t c) {
        return op.filter(f.r0 + (f.R - 1 - r), f.c0 + c);
    }
    // ofmap: 2R-1 null rows, T rows of outputs; skewed.
    static Span ofmap_span(const Fold& f, int64_t r) { return skewed(r, 2 * f.R - 1, f.T, f.cu); }
};

template <>
struct Demand<Dataflow::os> {
    // ifmap: transposed ifmap slice, C-1 null rows; skewed.
    static Span ifmap_span(const Fold& f, int64_t r) { return skewed(r, 0, f.T, f.ru); }
    static int64_t ifmap(const Operands& op, const Fold& f, int64_t r, int64_t c) { return op.ifmap(f.r0 + c, r - c); }
    // filter: filter slice, R-1 null rows; skewed.
    static Span filter_span(const Fold& f, int64_t r) { return skewed(r, 0, f.T, f.cu); }
    static int64_t filter(const Operands& op, const Fold& f, int64_t r, int64_t c) { return op.filter(r - c, f.c0 + c); }
    // ofmap: T-1 null rows, the R x C outputs flipped upside down (rows R-ru.. of the flip hold
    // the used ones); skewed.
    static Span ofmap_span(const Fold& f, int64_t r) {
        return skewed(r, f.T - 1 + (f.R - f.ru), f.ru, f.cu);
    }
};

template <>
struct Demand<Dataflow::is> {
    // ifmap: slice flipped upside down, then R+C+T-2 null rows; no skew.
    static Span ifmap_span(const Fold& f, int64_t r) {
        return r < f.R && f.R - 1 - r < f.ru ? Span{0, f.cu} : Span{0, 0};
    }
    static int64_t ifmap(const Operands& op, const Fold& f, int64_t r, int64_t c) {
        return op.ifmap(f.c0 + c, f.r0 + (f.R - 1 - r));
    }
    // filter: R null rows, transposed filter slice, C-1 null rows; skewed.
    static Span filter_span(const Fold& f, int64_t r) { return skewed(r, f.R, f.T, f.ru); }
    static int64_t filter(const Operands& op, const Fold& f, int64_t r, int64_t c) { return op.filter(f.r0 + c, r - c - f.R); }
    // ofmap: 2R-1 null rows, transposed outputs; skewed.
    static Span ofmap_span(const Fold& f, int64_t r) { return skewed(r, 2 * f.R - 1, f.T, f.cu); }
};

// The memory system and the cycle bookkeeping of double_buffered_scratchpad_mem.py
// service_memory_requests: one demand row per cycle, shifted by the stalls so far; a row's stall
// is the worst of the three buffers' delays.
struct Memory {
    std::unique_ptr<ReadBuffer> ifmap_buf, filter_buf;            // USER mode
    std::unique_ptr<EstimateReadBuffer> ifmap_est, filter_est;    // CALC mode
    WriteBuffer ofmap_buf;
    int64_t row_index = 0, stalls = 0, last_ofmap_cycle = 0;
};

// skip_ifmap / skip_filter: the operand's entries are all hits and change nothing (see
// simulate_scalesim_layer), so they are not looked up.
template <Dataflow D, bool User>
void run_fold(const Operands& op, const Fold& f, Memory& m, bool skip_ifmap, bool skip_filter) {
    using Dm = Demand<D>;
    for (int64_t r = 0; r < f.rows; ++r, ++m.row_index) {
        const int64_t cycle = m.row_index + m.stalls;
        Span is = Dm::ifmap_span(f, r), fs = Dm::filter_span(f, r);
        const Span os = Dm::ofmap_span(f, r);
        if (skip_ifmap) is.hi = is.lo;
        if (skip_filter) fs.hi = fs.lo;
        int64_t ifmap_stall = 0, filter_stall = 0;
        if constexpr (User) {
            ifmap_stall = m.ifmap_buf->service(is.lo, is.hi, [&](int64_t c) { return Dm::ifmap(op, f, r, c); }, cycle) - cycle - 1;
            filter_stall = m.filter_buf->service(fs.lo, fs.hi, [&](int64_t c) { return Dm::filter(op, f, r, c); }, cycle) - cycle - 1;
        } else {
            for (int64_t c = is.lo; c < is.hi; ++c)
                if (const int64_t a = Dm::ifmap(op, f, r, c); a != kNull) m.ifmap_est->access(a, m.row_index);
            for (int64_t c = fs.lo; c < fs.hi; ++c) m.filter_est->access(Dm::filter(op, f, r, c), m.row_index);
        }
        m.last_ofmap_cycle = m.ofmap_buf.service(std::max<int64_t>(0, os.hi - os.lo), cycle);
        m.stalls += std::max({ifmap_stall, filter_stall, m.last_ofmap_cycle - cycle});
    }
}

template <Dataflow D>
void run_fold(const Operands& op, const Fold& f, Memory& m, bool user, bool skip_ifmap, bool skip_filter) {
    if (user) run_fold<D, true>(op, f, m, skip_ifmap, skip_filter);
    else run_fold<D, false>(op, f, m, skip_ifmap, skip_filter);
}

}  // namespace

LayerReport simulate_scalesim_layer(const SystolicConfig& cfg, const ConvLayer& l, int layer_id) {
    if (cfg.array_rows < 1 || cfg.array_cols < 1) throw std::invalid_argument("systolic config: array size must be >= 1");
    if (cfg.ifmap_sram_kb < 1 || cfg.filter_sram_kb < 1 || cfg.ofmap_sram_kb < 1)
        throw std::invalid_argument("systolic config: SRAM sizes must be >= 1 kB");
    if (cfg.user_bandwidth && (cfg.bandwidths.empty() || cfg.bandwidths[0] < 1))
        throw std::invalid_argument("systolic config: USER bandwidth mode needs Bandwidth >= 1");
    if (l.ifmap_h < 1 || l.ifmap_w < 1 || l.filter_h < 1 || l.filter_w < 1 || l.channels < 1 || l.num_filters < 1 ||
        l.stride_h < 1 || l.stride_w < 1 || l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w)
        throw std::invalid_argument("systolic layer " + l.name + ": dimensions must be >= 1 and the filter within the ifmap");

    const Operands op(l);
    const int64_t R = cfg.array_rows, C = cfg.array_cols;
    const Dataflow df = cfg.dataflow;
    // Spatial rows (Sr), spatial columns (Sc), temporal extent (T) per dataflow.
    int64_t Sr = 0, Sc = 0, T = 0;
    switch (df) {
        case Dataflow::os: Sr = op.px, Sc = op.num_filters, T = op.window; break;
        case Dataflow::ws: Sr = op.window, Sc = op.num_filters, T = op.px; break;
        case Dataflow::is: Sr = op.window, Sc = op.px, T = op.num_filters; break;
    }
    const int64_t row_fold = ceil_div(Sr, R), col_fold = ceil_div(Sc, C);
    auto used_rows = [&](int64_t fr) { return std::min(R, Sr - fr * R); };
    auto used_cols = [&](int64_t fc) { return std::min(C, Sc - fc * C); };

    // Per-fold SRAM counts, mapping efficiency and compute utilisation (closed form).
    LayerReport rep;
    rep.layer_id = layer_id;
    rep.layer = l.name;
    rep.folds = row_fold * col_fold;
    double mapping_sum = 0, util_sum = 0;
    std::vector<Fold> folds;
    folds.reserve(static_cast<size_t>(rep.folds));
    for (int64_t fc = 0; fc < col_fold; ++fc) {
        for (int64_t fr = 0; fr < row_fold; ++fr) {
            Fold f{R, C, T, fr * R, fc * C, used_rows(fr), used_cols(fc), 0};
            int64_t fold_cycles = 0;
            switch (df) {
                case Dataflow::ws:
                    f.rows = 2 * R + T + C - 2;
                    fold_cycles = f.rows + C - 1;
                    rep.sram_ifmap_reads += T * f.ru;
                    rep.sram_filter_reads += f.ru * f.cu;
                    rep.sram_ofmap_writes += T * f.cu;
                    break;
                case Dataflow::os:
                    f.rows = T + R + C - 2;
                    fold_cycles = f.rows;
                    rep.sram_ifmap_reads += T * f.ru;
                    rep.sram_filter_reads += T * f.cu;
                    // systolic_compute_os.py counts the fold's outputs and then, after flipping the
                    // padded R x C block, adds its height + width again; kept for parity.
                    rep.sram_ofmap_writes += f.ru * f.cu + R + C;
                    break;
                case Dataflow::is:
                    f.rows = 2 * R + C + T - 2;
                    fold_cycles = f.rows + C - 1;
                    rep.sram_ifmap_reads += f.ru * f.cu;
                    rep.sram_filter_reads += T * f.ru;
                    rep.sram_ofmap_writes += T * f.cu;
                    break;
            }
            const int64_t mac_used = f.ru * f.cu;
            mapping_sum += static_cast<double>(mac_used) / static_cast<double>(R * C);
            util_sum += static_cast<double>(mac_used * T) / static_cast<double>(R * C * fold_cycles);
            folds.push_back(f);
        }
    }

    const int64_t ifmap_bytes = cfg.ifmap_sram_kb * 1024, filter_bytes = cfg.filter_sram_kb * 1024;
    const int64_t ofmap_bytes = cfg.ofmap_sram_kb * 1024;
    const int64_t filter_range = op.window * op.num_filters;
    // single_layer_sim.py: ofmap drains at Bandwidth (USER) or ArrayWidth words/cycle (CALC).
    Memory m{nullptr, nullptr, nullptr, nullptr, WriteBuffer(ofmap_bytes, cfg.user_bandwidth ? cfg.bandwidths[0] : C)};
    if (cfg.user_bandwidth) {
        // Prefetch matrices (the compute files' create_*_prefetch_mat), needed in USER mode only.
        const int64_t bw = cfg.bandwidths[0];
        FetchOrder fi, ff;
        switch (df) {
            case Dataflow::ws:
                fi = make_fetch_order(row_fold * T, R, T, true, [&](int64_t fr, int64_t t, int64_t j) {
                    return j < used_rows(fr) ? op.ifmap(t, fr * R + j) : kNull;
                });
                ff = make_fetch_order(col_fold * op.window, C, op.window, false, [&](int64_t fc, int64_t t, int64_t j) {
                    return j < used_cols(fc) ? op.filter(t, fc * C + j) : kNull;
                });
                break;
            case Dataflow::os:
                fi = make_fetch_order(row_fold * T, R, T, true, [&](int64_t fr, int64_t t, int64_t j) {
                    return j < used_rows(fr) ? op.ifmap(fr * R + j, t) : kNull;
                });
                ff = make_fetch_order(col_fold * T, C, T, true, [&](int64_t fc, int64_t t, int64_t j) {
                    return j < used_cols(fc) ? op.filter(t, fc * C + j) : kNull;
                });
                break;
            case Dataflow::is:
                fi = make_fetch_order(col_fold * op.window, C, op.window, false, [&](int64_t fc, int64_t t, int64_t j) {
                    return j < used_cols(fc) ? op.ifmap(fc * C + j, t) : kNull;
                });
                ff = make_fetch_order(row_fold * T, R, T, true, [&](int64_t fr, int64_t t, int64_t j) {
                    return j < used_rows(fr) ? op.filter(fr * R + j, t) : kNull;
                });
                break;
        }
        m.ifmap_buf = std::make_unique<ReadBuffer>(ifmap_bytes, bw, std::move(fi), op.ifmap_range, cfg.ifmap_offset);
        m.filter_buf = std::make_unique<ReadBuffer>(filter_bytes, bw, std::move(ff), filter_range, cfg.filter_offset);
    } else {
        m.ifmap_est = std::make_unique<EstimateReadBuffer>(ifmap_bytes, op.ifmap_range, rep.sram_ifmap_reads);
        m.filter_est = std::make_unique<EstimateReadBuffer>(filter_bytes, filter_range, rep.sram_filter_reads);
    }

    // An operand slice that depends on the fold's row (column) only is the same in consecutive
    // folds of one column fold (row fold, when there is a single row fold). When a fold looked up
    // its whole slice without moving the buffer's window (USER) or setting a stamp (CALC), every
    // entry of the slice is a hit that changes nothing, in the next fold with the same slice too:
    // those look-ups are skipped (stall 0, as after a hit).
    struct Reuse {
        int64_t fr = -1, fc = -1;  // the slice's fold row / column, -1 when it does not depend on it
        bool settled = false;
    } ifmap_reuse, filter_reuse;
    auto slice_of = [&](const Fold& f, bool by_row, bool by_col) {
        return std::make_pair(by_row ? f.r0 : -1, by_col ? f.c0 : -1);
    };
    auto moves = [&](bool ifmap) {
        if (cfg.user_bandwidth) return ifmap ? m.ifmap_buf->moves() : m.filter_buf->moves();
        return ifmap ? m.ifmap_est->moves() : m.filter_est->moves();
    };
    for (const Fold& f : folds) {
        // ifmap slices: ws, os by fold row; is by both. filter: ws by both; os by column; is by row.
        const auto is = slice_of(f, true, df == Dataflow::is);
        const auto fs = slice_of(f, df != Dataflow::os, df != Dataflow::is);
        const bool skip_ifmap = ifmap_reuse.settled && is == std::make_pair(ifmap_reuse.fr, ifmap_reuse.fc);
        const bool skip_filter = filter_reuse.settled && fs == std::make_pair(filter_reuse.fr, filter_reuse.fc);
        const int64_t ifmap_moves = moves(true), filter_moves = moves(false);
        switch (df) {
            case Dataflow::ws: run_fold<Dataflow::ws>(op, f, m, cfg.user_bandwidth, skip_ifmap, skip_filter); break;
            case Dataflow::os: run_fold<Dataflow::os>(op, f, m, cfg.user_bandwidth, skip_ifmap, skip_filter); break;
            case Dataflow::is: run_fold<Dataflow::is>(op, f, m, cfg.user_bandwidth, skip_ifmap, skip_filter); break;
        }
        ifmap_reuse = {is.first, is.second, skip_ifmap || moves(true) == ifmap_moves};
        filter_reuse = {fs.first, fs.second, skip_filter || moves(false) == filter_moves};
    }
    if (m.ifmap_est) {
        m.ifmap_est->complete_all_prefetches();
        m.filter_est->complete_all_prefetches();
    }
    m.ofmap_buf.empty_all_buffers(m.last_ofmap_cycle);

    rep.total_cycles = m.last_ofmap_cycle;
    rep.stall_cycles = m.stalls;
    rep.macs = op.px * op.num_filters * op.window;
    const int64_t pes = R * C;
    rep.overall_util_pct =
        rep.total_cycles > 0 ? static_cast<double>(rep.macs * 100) / static_cast<double>(rep.total_cycles * pes) : 0.0;
    const double nf = static_cast<double>(rep.folds);
    rep.mapping_eff_pct = mapping_sum / nf * 100;
    rep.compute_util_pct = util_sum / nf * 100;
    rep.dram_ifmap_reads = m.ifmap_buf ? m.ifmap_buf->dram_reads() : m.ifmap_est->dram_reads();
    rep.dram_filter_reads = m.filter_buf ? m.filter_buf->dram_reads() : m.filter_est->dram_reads();
    rep.dram_ofmap_writes = m.ofmap_buf.dram_writes();
    return rep;
}

std::vector<LayerReport> simulate_scalesim(const SystolicConfig& cfg, const std::vector<ConvLayer>& layers) {
    std::vector<LayerReport> out;
    out.reserve(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) out.push_back(simulate_scalesim_layer(cfg, layers[i], static_cast<int>(i)));
    return out;
}

}  // namespace stacklab::chip
