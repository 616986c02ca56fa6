// Segment a vtkImageData slice by slice with MultiverSeg, as a VTK application would: two
// seed slices with their masks form the context, an optional click in physical
// coordinates prompts one slice, and every other slice is predicted from the context in
// one batch. Slices along axes 2 and 1 are passed as views into the image's scalar array
// (row stride nx or nx*ny: no copy); slices along axis 0 are copied, since x runs across
// rows there. The output is a vtkImageData of unsigned char 0/1 with the input's extent,
// spacing, origin and direction, written as .vti (temporary name, then rename).
//
// The volume is generated: a CT-like ellipsoid (short, values around 900 in a 200..259
// background) with an extent that does not start at 0, anisotropic spacing and a
// direction that flips y. The program prints the Dice of the mask against the ellipsoid.
//
//   segment_vtk OUT.vti [--axis N] [--click X,Y,Z]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include <vtkDataArray.h>
#include <vtkImageData.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkXMLImageDataWriter.h>

#include "multiverseg.hpp"

namespace {

// A slice's layout in the scalar array (x fastest, then y, then z): pixel (x, y) of slice
// s lies at s*step[a] + x*step[u] + y*step[v]; u and v are the remaining axes, lower first.
struct Slices {
  int a, u, v;
  size_t n[3], step[3];
  uint32_t width() const { return uint32_t(n[u]); }
  uint32_t height() const { return uint32_t(n[v]); }
};

bool InEllipsoid(const int* dims, int i, int j, int k) {
  const double c[3] = {0.5, 0.55, 0.45}, r[3] = {0.32, 0.3, 0.38};
  const int ijk[3] = {i, j, k};
  double s = 0;
  for (int d = 0; d < 3; ++d) {
    const double t = (ijk[d] + 0.5 - c[d] * dims[d]) / (r[d] * dims[d]);
    s += t * t;
  }
  return s <= 1.0;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: segment_vtk OUT.vti [--axis N] [--click X,Y,Z]\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  int axis = 2;
  bool has_click = false;
  double click[3] = {0, 0, 0};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--axis") {
      axis = std::atoi(argv[i + 1]);
    } else if (flag == "--click" &&
               std::sscanf(argv[i + 1], "%lf,%lf,%lf", &click[0], &click[1], &click[2]) == 3) {
      has_click = true;
    } else {
      std::cerr << "segment_vtk: bad option " << flag << " " << argv[i + 1] << "\n";
      return 2;
    }
  }
  if (axis < 0 || axis > 2) {
    std::cerr << "segment_vtk: --axis must be 0, 1 or 2\n";
    return 2;
  }

  // The input: extent [-20, 19] x [5, 40] x [-3, 16].
  vtkNew<vtkImageData> image;
  image->SetExtent(-20, 19, 5, 40, -3, 16);
  image->SetSpacing(0.7, 0.8, 2.5);
  image->SetOrigin(-30.0, 12.0, 100.0);
  image->SetDirectionMatrix(1, 0, 0, 0, -1, 0, 0, 0, 1);
  image->AllocateScalars(VTK_SHORT, 1);
  int dims[3];
  image->GetDimensions(dims);
  const int* ext = image->GetExtent();
  short* pixels = static_cast<short*>(image->GetScalarPointer(ext[0], ext[2], ext[4]));
  std::vector<uint8_t> truth(size_t(dims[0]) * dims[1] * dims[2]);
  for (int k = 0; k < dims[2]; ++k)
    for (int j = 0; j < dims[1]; ++j)
      for (int i = 0; i < dims[0]; ++i) {
        const size_t o = (size_t(k) * dims[1] + j) * dims[0] + i;
        truth[o] = InEllipsoid(dims, i, j, k);
        pixels[o] = short(truth[o] ? 900 : 200 + (i * 31 + j * 17 + k * 7) % 60);
      }

  Slices L;
  L.a = axis;
  L.u = axis == 0 ? 1 : 0;
  L.v = axis == 2 ? 1 : 2;
  for (int d = 0; d < 3; ++d) L.n[d] = size_t(dims[d]);
  L.step[0] = 1;
  L.step[1] = L.n[0];
  L.step[2] = L.n[0] * L.n[1];
  const size_t slice_px = size_t(L.width()) * L.height();
  std::vector<std::vector<short>> copies;  // axis 0 only
  auto view = [&](size_t s) {
    const short* base = pixels + s * L.step[L.a];
    if (L.step[L.u] == 1) {
      return mvs::ImageView(base, L.width(), L.height(), uint32_t(L.step[L.v])).window(0, 1200);
    }
    copies.emplace_back(slice_px);
    for (size_t y = 0; y < L.height(); ++y)
      for (size_t x = 0; x < L.width(); ++x)
        copies.back()[y * L.width() + x] = base[x * L.step[L.u] + y * L.step[L.v]];
    return mvs::ImageView(static_cast<const short*>(copies.back().data()), L.width(), L.height())
        .window(0, 1200);
  };
  // Gathers (from = true) a slice of `volume` into a row-major mask, or scatters it back.
  auto transfer = [&](std::vector<uint8_t>& volume, size_t s, std::vector<uint8_t>& mask,
                      bool from) {
    mask.resize(slice_px);
    for (size_t y = 0; y < L.height(); ++y)
      for (size_t x = 0; x < L.width(); ++x) {
        uint8_t& voxel = volume[s * L.step[L.a] + x * L.step[L.u] + y * L.step[L.v]];
        uint8_t& pixel = mask[y * L.width() + x];
        if (from) {
          pixel = voxel;
        } else {
          voxel = pixel;
        }
      }
  };

  mvs::Model model = mvs::Model::load_default();  // a hardware GPU if there is one
  mvs::Session session(model);
  std::vector<uint8_t> result(truth.size(), 0);
  std::vector<bool> done(L.n[L.a], false);
  const size_t seeds[2] = {size_t(0.35 * L.n[L.a]), size_t(0.65 * L.n[L.a])};
  for (size_t s : seeds) {
    std::vector<uint8_t> mask;
    transfer(truth, s, mask, true);  // a seed's mask: here the known ellipsoid
    session.add_context(view(s), mask.data());
    transfer(result, s, mask, false);
    done[s] = true;
  }

  if (has_click) {
    // Physical (mm) to VTK's index space, whose origin is index 0 (not the extent's start).
    double ijk[3];
    image->TransformPhysicalPointToContinuousIndex(click, ijk);
    double rel[3];
    for (int d = 0; d < 3; ++d) rel[d] = ijk[d] - ext[2 * d];
    const long s = std::lround(rel[L.a]);
    if (s < 0 || s >= long(L.n[L.a]) || done[size_t(s)]) {
      std::cerr << "segment_vtk: --click lies outside the volume or on a seed slice\n";
      return 2;
    }
    session.set_image(view(size_t(s)));
    // VTK's voxel centres are at integer indices; the library's at k + 0.5.
    session.add_click(rel[L.u] + 0.5, rel[L.v] + 0.5);
    mvs::Prediction p = session.predict();
    transfer(result, size_t(s), p.mask, false);
    session.commit();
    done[size_t(s)] = true;
    std::printf("click at (%g, %g, %g) mm: slice %ld, pixel (%.2f, %.2f)\n", click[0], click[1],
                click[2], s, rel[L.u] + 0.5, rel[L.v] + 0.5);
  }

  std::vector<size_t> rest;
  std::vector<mvs::ImageView> views;
  for (size_t s = 0; s < L.n[L.a]; ++s) {
    if (!done[s]) {
      rest.push_back(s);
      views.push_back(view(s));
    }
  }
  mvs::BatchResult batch = session.predict_batch(views, [](size_t k, size_t n) {
    if (k == n || k % 10 == 0) std::fprintf(stderr, "  %zu/%zu slices\n", k, n);
    return true;
  });
  for (size_t i = 0; i < rest.size(); ++i) transfer(result, rest[i], batch.masks[i], false);

  size_t inter = 0, sum = 0;
  for (size_t o = 0; o < truth.size(); ++o) {
    inter += result[o] && truth[o];
    sum += result[o] + truth[o];
  }
  const double dice = sum ? 2.0 * double(inter) / double(sum) : 1.0;

  vtkNew<vtkImageData> mask;
  mask->CopyStructure(image);  // extent, spacing, origin, direction
  mask->AllocateScalars(VTK_UNSIGNED_CHAR, 1);
  std::copy(result.begin(), result.end(),
            static_cast<unsigned char*>(mask->GetScalarPointer(ext[0], ext[2], ext[4])));
  mask->GetPointData()->GetScalars()->SetName("mask");

  const std::filesystem::path tmp =
      out.parent_path() / (".tmp-" + std::to_string(getpid()) + "-" + out.filename().string());
  vtkNew<vtkXMLImageDataWriter> writer;
  writer->SetInputData(mask);
  writer->SetFileName(tmp.string().c_str());
  if (writer->Write() != 1) {
    std::filesystem::remove(tmp);
    std::cerr << "segment_vtk: could not write " << tmp << "\n";
    return 1;
  }
  std::filesystem::rename(tmp, out);
  std::printf("axis %d: %zu slices (seeds %zu and %zu), Dice %.3f against the ellipsoid; "
              "wrote %s\n",
              axis, L.n[L.a], seeds[0], seeds[1], dice, out.string().c_str());
  return 0;
} catch (const mvs::Error& e) {
  std::cerr << "segment_vtk: multiverseg error " << e.status() << ": " << e.what() << "\n";
  return 1;
}
