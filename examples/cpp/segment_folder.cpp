// Segment a folder of PNG slices with a growing context, as a viewer would: each image is
// shown to the "user", who clicks until the mask is good (here simulated from mask_N.png
// when the folder has one, else one click at the center), and the finished image joins the
// context, so later images need fewer clicks.
//
//   segment_folder DIR OUT   (DIR: image_N.png [+ mask_N.png]; writes OUT/pred_N.png)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "multiverseg.hpp"
#include "png_io.hpp"

namespace fs = std::filesystem;

static double dice(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t inter = 0, sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    inter += (a[i] && b[i]);
    sum += (a[i] != 0) + (b[i] != 0);
  }
  return sum ? 2.0 * inter / sum : 1.0;
}

// The pixel of `region` nearest to its centroid (so it lies inside even for a ring).
static bool center_of(const std::vector<uint8_t>& region, uint32_t w, double* x, double* y) {
  double sx = 0, sy = 0;
  size_t n = 0;
  for (size_t i = 0; i < region.size(); ++i)
    if (region[i]) sx += i % w, sy += i / w, ++n;
  if (!n) return false;
  sx /= n, sy /= n;
  double best = 1e300;
  for (size_t i = 0; i < region.size(); ++i)
    if (region[i]) {
      double dx = double(i % w) - sx, dy = double(i / w) - sy, d = dx * dx + dy * dy;
      if (d < best) best = d, *x = i % w, *y = i / w;
    }
  return true;
}

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::cerr << "usage: segment_folder DIR OUT\n";
    return 2;
  }
  const fs::path dir = argv[1], out = argv[2];
  fs::create_directories(out);
  std::vector<std::pair<int, fs::path>> images;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("image_", 0) == 0 && e.path().extension() == ".png")
      images.emplace_back(std::stoi(n.substr(6)), e.path());
  }
  std::sort(images.begin(), images.end());
  if (images.empty()) throw std::runtime_error("no image_N.png in " + dir.string());

  mvs::Model model = mvs::Model::load_default();
  mvs::Session session(model);
  std::cout << "backend: " << model.backend_name() << "\n";
  int total = 0;
  for (const auto& [n, path] : images) {
    Gray8 img = read_png_gray(path.string());
    const fs::path mpath = dir / ("mask_" + std::to_string(n) + ".png");
    std::vector<uint8_t> truth;
    if (fs::exists(mpath)) {
      truth = read_png_gray(mpath.string()).pixels;
      for (auto& v : truth) v = v != 0;
    }
    session.set_image(mvs::ImageView(img.pixels.data(), img.width, img.height));
    mvs::Prediction p;
    int clicks = 0;
    double d = 0;
    // Context alone first; then clicks on the larger error region until Dice >= 0.9.
    if (session.context_count() > 0) {
      p = session.predict();
      d = truth.empty() ? 0 : dice(p.mask, truth);
    }
    while ((truth.empty() ? clicks < 1 : d < 0.9) && clicks < 8) {
      double x = img.width / 2.0, y = img.height / 2.0;
      bool positive = true;
      if (!truth.empty()) {
        std::vector<uint8_t> fn(truth.size()), fp(truth.size());
        size_t nfn = 0, nfp = 0;
        for (size_t i = 0; i < truth.size(); ++i) {
          bool pr = !p.mask.empty() && p.mask[i];
          fn[i] = truth[i] && !pr, nfn += fn[i];
          fp[i] = !truth[i] && pr, nfp += fp[i];
        }
        positive = nfn >= nfp;
        center_of(positive ? fn : fp, img.width, &x, &y);
      }
      session.add_click(x, y, positive);
      ++clicks;
      p = session.predict();
      d = truth.empty() ? 0 : dice(p.mask, truth);
    }
    total += clicks;
    std::vector<uint8_t> png(p.mask.size());
    for (size_t i = 0; i < png.size(); ++i) png[i] = p.mask[i] * 255;
    write_png_gray((out / ("pred_" + std::to_string(n) + ".png")).string(), png.data(),
                   img.width, img.height);
    std::printf("%s: context %zu, clicks %d%s", path.filename().c_str(),
                session.context_count(), clicks, truth.empty() ? "\n" : "");
    if (!truth.empty()) std::printf(", Dice %.3f\n", d);
    session.commit();
  }
  std::printf("%zu images, %d clicks in all; predictions in %s\n", images.size(), total,
              out.c_str());
  return 0;
} catch (const mvs::Error& e) {
  std::cerr << "multiverseg error " << e.status() << ": " << e.what() << "\n";
  return 1;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
