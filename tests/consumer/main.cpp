// Opens a slide through the installed library and prints "<vendor> <levels> <w>x<h> <bytes>".
#include <iostream>

#include <pydmed/slide/slide.hpp>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    pydmed::Slide slide(argv[1]);
    const cv::Mat patch = slide.read_region(0, 0, 0, 64, 32);
    std::cout << slide.vendor() << ' ' << slide.level_count() << ' ' << slide.levels()[0].width << 'x'
              << slide.levels()[0].height << ' ' << patch.total() * patch.elemSize() << '\n';
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}
