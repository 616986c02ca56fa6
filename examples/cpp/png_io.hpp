// Minimal 8-bit grayscale PNG reading and writing with libpng's simplified API.
#pragma once
#include <png.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

struct Gray8 {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

inline Gray8 read_png_gray(const std::string& path) {
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&im, path.c_str()))
    throw std::runtime_error(path + ": " + im.message);
  im.format = PNG_FORMAT_GRAY;
  Gray8 g;
  g.width = im.width;
  g.height = im.height;
  g.pixels.resize(PNG_IMAGE_SIZE(im));
  if (!png_image_finish_read(&im, nullptr, g.pixels.data(), 0, nullptr))
    throw std::runtime_error(path + ": " + im.message);
  return g;
}

inline void write_png_gray(const std::string& path, const uint8_t* pixels, uint32_t w,
                           uint32_t h) {
  png_image im{};
  im.version = PNG_IMAGE_VERSION;
  im.width = w;
  im.height = h;
  im.format = PNG_FORMAT_GRAY;
  if (!png_image_write_to_file(&im, path.c_str(), 0, pixels, 0, nullptr))
    throw std::runtime_error(path + ": " + im.message);
}
