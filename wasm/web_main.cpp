// The browser shell: Emscripten's GLFW on a WebGL2 canvas, the same ui/ as the desktop app.
// It also exports a small C API that web/index.html wraps as window.stacklab:
//   stacklab_chips_json()      the document `stacklab chips --json` prints
//   stacklab_ui_report_json()  what the UI drew in the last frame (for the browser tests)
//   stacklab_alloc(n), stacklab_free(p), stacklab_load_model(name, p, n)
//                              hand the bytes of an ONNX file the page read (file picker, drop on the
//                              canvas) to the Models tab; returns "" or the error the banner shows
//   stacklab_verify_certificate(name, p, n)
//                              the bytes of a certificate .json the page read (file picker, drop) verified
//                              in the Certify tab; returns the one-line verdict naming the file
//   stacklab_scenario_query()  the scenario shown, as the URL hash writes it (ui::scenario_query)
//   stacklab_scenario_json()   the same as the JSON document the desktop app saves
//   stacklab_apply_hash(q)     the page's hashchange listener: applies the decoded hash as a link
//                              (ui::apply_scenario_link); returns "" or the banner's text
// The page's URL hash follows the scenario: after a frame that changed it, history.replaceState
// rewrites the hash (no history entry per change, no hashchange event, so no reload), at most every
// kHashIntervalMs so that playback or a dragged slider cannot hit the browser's limit on
// replaceState calls (Chrome and Firefox throttle at about 100-200 calls per 10-30 s).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <GLFW/glfw3.h>
#include <emscripten.h>
#include <emscripten/html5.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>
#include <nlohmann/json.hpp>

#include "chip/catalog.hpp"
#include "ui/app.hpp"

