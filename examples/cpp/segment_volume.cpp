// Segment a 3D volume slice by slice with a growing context, as a viewer would: each slice
// is passed as a view into the volume's memory (no copy), the first slice gets a click, the
// later ones are predicted from the context of the finished slices and get a click only
// when the prediction is poor. The volume here is generated: a uint16 CT-like ellipsoid.
//
//   segment_volume OUT   (writes OUT/mask_volume.raw, uint8 D x H x W)
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "multiverseg.hpp"

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::cerr << "usage: segment_volume OUT\n";
    return 2;
  }
  const uint32_t W = 90, H = 72, D = 12;
  std::vector<uint16_t> vol(size_t(W) * H * D);
  std::vector<uint8_t> truth(vol.size());
  for (uint32_t z = 0; z < D; ++z)
    for (uint32_t y = 0; y < H; ++y)
      for (uint32_t x = 0; x < W; ++x) {
        double u = (x - 45.0) / 26.0, v = (y - 36.0) / 18.0, w = (z - 5.5) / 8.0;
        bool in = u * u + v * v + w * w <= 1.0;
        size_t i = (size_t(z) * H + y) * W + x;
        truth[i] = in;
        vol[i] = uint16_t((in ? 900 : 200) + (x * 31 + y * 17 + z * 7) % 60);
      }

  mvs::Model model = mvs::Model::load_default();
  mvs::Session session(model);
  std::vector<uint8_t> out(vol.size());
  int clicks = 0;
  for (uint32_t z = 0; z < D; ++z) {
    const size_t off = size_t(z) * H * W;
    // A CT-style window instead of per-slice min-max keeps intensities comparable.
    session.set_image(mvs::ImageView(vol.data() + off, W, H).window(0.f, 1200.f));
    mvs::Prediction p;
    auto score = [&] {
      size_t inter = 0, sum = 0;
      for (size_t i = 0; i < size_t(W) * H; ++i)
        inter += p.mask[i] && truth[off + i], sum += p.mask[i] + truth[off + i];
      return sum ? 2.0 * inter / sum : 1.0;
    };
    double d = -1;
    if (session.context_count() > 0) {
      p = session.predict();
      d = score();
    }
    if (d < 0.8) {
      session.add_click(45, 36, true);
      ++clicks;
      p = session.predict();
      d = score();
    }
    std::copy(p.mask.begin(), p.mask.end(), out.begin() + off);
    std::printf("slice %2u: context %zu, Dice %.3f\n", z, session.context_count(), d);
    session.commit();
  }
  std::filesystem::create_directories(argv[1]);
  std::ofstream(std::filesystem::path(argv[1]) / "mask_volume.raw", std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), std::streamsize(out.size()));
  std::printf("%u slices, %d clicks\n", D, clicks);
  return 0;
} catch (const mvs::Error& e) {
  std::cerr << "multiverseg error " << e.status() << ": " << e.what() << "\n";
  return 1;
}
