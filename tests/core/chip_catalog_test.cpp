#include <cstdio>
#include <functional>
#include <set>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"

using namespace stacklab::chip;
using nlohmann::json;

namespace stacklab::chip {
std::ostream& operator<<(std::ostream& os, Provenance p) { return os << provenance_name(p); }
}  // namespace stacklab::chip

namespace {

std::vector<ChipSpec> bundled() { return load_catalog(bundled_catalog_files()); }

const ChipSpec& find(const std::vector<ChipSpec>& chips, const std::string& id) {
    for (const auto& c : chips)
        if (c.id == id) return c;
    BOOST_FAIL("chip " << id << " is not in the catalog");
    throw std::logic_error("unreachable");
}

// A valid chip document whose fields the tests below break one at a time.
json valid_chip() {
    json fig = {{"value", 100}, {"source", "test datasheet"}};
    json figures = json::object();
    for (const auto& k : figure_keys())
        figures[k.name] = k.textual ? json{{"value", "X"}, {"source", "test"}} : fig;
    figures["release_year"] = {{"value", 2022}, {"source", "test"}};
    return {{"id", "test-chip"},     {"name", "Test Chip"},   {"vendor", "Test"}, {"origin", "CN"},
            {"segment", "edge"},     {"summary", "A chip for tests."}, {"figures", figures}};
}

// Parses `doc` as test-chip.json and returns the error message (empty if it parsed).
std::string error_of(const std::string& bytes, const std::string& file = "models/chips/test-chip.json") {
    try {
        parse_chip(bytes, file);
    } catch (const CatalogError& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chip_catalog)

BOOST_AUTO_TEST_CASE(bundled_catalog_has_every_required_accelerator) {
    auto chips = bundled();
    std::set<std::string> ids;
    for (const auto& c : chips) ids.insert(c.id);
    for (const char* id : {"ascend-910b", "ascend-310p", "kunlun-k200", "cambricon-mlu370-x8", "biren-br100",
                           "hygon-dcu-k100", "horizon-journey5", "nvidia-a100", "nvidia-h100"})
        BOOST_TEST(ids.count(id) == 1, "missing " << id);
}

BOOST_AUTO_TEST_CASE(bundled_catalog_is_sorted_by_id_with_unique_ids) {
    auto chips = bundled();
    for (size_t i = 1; i < chips.size(); ++i) BOOST_TEST((chips[i - 1].id < chips[i].id), chips[i - 1].id << " before " << chips[i].id);
}

BOOST_AUTO_TEST_CASE(every_figure_says_where_it_comes_from) {
    for (const auto& c : bundled()) {
        BOOST_TEST_CONTEXT("chip " << c.id) {
            BOOST_TEST(c.figures.size() == figure_keys().size());
            for (const auto& f : c.figures) {
                switch (f.provenance) {
                    case Provenance::sourced: BOOST_TEST(!f.source.empty()); break;
                    case Provenance::claims:
                        BOOST_TEST(f.claims.size() >= 2u);
                        for (const auto& cl : f.claims) BOOST_TEST(!cl.source.empty());
                        break;
                    case Provenance::assumed:
                    case Provenance::unknown: BOOST_TEST(!f.reason.empty()); break;
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(reference_gpus_match_their_datasheets) {
    auto chips = bundled();
    const ChipSpec& a100 = find(chips, "nvidia-a100");
    BOOST_TEST(a100.figure("int8_tops").number() == 624.0);
    BOOST_TEST(a100.figure("fp16_tflops").number() == 312.0);
    BOOST_TEST(a100.figure("memory_bandwidth_gbps").number() == 2039.0);
    BOOST_TEST(a100.origin == "US");
    const ChipSpec& h100 = find(chips, "nvidia-h100");
    BOOST_TEST(h100.figure("fp16_tflops").number() == 989.0);
    BOOST_TEST(h100.figure("memory_bandwidth_gbps").number() == 3350.0);
    // Ridge point (ops per byte) of the fp16 roofline: ~153 for the A100, ~295 for the H100.
    const double ridge_a100 = a100.figure("fp16_tflops").number() * 1e12 / (a100.figure("memory_bandwidth_gbps").number() * 1e9);
    BOOST_TEST(ridge_a100 == 153.0, boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(ascend_910b_keeps_the_conflicting_fp16_claims) {
    const auto chips = bundled();
    const ChipSpec& c = find(chips, "ascend-910b");
    const Figure& f = c.figure("fp16_tflops");
    BOOST_TEST(f.provenance == Provenance::claims);
    std::set<double> claimed;
    for (const auto& cl : f.claims) claimed.insert(std::get<double>(cl.value));
    // The public claims named in shared/reference/chip-figures.md all stay in the catalog.
    for (double v : {256.0, 280.0, 313.0, 320.0, 376.0}) BOOST_TEST(claimed.count(v) == 1u, "claim " << v);
    auto [lo, hi] = f.range();
    BOOST_TEST(lo <= 256.0);
    BOOST_TEST(hi == 376.0);
    BOOST_TEST(f.number() >= lo);
    BOOST_TEST(f.number() <= hi);
    BOOST_TEST(c.origin == "CN");
}

BOOST_AUTO_TEST_CASE(valid_document_parses) {
    ChipSpec c = parse_chip(valid_chip().dump(), "dir/test-chip.json");
    BOOST_TEST(c.id == "test-chip");
    BOOST_TEST(c.figure("int8_tops").number() == 100.0);
    BOOST_TEST(c.figure("memory_type").text() == "X");
}

BOOST_AUTO_TEST_CASE(malformed_json_names_file_line_and_column) {
    std::string e = error_of("{\n  \"id\": \"test-chip\",\n  \"name\": oops\n}");
    BOOST_TEST(contains(e, "models/chips/test-chip.json"), e);
    BOOST_TEST(contains(e, "malformed JSON"), e);
    BOOST_TEST(contains(e, "line 3"), e);
}

BOOST_AUTO_TEST_CASE(errors_name_the_field_that_is_wrong) {
    struct Case {
        std::string what;
        std::function<void(json&)> breakit;
        std::string field;
        std::string problem;
    };
    const std::vector<Case> cases = {
        {"missing figure", [](json& d) { d["figures"].erase("tdp_w"); }, "/figures/tdp_w", "missing"},
        {"string for number", [](json& d) { d["figures"]["int8_tops"]["value"] = "624"; }, "/figures/int8_tops/value",
         "expected a number"},
        {"negative", [](json& d) { d["figures"]["tdp_w"]["value"] = -5; }, "/figures/tdp_w/value", ">= 0"},
        {"typo key", [](json& d) { d["figures"]["int8_top"] = d["figures"]["int8_tops"]; }, "/figures/int8_top",
         "unknown field"},
        {"two forms", [](json& d) { d["figures"]["cores"]["assumed"] = true; }, "/figures/cores", "exactly one"},
        {"no source", [](json& d) { d["figures"]["cores"].erase("source"); }, "/figures/cores", "exactly one"},
        {"one claim", [](json& d) { d["figures"]["fp16_tflops"] = {{"value", 1}, {"claims", {{{"value", 1}, {"source", "s"}}}}}; },
         "/figures/fp16_tflops/claims", "at least two"},
        {"claim range", [](json& d) { d["figures"]["fp16_tflops"] = {{"value", 500}, {"claims", {{{"value", 256}, {"source", "a"}}, {{"value", 376}, {"source", "b"}}}}}; },
         "/figures/fp16_tflops/value", "outside the claims' range"},
        {"claim without source", [](json& d) { d["figures"]["fp16_tflops"] = {{"value", 300}, {"claims", {{{"value", 256}}, {{"value", 376}, {"source", "b"}}}}}; },
         "/figures/fp16_tflops/claims/0/source", "missing"},
        {"unknown with value", [](json& d) { d["figures"]["tdp_w"] = {{"value", 3}, {"unknown", true}, {"reason", "r"}}; },
         "/figures/tdp_w/value", "null"},
        {"assumed without reason", [](json& d) { d["figures"]["tdp_w"] = {{"value", 3}, {"assumed", true}}; },
         "/figures/tdp_w/reason", "missing"},
        {"bad id", [](json& d) { d["id"] = "Test_Chip"; }, "/id", "lowercase"},
        {"id not file name", [](json& d) { d["id"] = "other-chip"; }, "/id", "does not match the file name"},
        {"bad segment", [](json& d) { d["segment"] = "cloud"; }, "/segment", "expected one of"},
        {"bad origin", [](json& d) { d["origin"] = "China"; }, "/origin", "two-letter"},
        {"bad year", [](json& d) { d["figures"]["release_year"]["value"] = 2022.5; }, "/figures/release_year/value", "whole year"},
        {"figures not object", [](json& d) { d["figures"] = json::array(); }, "/figures", "expected an object"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            json doc = valid_chip();
            c.breakit(doc);
            try {
                parse_chip(doc.dump(), "models/chips/test-chip.json");
                BOOST_ERROR("no error for " << c.what);
            } catch (const CatalogError& e) {
                BOOST_TEST(e.file() == "models/chips/test-chip.json");
                BOOST_TEST(e.field() == c.field);
                BOOST_TEST(contains(e.what(), c.problem), e.what());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(duplicate_ids_across_files_are_rejected) {
    const std::string doc = valid_chip().dump();
    try {
        load_catalog({{"a/test-chip.json", doc}, {"b/test-chip.json", doc}});
        BOOST_ERROR("duplicate accepted");
    } catch (const CatalogError& e) {
        BOOST_TEST(e.file() == "b/test-chip.json");
        BOOST_TEST(contains(e.what(), "already defined in a/test-chip.json"), e.what());
    }
}

BOOST_AUTO_TEST_CASE(catalog_json_round_trips_every_figure) {
    auto chips = bundled();
    json doc = json::parse(catalog_json(chips));
    BOOST_TEST_REQUIRE(doc["chips"].size() == chips.size());
    for (size_t i = 0; i < chips.size(); ++i) {
        const json& j = doc["chips"][i];
        BOOST_TEST(j["id"] == chips[i].id);
        for (const auto& k : figure_keys()) {
            const Figure& f = chips[i].figure(k.name);
            const json& jf = j["figures"][k.name];
            if (!f.known())
                BOOST_TEST(jf["value"].is_null());
            else if (k.textual)
                BOOST_TEST(jf["value"].get<std::string>() == f.text());
            else
                BOOST_TEST(jf["value"].get<double>() == f.number());
            if (f.provenance == Provenance::claims && !k.textual) {
                BOOST_TEST(jf["range"][0].get<double>() == f.range().first);
                BOOST_TEST(jf["range"][1].get<double>() == f.range().second);
            }
        }
    }
    // Whole numbers print as integers, as the sources write them.
    const std::string text = catalog_json(chips);
    BOOST_TEST(text.find("\"value\": 624\n") != std::string::npos);
    BOOST_TEST(text.find("\"value\": 624.0") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(format_figure_marks_ranges_assumptions_and_unknowns) {
    Figure f;
    BOOST_TEST(format_figure(f) == "n/a");
    f.value = 312.0;
    f.provenance = Provenance::sourced;
    f.source = "datasheet";
    BOOST_TEST(format_figure(f) == "312");
    f.reported = true;
    BOOST_TEST(format_figure(f) == "312 (r)");
    f.provenance = Provenance::assumed;
    BOOST_TEST(format_figure(f) == "312 (a)");
    f.value = 320.0;
    f.provenance = Provenance::claims;
    f.claims = {{256.0, "a", false}, {376.0, "b", true}};
    BOOST_TEST(format_figure(f) == "320 [256-376]");
    f.value = std::string("HBM2e");
    f.provenance = Provenance::sourced;
    f.reported = false;
    BOOST_TEST(format_figure(f) == "HBM2e");
}

// A valid microarch object (every key sourced from a "test" document) for the tests below.
json valid_microarch() {
    json ma = json::object();
    for (const auto& k : microarch_keys())
        ma[k.name] = k.textual ? json{{"value", "16x16x16"}, {"source", "test"}} : json{{"value", 64}, {"source", "test"}};
    json en = json::object();
    for (const auto& k : energy_keys()) en[k.name] = {{"value", 1.5}, {"assumed", true}, {"reason", "test"}};
    ma["energy"] = en;
    return ma;
}

BOOST_AUTO_TEST_CASE(every_bundled_chip_describes_its_microarchitecture_with_provenance) {
    for (const auto& c : bundled()) {
        BOOST_TEST_CONTEXT("chip " << c.id) {
            BOOST_TEST_REQUIRE(c.has_microarch());
            BOOST_TEST(c.microarch.size() == microarch_keys().size());
            BOOST_TEST(c.energy.size() == energy_keys().size());
            std::vector<Figure> all = c.microarch;
            all.insert(all.end(), c.energy.begin(), c.energy.end());
            for (const auto& f : all) {
                if (f.provenance == Provenance::sourced) BOOST_TEST(!f.source.empty());
                if (f.provenance == Provenance::assumed || f.provenance == Provenance::unknown) BOOST_TEST(!f.reason.empty());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(ascend_910b_microarch_has_the_davinci_cube_and_buffers) {
    const auto chips = bundled();
    const ChipSpec& c = find(chips, "ascend-910b");
    BOOST_TEST(c.micro("matrix_shape_fp16").text() == "16x16x16");
    BOOST_TEST(c.micro("matrix_shape_int8").text() == "16x32x16");
    BOOST_TEST(c.micro("l0a_kib").number() == 64.0);
    BOOST_TEST(c.micro("l0b_kib").number() == 64.0);
    BOOST_TEST(c.micro("l0c_kib").number() == 128.0);
    BOOST_TEST(c.micro("l1_kib").number() == 512.0);
    BOOST_TEST(c.micro("ub_kib").number() == 192.0);
    BOOST_TEST(c.micro("l2_mib").number() == 192.0);
    BOOST_TEST(c.micro("matrix_cores").number() == 24.0);
    BOOST_TEST(c.micro("vector_cores").number() == 48.0);
    BOOST_CHECK_THROW(c.micro("l3_kib"), std::out_of_range);
}

// cores x MACs/cycle x 2 x clock must agree with the catalog's public peak: within its claims'
// range where sources conflict, within 2% of a single figure otherwise. Peaks the catalog itself
// assumes (910B bf16 := the fp16 default) are our guesses, not public figures, and are skipped.
BOOST_AUTO_TEST_CASE(microarch_peaks_agree_with_the_catalog_peaks) {
    for (const auto& c : bundled()) {
        for (const char* dt : {"int8", "fp16", "bf16"}) {
            const Figure& shape = c.micro(std::string("matrix_shape_") + dt);
            const Figure& peak = c.figure(std::string(dt) + (std::string(dt) == "int8" ? "_tops" : "_tflops"));
            if (!shape.known() || !peak.known() || !c.micro("clock_mhz").known()) continue;
            if (peak.provenance == Provenance::assumed) continue;
            BOOST_TEST_CONTEXT(c.id << " " << dt) {
                int m = 0, k = 0, n = 0;
                BOOST_TEST_REQUIRE(std::sscanf(shape.text().c_str(), "%dx%dx%d", &m, &k, &n) == 3);
                const double derived = c.micro("matrix_cores").number() * m * k * n * 2 * c.micro("clock_mhz").number() * 1e6 / 1e12;
                const auto [lo, hi] = peak.range();
                BOOST_TEST(derived >= lo * 0.98, derived << " vs [" << lo << ", " << hi << "]");
                BOOST_TEST(derived <= hi * 1.02, derived << " vs [" << lo << ", " << hi << "]");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(microarch_errors_name_the_field) {
    struct Case {
        std::string what;
        std::function<void(json&)> breakit;
        std::string field;
        std::string problem;
    };
    const std::vector<Case> cases = {
        {"unknown key", [](json& m) { m["l3_kib"] = m["l1_kib"]; }, "/microarch/l3_kib", "unknown field"},
        {"unknown energy key", [](json& m) { m["energy"]["dram_pj"] = m["energy"]["l2_byte_pj"]; }, "/microarch/energy/dram_pj", "unknown field"},
        {"missing key", [](json& m) { m.erase("ub_kib"); }, "/microarch/ub_kib", "missing"},
        {"bad shape", [](json& m) { m["matrix_shape_int8"]["value"] = "16x32"; }, "/microarch/matrix_shape_int8/value", "MxKxN"},
        {"zero buffer", [](json& m) { m["l1_kib"]["value"] = 0; }, "/microarch/l1_kib/value", "> 0"},
        {"fractional cores", [](json& m) { m["matrix_cores"]["value"] = 2.5; }, "/microarch/matrix_cores/value", "whole number"},
        {"shape as number", [](json& m) { m["matrix_shape_fp16"]["value"] = 16; }, "/microarch/matrix_shape_fp16/value", "non-empty string"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            json doc = valid_chip();
            doc["microarch"] = valid_microarch();
            BOOST_REQUIRE_NO_THROW(parse_chip(doc.dump(), "models/chips/test-chip.json"));
            c.breakit(doc["microarch"]);
            try {
                parse_chip(doc.dump(), "models/chips/test-chip.json");
                BOOST_ERROR("no error for " << c.what);
            } catch (const CatalogError& e) {
                BOOST_TEST(e.field() == c.field);
                BOOST_TEST(contains(e.what(), c.problem), e.what());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(catalog_json_carries_microarch_only_when_present) {
    json doc = valid_chip();
    const std::string without = catalog_json({parse_chip(doc.dump(), "test-chip.json")});
    BOOST_TEST(!contains(without, "microarch"));
    doc["microarch"] = valid_microarch();
    const json with = json::parse(catalog_json({parse_chip(doc.dump(), "test-chip.json")}));
    BOOST_TEST(with["chips"][0]["microarch"]["l1_kib"]["value"] == 64);
    BOOST_TEST(with["chips"][0]["microarch"]["matrix_shape_fp16"]["value"] == "16x16x16");
    BOOST_TEST(with["chips"][0]["microarch"]["energy"]["l2_byte_pj"]["value"] == 1.5);
    BOOST_TEST(with["chips"][0]["microarch"]["energy"]["l2_byte_pj"]["provenance"] == "assumed");
}

BOOST_AUTO_TEST_SUITE_END()
