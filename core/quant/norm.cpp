#include "quant/norm.hpp"

#include <cmath>
#include <random>
#include <stdexcept>
#include <type_traits>

#include "quant/activations.hpp"
#include "quant/half.hpp"

namespace stacklab::quant {

namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("quant: " + message); }

void check_args(const char* fn, const float* x, size_t rows, size_t cols, const float* gamma, float epsilon,
                const void* y) {
    const std::string f = fn;
    if (rows > 0 && cols == 0) fail(f + ": cols must be > 0");
    if (rows == 0) return;
    if (x == nullptr) fail(f + ": x must not be null");
    if (gamma == nullptr) fail(f + ": gamma must not be null");
    if (y == nullptr) fail(f + ": y must not be null");
    if (!std::isfinite(epsilon) || epsilon < 0.0f) fail(f + ": epsilon must be finite and >= 0");
    // Partial sums count elements exactly in float only below 2^24.
    if (cols >= (size_t{1} << 24)) fail(f + ": cols must be < 2^24");
}

void check_out(const QuantParams& p, bool storage_signed) {
    if (p.axis != -1 || p.scale.size() != 1) fail("output parameters must be per-tensor (axis -1, one scale)");
    validate(p, {1});
    if (p.is_signed != storage_signed)
        fail(std::string("output parameters are ") + (p.is_signed ? "int8" : "uint8") + " but the storage type is " +
             (storage_signed ? "int8" : "uint8"));
}

struct RowStats {
    float mean = 0.0f, var = 0.0f;
};

// Sum of n floats in 8 interleaved partial sums, combined in a fixed tree, then the tail.
template <typename F>
float lane_sum(size_t n, F term) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t l = 0; l < 8; ++l) acc[l] += term(i + l);
    float tail = 0.0f;
    for (; i < n; ++i) tail += term(i);
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

RowStats row_stats(const float* x, size_t n, VarianceMethod method) {
    RowStats s;
    const float fn = static_cast<float>(n);
    switch (method) {
        case VarianceMethod::two_pass: {
            s.mean = lane_sum(n, [x](size_t i) { return x[i]; }) / fn;
            const float m = s.mean;
            s.var = lane_sum(n, [x, m](size_t i) {
                        const float d = x[i] - m;
                        return d * d;
                    }) / fn;
            break;
        }
        case VarianceMethod::single_pass: {
            float sum[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            size_t i = 0;
            for (; i + 8 <= n; i += 8)
                for (size_t l = 0; l < 8; ++l) {
                    sum[l] += x[i + l];
                    sq[l] += x[i + l] * x[i + l];
                }
            float sum_t = 0.0f, sq_t = 0.0f;
            for (; i < n; ++i) {
                sum_t += x[i];
                sq_t += x[i] * x[i];
            }
            const float s1 = (((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]))) + sum_t;
            const float s2 = (((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]))) + sq_t;
            s.mean = s1 / fn;
            // E[x^2] - E[x]^2: both terms ~ mean^2, so their float rounding errors (~ mean^2 * 2^-24)
            // survive the subtraction while the variance may be far smaller. Clamped as ports do.
            const float v = s2 / fn - s.mean * s.mean;
            s.var = v > 0.0f ? v : 0.0f;
            break;
        }
        case VarianceMethod::welford: {
            float mean = 0.0f, m2 = 0.0f;
            for (size_t i = 0; i < n; ++i) {
                const float delta = x[i] - mean;
                mean += delta / static_cast<float>(i + 1);
                m2 += delta * (x[i] - mean);
            }
            s.mean = mean;
            s.var = m2 / fn;
            break;
        }
    }
    return s;
}

float round_to_half(float v) { return half_to_float(float_to_half(v)); }

// One row of the fused kernel; `store(c, value)` writes output element c.
template <typename Store>
void fused_row(const float* x, size_t cols, const float* gamma, const float* beta, float epsilon,
               const LnGeluVariant& v, Store store) {
    const RowStats s = row_stats(x, cols, v.variance);
    const float rstd = 1.0f / std::sqrt(s.var + epsilon);
    for (size_t c = 0; c < cols; ++c) {
        float n = (x[c] - s.mean) * rstd * gamma[c] + (beta ? beta[c] : 0.0f);
        if (v.fp16) n = round_to_half(n);
        float g = v.gelu == GeluForm::erf ? gelu_erf(n) : gelu_tanh(n);
        if (v.fp16) g = round_to_half(g);
        store(c, g);
    }
}

