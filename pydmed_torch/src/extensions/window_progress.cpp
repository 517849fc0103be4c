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

void WindowProgress::delivered(const ChunkRecord& r) {
  const auto w = WindowInfo::parse(r.info_json);
  if (!w) throw Error("WindowProgress: patient " + std::to_string(r.patient) + "'s SmallChunk is not a sliding window's");
  delivered(r.patient, w->position);
}

bool WindowProgress::is_window(const ChunkRecord& r) { return WindowInfo::parse(r.info_json).has_value(); }

LoaderState WindowProgress::resume(const LightDLCore& dl) const {
  LoaderState s = dl.loader_state();
  for (auto& [id, p] : s.patients) {
    const auto it = position_.find(id);
    s.set_position(id, it == position_.end() ? nlohmann::json() : it->second.to_json());
  }
  return s;
}

}  // namespace pydmed
