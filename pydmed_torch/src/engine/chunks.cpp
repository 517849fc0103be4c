#include "pydmed/engine/chunks.hpp"

namespace pydmed {

bool touches_damage(const BigChunk& bc, int x, int y, int width, int height, std::string* why) {
  for (const DamagedPiece& d : bc.damaged) {
    if (x < d.x + d.width && d.x < x + width && y < d.y + d.height && d.y < y + height) {
      if (why) *why = d.reason;
      return true;
    }
  }
  return false;
}

}  // namespace pydmed