template <typename Q>
void fused_quantized(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, const QuantParams& out, Q* y) {
    check_args("layer_norm_gelu", x, rows, cols, gamma, epsilon, y);
    check_out(out, std::is_signed<Q>::value);
    const float scale = out.scale[0];
    const int32_t zp = out.zero_point.empty() ? 0 : out.zero_point[0];
    const int32_t lo = qmin(out.is_signed), hi = qmax(out.is_signed);
    for (size_t r = 0; r < rows; ++r) {
        Q* yr = y + r * cols;
        fused_row(x + r * cols, cols, gamma, beta, epsilon, v,
                  [&](size_t c, float g) { yr[c] = static_cast<Q>(quantize_value(g, scale, zp, lo, hi)); });
    }
}

// Uniform in [0, 1) from the top 24 bits of one mt19937 output: exact in float and double.
double unit(std::mt19937& rng) { return static_cast<double>(rng() >> 8) * (1.0 / 16777216.0); }

}  // namespace

void layer_norm_ref(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                    double* y) {
    check_args("layer_norm_ref", x, rows, cols, gamma, epsilon, y);
    for (size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        double sum = 0.0;
        for (size_t c = 0; c < cols; ++c) sum += xr[c];
        const double mean = sum / static_cast<double>(cols);
        double ss = 0.0;
        for (size_t c = 0; c < cols; ++c) ss += (xr[c] - mean) * (xr[c] - mean);
        const double var = ss / static_cast<double>(cols);
        const double rstd = 1.0 / std::sqrt(var + static_cast<double>(epsilon));
        for (size_t c = 0; c < cols; ++c)
            y[r * cols + c] = (xr[c] - mean) * rstd * gamma[c] + (beta ? static_cast<double>(beta[c]) : 0.0);
    }
}

void layer_norm(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                float* y) {
    check_args("layer_norm", x, rows, cols, gamma, epsilon, y);
    for (size_t r = 0; r < rows; ++r) {
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        const RowStats s = row_stats(xr, cols, VarianceMethod::two_pass);
        const float rstd = 1.0f / std::sqrt(s.var + epsilon);
        for (size_t c = 0; c < cols; ++c) yr[c] = (xr[c] - s.mean) * rstd * gamma[c] + (beta ? beta[c] : 0.0f);
    }
}

const char* variance_method_name(VarianceMethod v) {
    switch (v) {
        case VarianceMethod::two_pass: return "two-pass";
        case VarianceMethod::single_pass: return "single-pass";
        case VarianceMethod::welford: return "welford";
    }
    return "?";
}
const char* gelu_form_name(GeluForm g) { return g == GeluForm::erf ? "erf" : "tanh"; }

VarianceMethod parse_variance_method(const std::string& name) {
    for (VarianceMethod v : {VarianceMethod::two_pass, VarianceMethod::single_pass, VarianceMethod::welford})
        if (name == variance_method_name(v)) return v;
    fail("unknown variance method \"" + name + "\" (two-pass, single-pass or welford)");
}
GeluForm parse_gelu_form(const std::string& name) {
    if (name == "erf") return GeluForm::erf;
    if (name == "tanh") return GeluForm::tanh;
    fail("unknown GELU form \"" + name + "\" (erf or tanh)");
}

std::string variant_name(const LnGeluVariant& v) {
    return std::string(variance_method_name(v.variance)) + "/" + gelu_form_name(v.gelu) + "/" + (v.fp16 ? "fp16" : "fp32");
}

void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, float* y) {
    check_args("layer_norm_gelu", x, rows, cols, gamma, epsilon, y);
    for (size_t r = 0; r < rows; ++r) {
        float* yr = y + r * cols;
        fused_row(x + r * cols, cols, gamma, beta, epsilon, v, [yr](size_t c, float g) { yr[c] = g; });
    }
}
void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, const QuantParams& out, int8_t* y) {
    fused_quantized(x, rows, cols, gamma, beta, epsilon, v, out, y);
}
void layer_norm_gelu(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta, float epsilon,
                     const LnGeluVariant& v, const QuantParams& out, uint8_t* y) {
    fused_quantized(x, rows, cols, gamma, beta, epsilon, v, out, y);
}

void layer_norm_gelu_ref(const float* x, size_t rows, size_t cols, const float* gamma, const float* beta,
                         float epsilon, double* y) {
    layer_norm_ref(x, rows, cols, gamma, beta, epsilon, y);
    for (size_t i = 0; i < rows * cols; ++i) y[i] = gelu_erf_ref(y[i]);
}

