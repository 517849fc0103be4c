#pragma once
// Exactly once across stops: what a consumer has taken of a sliding-window run, as each
// patient's position just after its last delivered window. Feed it every delivered record, in
// order, and save resume(dl) with what the records produced (atomically, together: see
// ResumableRun, which does both); a loader made the same way and given that state by restore()
// serves every window not yet delivered, once. (A position names a window of the slide's plan,
// which depends on the reader's tile size: resume with the same reader.)
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "pydmed/engine/light_dl_core.hpp"
#include "pydmed/engine/loader_state.hpp"

namespace pydmed {

// A window's place in its slide's plan: the BigChunk (a block of windows) and the window in it.
// As a collector's checkpoint ({"bigchunk", "window"}), the next window to serve.
struct WindowPosition {
  std::int64_t bigchunk = 0, window = 0;
  nlohmann::json to_json() const { return {{"bigchunk", bigchunk}, {"window", window}}; }
  // The start of the slide where the checkpoint is none (null, or not a position).
  static WindowPosition of_checkpoint(const nlohmann::json& checkpoint);
  // A SmallChunk's position from its info ({"bigchunk", "window", ...}); none: not a window's.
  static std::optional<WindowPosition> of_info(const std::string& info_json);
};

class WindowProgress {
 public:
  WindowProgress() = default;
  explicit WindowProgress(const LoaderState& resumed);        // going on from a saved one
  explicit WindowProgress(const nlohmann::json& resume_state);  // the same as JSON; null: a fresh run
  // Error when the record is not a sliding window's.
  void delivered(const ChunkRecord& record);
  void delivered(std::int64_t patient, const WindowPosition& window);
  static bool is_window(const ChunkRecord& record);  // a sliding window's, with its plan position
  // dl's state with each patient's checkpoint at its delivered position (LoaderState::set_position:
  // none finished, none set aside: a resumed run tries a failed slide again).
  LoaderState resume(const LightDLCore& dl) const;
  nlohmann::json resume_state(const LightDLCore& dl) const { return resume(dl).to_json(); }

 private:
  std::map<std::int64_t, WindowPosition> position_;
};

}  // namespace pydmed
