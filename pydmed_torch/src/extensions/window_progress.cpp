#include "pydmed/extensions/window_progress.hpp"

#include <string>

#include "pydmed/error.hpp"
#include "pydmed/extensions/sliding_window.hpp"

namespace pydmed {

WindowPosition WindowPosition::of_checkpoint(const nlohmann::json& cp) {
  if (!cp.is_object()) return {};
  return {cp.value("bigchunk", std::int64_t(0)), cp.value("window", std::int64_t(0))};
}

WindowProgress::WindowProgress(const LoaderState& resumed) {
  for (const auto& [id, p] : resumed.patients)
    if (p.checkpoint.is_object()) position_[id] = WindowPosition::of_checkpoint(p.checkpoint);
}

WindowProgress::WindowProgress(const nlohmann::json& resume_state)
    : WindowProgress(resume_state.is_null() ? LoaderState() : LoaderState::from_json(resume_state)) {}

void WindowProgress::delivered(std::int64_t patient, const WindowPosition& w) {
  // The checkpoint the collector would have set once this window was in its ring.
  position_[patient] = {w.bigchunk, w.window + 1};
}

std::optional<WindowPosition> WindowPosition::of_info(const std::string& info_json) {
  const auto j = nlohmann::json::parse(info_json, nullptr, false);
  if (!j.is_object() || !j.contains("bigchunk") || !j.contains("window")) return std::nullopt;
  if (!j["bigchunk"].is_number_integer() || !j["window"].is_number_integer()) return std::nullopt;
  return WindowPosition{j["bigchunk"].get<std::int64_t>(), j["window"].get<std::int64_t>()};
}

void WindowProgress::delivered(const ChunkRecord& r) {
  const auto w = WindowPosition::of_info(r.info_json);
  if (!w) throw Error("WindowProgress: patient " + std::to_string(r.patient) + "'s SmallChunk is not a sliding window's");
  delivered(r.patient, *w);
}

bool WindowProgress::is_window(const ChunkRecord& r) { return WindowPosition::of_info(r.info_json).has_value(); }

LoaderState WindowProgress::resume(const LightDLCore& dl) const {
  LoaderState s = dl.loader_state();
  for (auto& [id, p] : s.patients) {
    const auto it = position_.find(id);
    s.set_position(id, it == position_.end() ? nlohmann::json() : it->second.to_json());
  }
  return s;
}

}  // namespace pydmed
