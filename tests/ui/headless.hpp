// A window-less ImGui context drawing one AppState, with a mouse that clicks where the UI drew a
// widget: the UI tests' driver (scenario_test.cpp, certify_test.cpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <imgui.h>

#include "ui/app.hpp"

namespace stacklab::ui::testing {

struct Headless {
    ImGuiContext* ctx;
    AppState& state;
    explicit Headless(AppState& s) : ctx(ImGui::CreateContext()), state(s) {
        setup_ui(state, 1.0f);
        ImGuiIO& io = ImGui::GetIO();
        io.DisplaySize = ImVec2(1440, 900);
        io.DeltaTime = 1.0f / 60.0f;
        unsigned char* pixels = nullptr;
        int w = 0, h = 0;
        io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    }
    ~Headless() { ImGui::DestroyContext(ctx); }
    Headless(const Headless&) = delete;
    Headless& operator=(const Headless&) = delete;
    void frame(ImVec2 mouse = ImVec2(-1e6f, -1e6f), bool down = false) {
        ImGui::GetIO().MousePos = mouse;
        ImGui::GetIO().MouseDown[0] = down;
        ImGui::NewFrame();
        draw_app(state);
        ImGui::Render();
    }
    // Hover, press, release: a click as ImGui sees one, over three frames, on the button `name` of
    // the list `buttons` (which the panel refills each frame) as it was drawn one frame before (a
    // banner that appeared last frame moves widgets down).
    void click(const std::vector<std::pair<std::string, Rect>>& buttons, const std::string& name) {
        frame();
        Rect r;
        for (const auto& [n, rect] : buttons)
            if (n == name) r = rect;
        BOOST_TEST_REQUIRE(r.w > 0, name << " was not drawn");
        const ImVec2 at(r.x + r.w / 2, r.y + r.h / 2);
        frame(at, false);
        frame(at, true);
        frame(at, false);
    }
};

}  // namespace stacklab::ui::testing