const std::array<const char*, 9>& drift_histogram_labels() {
    static const std::array<const char*, 9> labels = {"<=-4", "-3", "-2", "-1", "0", "+1", "+2", "+3", ">=+4"};
    return labels;
}

DriftReport layer_norm_gelu_drift(const LnGeluVariant& v, const float* x, size_t rows, size_t cols,
                                  const float* gamma, const float* beta, float epsilon, const QuantParams& out) {
    check_args("layer_norm_gelu_drift", x, rows, cols, gamma, epsilon, x);
    check_out(out, out.is_signed);
    const size_t n = rows * cols;
    std::vector<double> ref(n);
    std::vector<float> fused(n);
    std::vector<int32_t> q_fused(n);
    layer_norm_gelu_ref(x, rows, cols, gamma, beta, epsilon, ref.data());
    layer_norm_gelu(x, rows, cols, gamma, beta, epsilon, v, fused.data());
    if (out.is_signed) {
        std::vector<int8_t> q(n);
        layer_norm_gelu(x, rows, cols, gamma, beta, epsilon, v, out, q.data());
        for (size_t i = 0; i < n; ++i) q_fused[i] = q[i];
    } else {
        std::vector<uint8_t> q(n);
        layer_norm_gelu(x, rows, cols, gamma, beta, epsilon, v, out, q.data());
        for (size_t i = 0; i < n; ++i) q_fused[i] = q[i];
    }
    DriftReport rep;
    rep.variant = variant_name(v);
    rep.rows = rows;
    rep.cols = cols;
    rep.out_scale = out.scale[0];
    rep.out_zero_point = out.zero_point.empty() ? 0 : out.zero_point[0];
    rep.out_signed = out.is_signed;
    const int32_t lo = qmin(out.is_signed), hi = qmax(out.is_signed);
    double sum_abs = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double e = std::fabs(static_cast<double>(fused[i]) - ref[i]);
        sum_abs += e;
        if (e > rep.max_abs_error || std::isnan(e)) rep.max_abs_error = e;
        const int32_t q_ref = quantize_value(static_cast<float>(ref[i]), rep.out_scale, rep.out_zero_point, lo, hi);
        const int32_t d = q_fused[i] - q_ref;
        rep.differing += d != 0;
        rep.max_abs_lsb = std::max(rep.max_abs_lsb, d < 0 ? -d : d);
        rep.lsb_histogram[static_cast<size_t>(std::min(std::max(d, -4), 4) + 4)]++;
    }
    rep.mean_abs_error = n ? sum_abs / static_cast<double>(n) : 0.0;
    return rep;
}

DriftCase make_drift_case(size_t rows, size_t cols, uint32_t seed, float offset) {
    if (rows > 0 && cols == 0) fail("make_drift_case: cols must be > 0");
    if (!std::isfinite(offset)) fail("make_drift_case: offset must be finite");
    if (rows > (size_t{1} << 20) || cols > (size_t{1} << 20) || rows * cols > (size_t{1} << 26))
        fail("make_drift_case: rows * cols must be <= 2^26 (rows, cols <= 2^20)");
    DriftCase dc;
    dc.rows = rows;
    dc.cols = cols;
    dc.out.scale = {1.0f / 32.0f};
    dc.out.zero_point = {-122};
    dc.out.is_signed = true;
    std::mt19937 rng(seed);
    dc.gamma.resize(cols);
    dc.beta.resize(cols);
    for (size_t c = 0; c < cols; ++c) {
        dc.gamma[c] = static_cast<float>(0.5 + unit(rng));
        dc.beta[c] = static_cast<float>(0.5 * unit(rng) - 0.25);
    }
    dc.x.resize(rows * cols);
    const double sqrt3 = 1.7320508075688772935;
    for (size_t r = 0; r < rows; ++r) {
        const double s = 0.25 + 2.0 * unit(rng);
        for (size_t c = 0; c < cols; ++c) {
            // Sequenced draws (the order of calls inside one expression is unspecified).
            double u4 = unit(rng);
            u4 += unit(rng);
            u4 += unit(rng);
            u4 += unit(rng);
            dc.x[r * cols + c] = static_cast<float>(static_cast<double>(offset) + s * sqrt3 * (u4 - 2.0));
        }
    }
    return dc;
}

}  // namespace stacklab::quant
