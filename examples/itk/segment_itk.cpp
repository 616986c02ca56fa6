// Segment a 3D image (NIfTI, NRRD, anything ITK reads) from a few annotated seed slices
// with mvs::itk::SliceSegmenter, and write the 0/1 label map with the image's geometry.
//
//   segment_itk IMAGE SEED_LABELS OUT --seeds I,J[,...] [--axis N] [--label V]
//               [--window LO,HI] [--click X,Y,Z]... [--negative-click X,Y,Z]...
//
// SEED_LABELS is a label image of IMAGE's geometry; only the seed slices (indices along
// axis N, default 2) are read from it: the structure is its nonzero voxels, or those equal
// to V. --click adds a click at a physical point in mm (--negative-click: a point outside
// the structure) on a slice that is not a seed. OUT's extension picks the format
// (.nii.gz, .nrrd, ...); it is written to a temporary name in the same folder and renamed,
// so a failure leaves no half-written file.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "mvsitk/SliceSegmenter.h"

namespace {

using Image = itk::Image<float, 3>;  // any scalar file type reads as float
using Mask = itk::Image<unsigned char, 3>;

std::vector<double> Numbers(const std::string& text, const char* flag) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    v.push_back(std::strtod(item.c_str(), &end));
    if (item.empty() || *end != '\0') {
      throw std::invalid_argument(std::string(flag) + ": '" + item + "' is not a number");
    }
  }
  return v;
}

template <class I>
typename I::Pointer Read(const std::string& path) {
  auto reader = itk::ImageFileReader<I>::New();
  reader->SetFileName(path);
  reader->Update();
  return reader->GetOutput();
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::cerr << "usage: segment_itk IMAGE SEED_LABELS OUT --seeds I,J[,...] [--axis N] "
                 "[--label V] [--window LO,HI] [--click X,Y,Z]... [--negative-click X,Y,Z]...\n";
    return 2;
  }
  const std::filesystem::path out = argv[3];
  using Segmenter = mvs::itk::SliceSegmenter<Image>;
  auto seg = Segmenter::New();
  std::string seeds_text = "(every annotated slice)";
  for (int i = 4; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::vector<double> v = Numbers(argv[i + 1], flag.c_str());
    if (flag == "--seeds") {
      seg->SetSeedSlices(std::vector<itk::IndexValueType>(v.begin(), v.end()));
      seeds_text = argv[i + 1];
    } else if (flag == "--axis" && v.size() == 1) {
      seg->SetAxis(unsigned(v[0]));
    } else if (flag == "--label" && v.size() == 1) {
      seg->SetSeedLabelValue(static_cast<unsigned char>(v[0]));
    } else if (flag == "--window" && v.size() == 2) {
      seg->SetIntensityWindow(v[0], v[1]);
    } else if ((flag == "--click" || flag == "--negative-click") && v.size() == 3) {
      Segmenter::PointType p;
      for (unsigned d = 0; d < 3; ++d) p[d] = v[d];
      seg->AddClick(p, flag == "--click");
    } else {
      throw std::invalid_argument("unknown option or wrong number of values: " + flag + " " +
                                  argv[i + 1]);
    }
  }
  Image::Pointer image = Read<Image>(argv[1]);
  seg->SetInput(image);
  seg->SetSeedLabelImage(Read<Mask>(argv[2]));

  // Progress to stderr, every 25%.
  int shown = -1;
  seg->AddObserver(itk::ProgressEvent(), [&](const itk::EventObject&) {
    const int quarter = int(seg->GetProgress() * 4.f);
    if (quarter != shown) std::cerr << "  " << (shown = quarter) * 25 << "%\n";
  });
  const auto t0 = std::chrono::steady_clock::now();
  seg->Update();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // A temporary name in OUT's folder that keeps OUT's extension (ITK picks the format by
  // it), then an atomic rename.
  const std::filesystem::path tmp =
      out.parent_path() / (".tmp-" + std::to_string(getpid()) + "-" + out.filename().string());
  try {
    auto writer = itk::ImageFileWriter<Mask>::New();
    writer->SetInput(seg->GetOutput());
    writer->SetFileName(tmp.string());
    // The extension decides: .nii.gz is gzipped by the NIfTI IO; .nrrd stays raw, so that
    // any reader (and the itk tier's test) can read it without zlib.
    writer->Update();
    std::filesystem::rename(tmp, out);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }

  const Mask* mask = seg->GetOutput();
  size_t voxels = 0;
  for (size_t i = 0; i < mask->GetBufferedRegion().GetNumberOfPixels(); ++i) {
    voxels += mask->GetBufferPointer()[i];
  }
  const auto size = image->GetLargestPossibleRegion().GetSize();
  std::printf("segmented %lu slices along axis %u from seeds %s (%zu clicks) in %.1f s on %s\n",
              static_cast<unsigned long>(size[seg->GetAxis()]), seg->GetAxis(),
              seeds_text.c_str(), seg->GetNumberOfPrompts(), secs,
              seg->GetModel()->backend_name().c_str());
  std::printf("%zu foreground voxels; wrote %s\n", voxels, out.string().c_str());
  return 0;
} catch (const itk::ExceptionObject& e) {
  // Bad arguments (the message names them) and IO errors; what() would add the source line.
  std::cerr << "segment_itk: " << e.GetDescription() << "\n";
  return 1;
} catch (const std::exception& e) {
  // mvs::Error (the library's failures) and bad options.
  std::cerr << "segment_itk: " << e.what() << "\n";
  return 1;
}