namespace {

GLFWwindow* g_window = nullptr;
stacklab::ui::AppState* g_state = nullptr;
std::string g_out;  // keeps the last string handed to JS alive until the next call
std::string g_hash;      // the scenario the URL hash holds (the opening hash until something changes)
double g_hash_at_ms = 0; // when it was last written
constexpr double kHashIntervalMs = 400;

// The page URL with the scenario as its hash (no hash for the default scenario). encodeURI keeps
// '&', '=', '@', ',' and ':' readable; the page decodes the hash before handing it to main().
void write_hash(const std::string& query) {
    EM_ASM({
        var q = UTF8ToString($0);
        history.replaceState(history.state, "", location.pathname + location.search + (q ? "#" + encodeURI(q) : ""));
    }, query.c_str());
    g_hash = query;
    g_hash_at_ms = emscripten_get_now();
}

void copy_link(const std::string& query) {
    write_hash(query);
    EM_ASM({
        var url = location.href;
        window.stacklab.lastLink = url;
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(url).catch(function () {});
    });
}

void download_json(const std::string& text) {
    EM_ASM({
        var blob = new Blob([UTF8ToString($0)], { type: 'application/json' });
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'stacklab-scenario.json';
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    }, text.c_str());
}

// The Certify panel's exports (certificate, reports, the audit log's binary bytes): a download of
// exactly these bytes, handed over as pointer and length (the log is not text).
void download_bytes(const std::string& name, const std::string& bytes, const std::string& mime) {
    EM_ASM({
        var blob = new Blob([HEAPU8.slice($0, $0 + $1)], { type: UTF8ToString($3) });
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = UTF8ToString($2);
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    }, bytes.data(), int(bytes.size()), name.c_str(), mime.c_str());
}

// Emscripten 3.1.6's GLFW hands the scroll callback the browser's raw wheel deltas (pixels, down
// positive) where GLFW gives steps with up positive; ImGui would scroll by ~100 lines the wrong way
// per notch. Convert as Emscripten's own Browser.getMouseWheelDelta does (100 pixels a step, at
// least one step).
void scroll_in_steps(GLFWwindow* window, double dx, double dy) {
    auto steps = [](double d) {
        const double s = -d / 100.0;
        return s == 0 ? 0.0 : s > 0 ? std::max(s, 1.0) : std::min(s, -1.0);
    };
    ImGui_ImplGlfw_ScrollCallback(window, steps(dx), steps(dy));
}

int canvas_css_width() { return EM_ASM_INT({ return window.innerWidth; }); }
int canvas_css_height() { return EM_ASM_INT({ return window.innerHeight; }); }

void frame() {
    int w = canvas_css_width(), h = canvas_css_height();
    int cur_w = 0, cur_h = 0;
    glfwGetWindowSize(g_window, &cur_w, &cur_h);
    if (w > 0 && h > 0 && (w != cur_w || h != cur_h)) glfwSetWindowSize(g_window, w, h);

    glfwPollEvents();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    stacklab::ui::draw_app(*g_state);
    ImGui::Render();
    int fb_w = 0, fb_h = 0;
    glfwGetFramebufferSize(g_window, &fb_w, &fb_h);
    glViewport(0, 0, fb_w, fb_h);
    const ImVec4 bg = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
    glClearColor(bg.x, bg.y, bg.z, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    // The page tells tests (and people) that the app is up once real frames have been drawn.
    if (g_state->frame == 2)
        EM_ASM({ document.documentElement.setAttribute('data-stacklab-ready', 'true'); });
    const std::string q = stacklab::ui::scenario_query(*g_state);
    if (q != g_hash && emscripten_get_now() - g_hash_at_ms >= kHashIntervalMs) write_hash(q);
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* stacklab_chips_json() {
    try {
        g_out = stacklab::chip::catalog_json(stacklab::chip::load_catalog(stacklab::chip::bundled_catalog_files()));
    } catch (const std::exception& e) {
        g_out = nlohmann::json{{"error", e.what()}}.dump();
    }
    return g_out.c_str();
}

EMSCRIPTEN_KEEPALIVE void* stacklab_alloc(int bytes) { return std::malloc(size_t(bytes > 0 ? bytes : 1)); }
EMSCRIPTEN_KEEPALIVE void stacklab_free(void* p) { std::free(p); }

EMSCRIPTEN_KEEPALIVE const char* stacklab_load_model(const char* name, const char* bytes, int size) {
    if (!g_state) return "";
    g_out = stacklab::ui::load_user_model(*g_state, name ? name : "model.onnx",
                                          std::string(bytes, bytes + (size > 0 ? size : 0)));
    g_state->requested_tab = "Models";
    return g_out.c_str();
}

EMSCRIPTEN_KEEPALIVE const char* stacklab_verify_certificate(const char* name, const char* bytes, int size) {
    if (!g_state) return "";
    g_out = stacklab::ui::verify_certificate_input(*g_state, name ? name : "certificate.json",
                                                   std::string(bytes, bytes + (size > 0 ? size : 0)));
    g_state->requested_tab = "Certify";
    return g_out.c_str();
}

EMSCRIPTEN_KEEPALIVE const char* stacklab_ui_report_json() {
    g_out = g_state ? stacklab::ui::ui_report_json(*g_state) : std::string("{}");
    return g_out.c_str();
}

EMSCRIPTEN_KEEPALIVE const char* stacklab_scenario_query() {
    g_out = g_state ? stacklab::ui::scenario_query(*g_state) : std::string();
    return g_out.c_str();
}

// A hash set by hand or by a link to the same page (index.html's hashchange listener). Our own
// writes go through history.replaceState, which fires no hashchange; a hash naming the view already
// shown (ours, or one the browser reports anyway) changes nothing but clearing the banner, so the
// two cannot loop. After a
// good link the hash is left as typed until the view changes, as after the opening hash; after a bad
// one the view and the typed hash both stay, with the banner.
EMSCRIPTEN_KEEPALIVE const char* stacklab_apply_hash(const char* query) {
    g_out.clear();
    if (!g_state || !query) return g_out.c_str();
    const std::string q = query;
    if (q == g_hash || q == stacklab::ui::scenario_query(*g_state)) {
        g_state->scenario_error.clear();  // the hash names the view shown: a banner of an earlier bad hash is stale
        return g_out.c_str();
    }
    g_out = stacklab::ui::apply_scenario_link(*g_state, q);
    g_hash = stacklab::ui::scenario_query(*g_state);
    return g_out.c_str();
}

EMSCRIPTEN_KEEPALIVE const char* stacklab_scenario_json() {
    g_out = g_state ? stacklab::ui::scenario_json(*g_state).dump(2) : std::string("{}");
    return g_out.c_str();
}

}  // extern "C"

int main(int argc, char** argv) {
    if (!glfwInit()) {
        std::fprintf(stderr, "stacklab: cannot initialise GLFW\n");
        return 1;
    }
    glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
    g_window = glfwCreateWindow(canvas_css_width(), canvas_css_height(), "StackLab", nullptr, nullptr);
    if (!g_window) {
        std::fprintf(stderr, "stacklab: cannot create a WebGL2 context\n");
        EM_ASM({ document.documentElement.setAttribute('data-stacklab-error', 'webgl2'); });
        return 1;
    }
    glfwMakeContextCurrent(g_window);

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    static stacklab::ui::AppState state = stacklab::ui::make_app_state();
    g_state = &state;
    // The Models tab's "Open ONNX file..." button: the page's hidden <input type=file> (index.html).
    // It runs inside the frame after the click, within the browser's user-activation window.
    state.open_file_picker = [] { EM_ASM({ var el = document.getElementById('onnx-file'); if (el) el.click(); }); };
    stacklab::ui::setup_ui(state, float(emscripten_get_device_pixel_ratio()));
    // The scenario can come in the URL, index.html#tab=llm&chip=ascend-910b&llm=qwen2.5-7b: the page
    // passes the decoded hash as argv[1].
    if (argc > 1) stacklab::ui::apply_scenario(state, argv[1]);
    // The opening hash stays as it was typed until the scenario changes.
    g_hash = stacklab::ui::scenario_query(state);
    state.share.copy_link = copy_link;
    state.share.download = download_json;
    state.certify_tools.download = download_bytes;
    state.certify_tools.open_file_picker = [] { EM_ASM({ var el = document.getElementById('cert-file'); if (el) el.click(); }); };
    ImGui_ImplGlfw_InitForOpenGL(g_window, true);
    glfwSetScrollCallback(g_window, scroll_in_steps);  // replaces the backend's (it has no user callback to chain)
    ImGui_ImplOpenGL3_Init("#version 300 es");
    emscripten_set_main_loop(frame, 0, false);
    return 0;
}
