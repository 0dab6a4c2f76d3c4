// The SCALE-Sim v2 compatible systolic model: SCALE-Sim's own golden run reproduced exactly, small
// GEMMs checked against cycle counts derived by hand from SCALE-Sim's demand-matrix rules, the
// stall bookkeeping, and clear errors for malformed inputs.
#include <boost/test/unit_test.hpp>

#include "chip/systolic.hpp"

using namespace stacklab::chip;

namespace {

// scale-sim-v2 topologies/conv_nets/alexnet_part.csv and configs/scale.cfg as its golden test runs
// it (Dataflow ws, InterfaceBandwidth CALC); the same bytes as tests/data/scalesim/.
const char* kAlexnetConv1 =
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "Conv1,  224, 224,    11, 11,    3,      96,     4,\n";

std::string config(const std::string& df, const std::string& mode, int rows = 32, int cols = 32, int sram_kb = 64,
                   int bandwidth = 64, int ofmap_kb = -1) {
    if (ofmap_kb < 0) ofmap_kb = sram_kb;
    return "[general]\nrun_name = test\n\n[architecture_presets]\nArrayHeight:    " + std::to_string(rows) +
           "\nArrayWidth:     " + std::to_string(cols) + "\nIfmapSramSzkB:   " + std::to_string(sram_kb) +
           "\nFilterSramSzkB:  " + std::to_string(sram_kb) + "\nOfmapSramSzkB:   " + std::to_string(ofmap_kb) +
           "\nIfmapOffset:    0\nFilterOffset:   10000000\nOfmapOffset:    20000000\nBandwidth : " +
           std::to_string(bandwidth) + "\nDataflow : " + df + "\nMemoryBanks:   1\n\n[run_presets]\nInterfaceBandwidth: " +
           mode + "\n";
}

LayerReport run_gemm(const std::string& cfg_text, const std::string& gemm_row) {
    auto cfg = parse_scalesim_config(cfg_text, "test.cfg");
    auto layers = parse_scalesim_gemm_topology("Layer, M, N, K,\n" + gemm_row + "\n", "gemm.csv");
    BOOST_REQUIRE_EQUAL(layers.size(), 1u);
    return simulate_scalesim_layer(cfg, layers[0]);
}

template <typename F>
void check_error(F f, const std::string& expected_substring) {
    try {
        f();
        BOOST_FAIL("no error, expected one containing: " + expected_substring);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_CHECK(std::string(e.what()).find(expected_substring) != std::string::npos);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_systolic)

// scale-sim-v2 test/golden_trace/COMPUTE_REPORT.csv:
//   0, 112283, 0, 91.68309650614964, 94.53125, 90.78000992063485,
// and test/general/golden_trace/DETAILED_ACCESS_REPORT.csv: SRAM reads 3294225 / 34848, SRAM
// writes 3484800, DRAM reads 1805023 / 34848, DRAM writes 3484831.
BOOST_AUTO_TEST_CASE(alexnet_conv1_on_32x32_ws_matches_scalesim_golden_reports_exactly) {
    auto cfg = parse_scalesim_config(config("ws", "CALC"), "scale.cfg");
    auto layers = parse_scalesim_topology(kAlexnetConv1, "alexnet_part.csv");
    BOOST_REQUIRE_EQUAL(layers.size(), 1u);
    // ceil((224 - 11 + 4) / 4) = 55: SCALE-Sim lets the last window run past the ifmap edge.
    BOOST_CHECK_EQUAL(ofmap_rows(layers[0]), 55);
    const LayerReport r = simulate_scalesim_layer(cfg, layers[0]);
    BOOST_CHECK_EQUAL(r.layer, "Conv1");
    BOOST_CHECK_EQUAL(r.total_cycles, 112283);
    BOOST_CHECK_EQUAL(r.stall_cycles, 0);
    // The percentages are the same IEEE operations as SCALE-Sim's; Python printed them with repr.
    BOOST_CHECK_CLOSE_FRACTION(r.overall_util_pct, 91.68309650614964, 1e-15);
    BOOST_CHECK_EQUAL(r.mapping_eff_pct, 94.53125);
    BOOST_CHECK_CLOSE_FRACTION(r.compute_util_pct, 90.78000992063485, 1e-15);
    BOOST_CHECK_EQUAL(r.sram_ifmap_reads, 3294225);
    BOOST_CHECK_EQUAL(r.sram_filter_reads, 34848);
    BOOST_CHECK_EQUAL(r.sram_ofmap_writes, 3484800);
    BOOST_CHECK_EQUAL(r.dram_ifmap_reads, 1805023);
    BOOST_CHECK_EQUAL(r.dram_filter_reads, 34848);
    BOOST_CHECK_EQUAL(r.dram_ofmap_writes, 3484831);
    BOOST_CHECK_EQUAL(r.folds, 36);  // ceil(363 / 32) row folds x ceil(96 / 32) column folds
}

// With the user bandwidth (64 words/cycle) the 64 KB buffers still hide every DRAM access, so the
// compute report is the same; DRAM counts are then whole fetch lines (read_buffer.py rev 48f6938).
BOOST_AUTO_TEST_CASE(alexnet_conv1_with_user_bandwidth_keeps_the_golden_cycle_count) {
    auto cfg = parse_scalesim_config(config("ws", "USER"), "scale.cfg");
    const LayerReport r = simulate_scalesim_layer(cfg, parse_scalesim_topology(kAlexnetConv1, "t.csv")[0]);
    BOOST_CHECK_EQUAL(r.total_cycles, 112283);
    BOOST_CHECK_EQUAL(r.stall_cycles, 0);
    BOOST_CHECK_EQUAL(r.dram_filter_reads % 64, 0);
    BOOST_CHECK_GE(r.dram_filter_reads, 34848);  // at least every filter word once
}

// Hand derivation, GEMM M = N = K = 8 on a 4 x 4 array with 64 KB SRAMs (everything fits, so no
// stalls; total cycles = demand rows - 1, the cycle of the last ofmap row):
//   WS: spatial rows K = 8, cols N = 8, time T = M = 8 -> 2 x 2 folds. A fold's ifmap demand is
//       R null rows (weights load) + T rows + C-1 null rows (drain), skewed by R-1:
//       4 + 8 + 3 + 3 = 18 rows. 4 folds -> 72 rows -> 71 cycles.
//       Util = 8*8*8 / (71 * 16) = 45.07%; every fold uses all 16 PEs (mapping 100%); per fold
//       compute util = 16 * 8 / (16 * (18 + 3)) = 8/21 = 38.10%.
//       SRAM: ifmap 4 folds x 8 x 4, filter 4 x 16, ofmap 4 x 8 x 4 (partial sums per row fold).
//   OS: rows = ofmap pixels M = 8, cols N = 8, T = K = 8 -> 4 folds of T + R + C - 2 = 14 rows
//       -> 55 cycles; util 512 / (55 * 16) = 58.18%; compute util 8/14 = 57.14%. The OS ofmap
//       SRAM count is 4 x 16 plus SCALE-Sim's extra (R + C) per fold = 96.
//   IS: rows = K = 8, cols = M = 8, T = N = 8 -> 4 folds of 2R + C + T - 2 = 18 rows -> 71.
// DRAM (CALC): every operand word is read once: 64 ifmap, 64 filter; ofmap writes = the outputs
// written to SRAM except for OS whose quirk only touches the SRAM count (64).
BOOST_AUTO_TEST_CASE(gemm_8x8x8_on_4x4_matches_hand_derived_cycles_for_each_dataflow) {
    struct Row {
        const char* df;
        int64_t cycles;
        double util, compute_util;
        int64_t sram_i, sram_f, sram_o, dram_o;
    };
    const Row rows[] = {
        {"ws", 71, 51200.0 / 1136, 100.0 * 8 / 21, 128, 64, 128, 128},
        {"os", 55, 51200.0 / 880, 100.0 * 8 / 14, 128, 128, 96, 64},
        {"is", 71, 51200.0 / 1136, 100.0 * 8 / 21, 64, 128, 128, 128},
    };
    for (const auto& e : rows) {
        BOOST_TEST_CONTEXT("dataflow " << e.df) {
            const LayerReport r = run_gemm(config(e.df, "CALC", 4, 4), "g, 8, 8, 8,");
            BOOST_CHECK_EQUAL(r.total_cycles, e.cycles);
            BOOST_CHECK_EQUAL(r.stall_cycles, 0);
            BOOST_CHECK_CLOSE_FRACTION(r.overall_util_pct, e.util, 1e-14);
            BOOST_CHECK_EQUAL(r.mapping_eff_pct, 100.0);
            BOOST_CHECK_CLOSE_FRACTION(r.compute_util_pct, e.compute_util, 1e-14);
            BOOST_CHECK_EQUAL(r.sram_ifmap_reads, e.sram_i);
            BOOST_CHECK_EQUAL(r.sram_filter_reads, e.sram_f);
            BOOST_CHECK_EQUAL(r.sram_ofmap_writes, e.sram_o);
            BOOST_CHECK_EQUAL(r.dram_ifmap_reads, 64);
            BOOST_CHECK_EQUAL(r.dram_filter_reads, 64);
            BOOST_CHECK_EQUAL(r.dram_ofmap_writes, e.dram_o);
            // USER mode, 10 words/cycle: the first prefetch fetches the whole operand in
            // ceil(64 / 10) = 7 lines of 10 words; nothing else is ever fetched, and the cycles agree.
            const LayerReport u = run_gemm(config(e.df, "USER", 4, 4, 64, 10), "g, 8, 8, 8,");
            BOOST_CHECK_EQUAL(u.total_cycles, e.cycles);
            BOOST_CHECK_EQUAL(u.dram_ifmap_reads, 70);
            BOOST_CHECK_EQUAL(u.dram_filter_reads, 70);
            BOOST_CHECK_EQUAL(u.dram_ofmap_writes, e.dram_o);  // 13 lines of 10, last one holds 8 (or 7 holding 4)
        }
    }
}

// Hand derivation for partly used folds, GEMM M = 5, N = 3, K = 6 on 4 x 4:
//   WS: K = 6 -> row folds of 4 and 2 PEs rows; N = 3 -> one column fold of 3; T = 5.
//       Rows per fold 2*4 + 5 + 4 - 2 = 15 -> 30 rows -> 29 cycles; util 90 / (29 * 16);
//       mapping (12 + 6) / 32 = 56.25%; compute util (12*5 + 6*5) / (16 * 18) / 2 = 15.625%.
//   OS: pixels 5 -> row folds 4 and 1; N = 3; T = K = 6: 2 folds of 6 + 4 + 4 - 2 = 12 -> 23;
//       mapping (12 + 3) / 32 = 46.875%; compute util (12*6 + 3*6) / (16 * 12) / 2 = 23.4375%.
//   IS: K = 6 -> 4 and 2; pixels 5 -> 4 and 1; T = N = 3: 4 folds of 8 + 4 + 3 - 2 = 13 -> 51;
//       mapping (16 + 4 + 8 + 2) / 64 = 46.875%; compute util 30 * 3 / (16 * 16) / 4 = 8.7890625%.
BOOST_AUTO_TEST_CASE(gemm_with_partly_used_folds_matches_hand_derived_values) {
    struct Row {
        const char* df;
        int64_t cycles;
        double mapping, compute_util;
    };
    const Row rows[] = {{"ws", 29, 56.25, 15.625}, {"os", 23, 46.875, 23.4375}, {"is", 51, 46.875, 8.7890625}};
    for (const auto& e : rows) {
        BOOST_TEST_CONTEXT("dataflow " << e.df) {
            const LayerReport r = run_gemm(config(e.df, "USER", 4, 4, 64, 10), "g536, 5, 3, 6,");
            BOOST_CHECK_EQUAL(r.total_cycles, e.cycles);
            BOOST_CHECK_EQUAL(r.stall_cycles, 0);
            BOOST_CHECK_CLOSE_FRACTION(r.overall_util_pct, 9000.0 / (e.cycles * 16), 1e-14);
            BOOST_CHECK_EQUAL(r.mapping_eff_pct, e.mapping);
            BOOST_CHECK_CLOSE_FRACTION(r.compute_util_pct, e.compute_util, 1e-14);
            BOOST_CHECK_EQUAL(r.macs, 90);
        }
    }
}

// A 1 KB ifmap SRAM fed 1 word/cycle cannot keep up: rows wait for prefetches. Stalls shift every
// later row, and the last WS demand row holds only an output, so total = rows - 1 + stalls.
BOOST_AUTO_TEST_CASE(starved_read_buffer_stalls_and_stalls_add_to_total_cycles) {
    const LayerReport fast = run_gemm(config("ws", "USER", 4, 4, 64, 10), "g, 100, 4, 8,");
    const LayerReport slow = run_gemm(config("ws", "USER", 4, 4, 1, 1, 64), "g, 100, 4, 8,");
    // Stall-free: 2 row folds x 1 column fold of 2*4 + 100 + 4 - 2 = 110 rows.
    BOOST_CHECK_EQUAL(fast.stall_cycles, 0);
    BOOST_CHECK_EQUAL(fast.total_cycles, 219);
    BOOST_CHECK_GT(slow.stall_cycles, 0);
    BOOST_CHECK_EQUAL(slow.total_cycles, 219 + slow.stall_cycles);
    BOOST_CHECK_LT(slow.overall_util_pct, fast.overall_util_pct);
    // Compute-side figures do not depend on memory.
    BOOST_CHECK_EQUAL(slow.mapping_eff_pct, fast.mapping_eff_pct);
    BOOST_CHECK_EQUAL(slow.sram_ifmap_reads, fast.sram_ifmap_reads);
}

// An ofmap SRAM smaller than one fold's outputs, drained at 1 word/cycle while the array writes 4
// per cycle, fills up: the write side stalls.
BOOST_AUTO_TEST_CASE(full_ofmap_buffer_stalls_the_array) {
    const LayerReport r = run_gemm(config("ws", "USER", 4, 4, 64, 1, 1), "g, 2000, 4, 4,");
    BOOST_CHECK_GT(r.stall_cycles, 0);
    BOOST_CHECK_EQUAL(r.dram_ofmap_writes, 8000);  // full 1-word lines: no padding
}

BOOST_AUTO_TEST_CASE(depthwise_layers_split_per_channel_and_the_trailing_comma_is_optional) {
    auto layers = parse_scalesim_topology(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "\n"
        "Conv_DP, 8, 8, 3, 3, 3, 1, 1,\n"
        "Plain, 9, 7, 3, 2, 2, 4, 2, 1\n",
        "t.csv");
    BOOST_REQUIRE_EQUAL(layers.size(), 4u);
    BOOST_CHECK_EQUAL(layers[0].name, "Conv_DPChannel_0");
    BOOST_CHECK_EQUAL(layers[2].channels, 1);
    BOOST_CHECK_EQUAL(layers[3].stride_h, 2);
    BOOST_CHECK_EQUAL(layers[3].stride_w, 1);
    BOOST_CHECK_EQUAL(ofmap_rows(layers[3]), 4);  // ceil((9 - 3 + 2) / 2)
    BOOST_CHECK_EQUAL(ofmap_cols(layers[3]), 6);
}

BOOST_AUTO_TEST_CASE(config_reads_configparser_syntax_case_insensitive_keys_and_comments) {
    const std::string text =
        "# comment\n[general]\nrun_name = r\n[architecture_presets]\narrayheight = 8\nARRAYWIDTH: 16\n"
        "; another comment\nIfmapSramSzkB=2\nFilterSramSzkB:3\nOfmapSramSzkB : 4\nIfmapOffset:0\nFilterOffset:5\n"
        "OfmapOffset:6\nBandwidth: 7\nDataflow: is\nIfmapCustomLayout: True\n[run_presets]\nInterfaceBandwidth: USER\n";
    const SystolicConfig c = parse_scalesim_config(text, "x.cfg");
    BOOST_CHECK_EQUAL(c.array_rows, 8);
    BOOST_CHECK_EQUAL(c.array_cols, 16);
    BOOST_CHECK_EQUAL(c.ofmap_sram_kb, 4);
    BOOST_CHECK(c.dataflow == Dataflow::is);
    BOOST_CHECK(c.user_bandwidth);
    BOOST_REQUIRE_EQUAL(c.bandwidths.size(), 1u);
    BOOST_CHECK_EQUAL(c.bandwidths[0], 7);
}

BOOST_AUTO_TEST_CASE(malformed_inputs_name_the_input_line_and_field) {
    const std::string good = config("ws", "USER");
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        s.replace(s.find(from), from.size(), to);
        return s;
    };
    check_error([&] { parse_scalesim_config(replace("ArrayWidth:     32", "ArrayWidth: 3x2"), "a.cfg"); },
                "a.cfg:6: ArrayWidth: \"3x2\" is not an integer");
    check_error([&] { parse_scalesim_config(replace("Dataflow : ws", "Dataflow : rs"), "a.cfg"); },
                "a.cfg:14: Dataflow: \"rs\" is not one of os, ws, is");
    check_error([&] { parse_scalesim_config(replace("IfmapSramSzkB:   64\n", ""), "a.cfg"); },
                "a.cfg:0: [architecture_presets] IfmapSramSzkB: missing");
    check_error([&] { parse_scalesim_config(replace("InterfaceBandwidth: USER", "InterfaceBandwidth: AUTO"), "a.cfg"); },
                "InterfaceBandwidth: \"AUTO\" is neither USER nor CALC");
    check_error([&] { parse_scalesim_config(replace("ArrayHeight:    32", "ArrayHeight: 0"), "a.cfg"); },
                "a.cfg:5: ArrayHeight: must be at least 1");
    check_error([&] { parse_scalesim_config(replace("[general]", "[general"), "a.cfg"); }, "a.cfg:1:");
    check_error([&] { parse_scalesim_config(replace("MemoryBanks:   1", "MemoryBanks: 2"), "a.cfg"); },
                "MemoryBanks: only 1 bank is supported");

    const std::string header =
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";
    check_error([&] { parse_scalesim_topology(header + "c, 224, 224, 11, 11, 3, 96,\n", "t.csv"); },
                "t.csv:2: row: expected 8 fields");
    check_error([&] { parse_scalesim_topology(header + "c, 224, 2x4, 11, 11, 3, 96, 4,\n", "t.csv"); },
                "t.csv:2: IFMAP Width: \"2x4\" is not an integer");
    check_error([&] { parse_scalesim_topology(header + "c, 8, 8, 9, 3, 3, 9, 1,\n", "t.csv"); },
                "t.csv:2: Filter Height: larger than IFMAP Height");
    check_error([&] { parse_scalesim_topology(header + "c, 8, 8, 3, 3, 0, 9, 1,\n", "t.csv"); },
                "t.csv:2: Channels: must be at least 1");
    check_error([&] { parse_scalesim_topology(header, "t.csv"); }, "t.csv:0: rows: no layers");
    check_error([&] { parse_scalesim_gemm_topology("Layer, M, N, K,\ng, 1, 2,\n", "g.csv"); },
                "g.csv:2: row: expected 4 fields (Layer, M, N, K)");
    check_error([&] { parse_scalesim_gemm_topology("Layer, M, N, K,\ng, 1, -2, 3,\n", "g.csv"); },
                "g.csv:2: N: must be at least 1");
}

// Reports of the first implementation, which built every demand row and served it entry by entry
// through hashed address sets as SCALE-Sim does; the current one computes the rows' non-null spans
// in closed form, stamps flat arrays, stores ofmap entries in bulk and skips repeated all-hit slices,
// and must give the same bits.
// The cases cover each dataflow in both bandwidth modes with read and write stalls (c1, g2), a
// stride so large that the ifmap addresses are indexed sparsely (s1), 1200 columns so that one
// demand row closes two CALC estimate windows (w1 "is": SCALE-Sim's division by zero), a drain
// with partly filled lines (w1 "ws" USER), and folds whose operand slice repeats the previous
// fold's, whose look-ups are skipped once they all hit (filter slices in several cases, USER and
// CALC; ifmap slices in g3, which has a single row fold).
BOOST_AUTO_TEST_CASE(fast_paths_reproduce_the_per_entry_implementation_bit_for_bit) {
    struct Case {
        const char* layer;
        const char* df;
        bool user;
        int64_t rows, cols, ifmap_kb, filter_kb, ofmap_kb, bandwidth;
        int64_t cycles, stalls;
        double util, mapping, compute;
        int64_t sram_i, sram_f, sram_o, dram_i, dram_f, dram_o;
        const char* error;
    };
    const Case cases[] = {
        {"c1", "os", true, 16, 8, 8, 4, 2, 2, 162074, 152169, 3.8947053120796675, 77.073317307692307, 63.722033994548731, 127575, 51870, 9567, 327680, 2048, 7696, ""},
        {"c1", "ws", true, 16, 8, 8, 4, 2, 2, 80254, 70952, 7.8654081883769029, 74.21875, 66.796875000000028, 127575, 1995, 53865, 163840, 2048, 53868, ""},
        {"c1", "is", true, 16, 8, 8, 4, 2, 2, 26360, 6012, 23.94652764605463, 93.060661764705884, 27.627383961397058, 42525, 101745, 53865, 40960, 2048, 53866, ""},
        {"c1", "os", false, 16, 8, 8, 4, 2, 10, 9905, 0, 63.728467314487631, 77.073317307692307, 63.722033994548731, 127575, 51870, 9567, 61278, 1995, 7702, ""},
        {"c1", "ws", false, 16, 8, 8, 4, 2, 10, 9302, 0, 67.859650478391742, 74.21875, 66.796875000000028, 127575, 1995, 53865, 121905, 1995, 53872, ""},
        {"c1", "is", false, 16, 8, 8, 4, 2, 10, 20348, 0, 31.021745073225869, 93.060661764705884, 27.627383961397058, 42525, 101745, 53865, 20778, 1995, 53872, ""},
        {"s1", "os", true, 16, 8, 8, 4, 2, 2, 39, 0, 28.846153846153847, 62.5, 28.125, 288, 90, 104, 288, 144, 80, ""},
        {"s1", "ws", true, 16, 8, 8, 4, 2, 2, 107, 0, 10.514018691588785, 35.15625, 9.221311475409836, 288, 90, 160, 512, 144, 160, ""},
        {"s1", "is", true, 16, 8, 8, 4, 2, 2, 171, 0, 6.5789473684210522, 56.25, 5.6250000000000009, 288, 180, 160, 288, 160, 160, ""},
        {"s1", "os", false, 2, 1200, 1, 1, 1, 10, 9743, 0, 0.0061582674740839581, 0.41666666666666669, 0.0061576354679802941, 288, 720, 9696, 162, 90, 80, ""},
        {"w1", "ws", false, 2, 1200, 1, 1, 1, 10, 4801, 0, 0.09373047281816288, 0.125, 0.074987502082986171, 3600, 3, 10800, 3600, 3, 10800, ""},
        {"w1", "is", false, 2, 1200, 1, 1, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "SCALE-Sim's CALC bandwidth estimate divides by zero for this layer"},
        {"g2", "os", true, 5, 3, 1, 2, 1, 3, 64869, 46410, 24.716479879963209, 94.871794871794947, 86.854460093896293, 84500, 48100, 5780, 193914, 10260, 3700, ""},
        {"g2", "ws", true, 5, 3, 1, 2, 1, 3, 45416, 26658, 35.303270506723031, 94.871794871794947, 83.957340594508807, 84500, 2405, 48100, 135945, 10260, 48100, ""},
        {"g2", "is", true, 5, 3, 1, 2, 1, 3, 63034, 41819, 25.436008080295291, 98.039215686274446, 72.549019607843576, 6500, 81770, 48100, 187245, 99522, 48100, ""},
        {"w1", "ws", true, 16, 8, 8, 4, 2, 2, 4655, 1018, 1.8125671321160044, 2.34375, 2.3148148148148149, 3600, 3, 10800, 4096, 8, 10803, ""},
        {"g3", "os", true, 16, 8, 1, 1, 1, 2, 551, 292, 17.014519056261342, 62.5, 36.057692307692307, 1500, 1200, 520, 480, 1536, 400, ""},
        {"g3", "os", false, 16, 8, 1, 1, 1, 2, 259, 0, 36.196911196911195, 62.5, 36.057692307692307, 1500, 1200, 520, 300, 1200, 400, ""},
    };
    const ConvLayer layers[] = {{"c1", 57, 43, 5, 3, 7, 19, 2, 3},
                                {"s1", 2000, 2000, 3, 3, 2, 5, 700, 700},
                                {"w1", 60, 60, 1, 1, 1, 3, 1, 1},
                                {"g2", 100, 65, 1, 65, 1, 37, 1, 1},   // GEMM M = 100, N = 37, K = 65
                                {"g3", 10, 30, 1, 30, 1, 40, 1, 1}};   // GEMM M = 10, N = 40, K = 30
    for (const auto& e : cases) {
        BOOST_TEST_CONTEXT(e.layer << " " << e.df << (e.user ? " USER" : " CALC")) {
            SystolicConfig cfg;
            cfg.array_rows = e.rows, cfg.array_cols = e.cols;
            cfg.ifmap_sram_kb = e.ifmap_kb, cfg.filter_sram_kb = e.filter_kb, cfg.ofmap_sram_kb = e.ofmap_kb;
            cfg.dataflow = std::string(e.df) == "os" ? Dataflow::os : std::string(e.df) == "ws" ? Dataflow::ws : Dataflow::is;
            cfg.user_bandwidth = e.user;
            cfg.bandwidths = {e.bandwidth};
            const ConvLayer* l = nullptr;
            for (const auto& c : layers)
                if (c.name == e.layer) l = &c;
            BOOST_REQUIRE(l);
            if (*e.error) {
                check_error([&] { simulate_scalesim_layer(cfg, *l); }, e.error);
                continue;
            }
            const LayerReport r = simulate_scalesim_layer(cfg, *l);
            BOOST_CHECK_EQUAL(r.total_cycles, e.cycles);
            BOOST_CHECK_EQUAL(r.stall_cycles, e.stalls);
            BOOST_CHECK_EQUAL(r.overall_util_pct, e.util);  // printed with 17 digits: exact
            BOOST_CHECK_EQUAL(r.mapping_eff_pct, e.mapping);
            BOOST_CHECK_EQUAL(r.compute_util_pct, e.compute);
            BOOST_CHECK_EQUAL(r.sram_ifmap_reads, e.sram_i);
            BOOST_CHECK_EQUAL(r.sram_filter_reads, e.sram_f);
            BOOST_CHECK_EQUAL(r.sram_ofmap_writes, e.sram_o);
            BOOST_CHECK_EQUAL(r.dram_ifmap_reads, e.dram_i);
            BOOST_CHECK_EQUAL(r.dram_filter_reads, e.dram_f);
            BOOST_CHECK_EQUAL(r.dram_ofmap_writes, e.dram_o);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
