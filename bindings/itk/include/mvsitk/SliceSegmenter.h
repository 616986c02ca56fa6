// mvsitk/SliceSegmenter.h: a header-only ITK filter that segments one structure in a 3D
// image with MultiverSeg, slice by slice, from a few annotated seed slices and/or prompts
// given in physical coordinates. C++17, ITK 5.x, over the C++ wrapper multiverseg.hpp.
//
// It adds no numerics: it only maps ITK's geometry (index space, physical points) onto the
// library's 2D slices, passes pixels as views into the ITK buffer where the layout allows,
// and writes the library's masks back into a label image of the input's geometry. Every
// prediction is the library's (see the README's conventions).
//
//   using Segmenter = mvs::itk::SliceSegmenter<itk::Image<short, 3>>;
//   auto seg = Segmenter::New();
//   seg->SetInput(ct);                      // itk::Image<short, 3>
//   seg->SetAxis(2);                         // slices k = const (index space)
//   seg->SetSeedLabelImage(seeds);           // itk::Image<unsigned char, 3>, same geometry
//   seg->AddSeedSlice(12); seg->AddSeedSlice(40);
//   seg->SetIntensityWindow(-160, 240);      // optional; default: each slice's min-max
//   seg->AddClick(point_mm);                 // optional, on a slice that is not a seed
//   seg->Update();                           // itk::Image<unsigned char, 3>, 0/1
//
// Namespaces: this file defines mvs::itk; inside namespace mvs, refer to ITK as ::itk.
#ifndef MVSITK_SLICESEGMENTER_H
#define MVSITK_SLICESEGMENTER_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "itkImage.h"
#include "itkImageToImageFilter.h"
#include "multiverseg.hpp"

namespace mvs {
namespace itk {

namespace detail {
// Pixel types the library reads in place (mvs::ImageView); the others are copied to float.
template <class P>
inline constexpr bool kViewable =
    std::is_same<P, uint8_t>::value || std::is_same<P, uint16_t>::value ||
    std::is_same<P, int16_t>::value || std::is_same<P, float>::value;
}  // namespace detail

/// Segments one structure in a 3D scalar image slice by slice with MultiverSeg.
///
/// **Input** (`SetInput`): `TInputImage`, which must be `itk::Image<TPixel, 3>` with a
/// scalar `TPixel` (any arithmetic type; unsigned char, unsigned short, short and float are
/// read in place, others are converted to float slice by slice). A 4D image, a vector or
/// RGB pixel type or an `itk::VectorImage` is a compile-time error (static_assert) naming
/// the problem. The whole image is requested from upstream (LargestPossibleRegion); its
/// start index need not be 0.
///
/// **Slices** are the 2D planes with a fixed index along `Axis` (0, 1 or 2, in index space,
/// not physical space: axis 2 means the planes k = const). A slice's 2D image has as x the
/// lower remaining index axis and as y the higher one (axis 2: x = i, y = j; axis 1: x = i,
/// y = k; axis 0: x = j, y = k). Slices of axes 2 and 1 are passed to the library as views
/// into the image's buffer (row stride nx or nx*ny pixels); slices of axis 0 are copied,
/// since their pixels are not contiguous along x, as are pixel types the library does not
/// read: the batch then holds a float copy of the volume (4 bytes per voxel).
///
/// **Seeds** (the context): a label image of the input's geometry
/// (`SetSeedLabelImage`, `itk::Image<unsigned char, 3>`, e.g. a label map painted on a
/// few slices, or the output of an earlier run) and the slices of it to use
/// (`AddSeedSlice`/`SetSeedSlices`; when none are given, every slice holding a foreground
/// voxel is a seed). A seed's mask is its slice of the label image: nonzero voxels, or
/// those equal to `SeedLabelValue` when that is set (1..255). A label image rather than
/// per-slice 2D masks because it is what ITK and Slicer tools write, and because it
/// carries its geometry, which is checked against the input's.
///
/// **Prompts** (`AddClick`, `AddBox`) are in physical coordinates (mm, the image's
/// physical space, any direction matrix): each is mapped with the input's
/// TransformPhysicalPointToIndex (its slice: the nearest) and
/// TransformPhysicalPointToContinuousIndex (its place in the slice).
///
/// **Output**: `itk::Image<unsigned char, 3>`, 0/1, with the input's largest region,
/// spacing, origin and direction. A seed slice gets its seed mask. Each prompted slice is
/// predicted with its prompts (in the order added) and the seeds as context, in increasing
/// slice order, and then joins the context. Every other slice is predicted from the
/// context alone (mvs::Session::predict_batch). `GetSliceUncertainty()` gives each slice's
/// uncertainty score afterwards (review the highest first).
///
/// **Errors**: invalid arguments throw `itk::ExceptionObject` whose description starts
/// with "mvs::itk::SliceSegmenter:" and names the argument (the axis, a seed slice, the
/// seed label image, a click or box with its number, the window). Setters check what they
/// can at once; the rest is checked when the pipeline updates, before any pixel is read
/// (VerifyInputInformation). Failures of the library throw `mvs::Error` (with its status);
/// an abort (`AbortGenerateDataOn()` from a progress observer) throws
/// `itk::ProcessAborted`. Both derive from std::exception. The output never holds a partial
/// result: argument errors are raised before the pipeline touches it, and GenerateData
/// builds the result apart and grafts it only when complete (after a failure there, the
/// output is empty, as ITK releases it before generating data).
///
/// **Model**: `SetModel` shares a loaded `mvs::Model` between filters (any thread); when
/// none is set, the first Update loads the library's default model (Backend::Auto, all
/// cores) and keeps it. Each Update uses a fresh session, so the output is a function of
/// the filter's settings and inputs only.
template <typename TInputImage>
class SliceSegmenter
    : public ::itk::ImageToImageFilter<TInputImage,
                                       ::itk::Image<unsigned char, TInputImage::ImageDimension>> {
 public:
  static_assert(TInputImage::ImageDimension == 3,
                "mvs::itk::SliceSegmenter: the input image must be 3D (itk::Image<TPixel, 3>); "
                "extract a 3D volume from a 4D image first (itk::ExtractImageFilter)");
  static_assert(std::is_arithmetic<typename TInputImage::PixelType>::value,
                "mvs::itk::SliceSegmenter: the input pixel type must be a scalar "
                "(e.g. short, unsigned short, float); convert vector or RGB images to one "
                "channel first (e.g. itk::RGBToLuminanceImageFilter)");
  static_assert(std::is_same<TInputImage, ::itk::Image<typename TInputImage::PixelType, 3>>::value,
                "mvs::itk::SliceSegmenter: the input must be an itk::Image<TPixel, 3>");

  ITK_DISALLOW_COPY_AND_MOVE(SliceSegmenter);

  using InputImageType = TInputImage;
  using PixelType = typename TInputImage::PixelType;
  /// The output and the seed label image: 0/1 (output), label values (seeds).
  using MaskImageType = ::itk::Image<unsigned char, 3>;
  using OutputImageType = MaskImageType;
  using Self = SliceSegmenter;
  using Superclass = ::itk::ImageToImageFilter<TInputImage, MaskImageType>;
  using Pointer = ::itk::SmartPointer<Self>;
  using ConstPointer = ::itk::SmartPointer<const Self>;
  using PointType = typename TInputImage::PointType;
  using IndexValueType = ::itk::IndexValueType;
  using RegionType = typename TInputImage::RegionType;

  itkNewMacro(Self);
  itkTypeMacro(SliceSegmenter, ImageToImageFilter);

  /// Where a physical point falls: its slice (an index along the axis, in the image's
  /// index space, region start included) and its position in that slice in the library's
  /// pixel coordinates (x right, y down; pixel (x, y) covers [x, x+1) x [y, y+1), so a
  /// voxel's centre maps to (ix + 0.5, iy + 0.5) relative to the region's start).
  struct SlicePoint {
    IndexValueType slice = 0;
    double x = 0.0;
    double y = 0.0;
  };

  /// The axis (0, 1 or 2, in index space) along which slices are taken; default 2.
  /// Throws itk::ExceptionObject naming the axis when it is greater than 2.
  void SetAxis(unsigned int axis) {
    if (axis > 2) {
      Fail("axis ", axis,
           " is out of range: it must be 0, 1 or 2 (an index-space axis of the 3D input image)");
    }
    if (axis != m_Axis) {
      m_Axis = axis;
      this->Modified();
    }
  }
  /// The axis along which slices are taken.
  unsigned int GetAxis() const { return m_Axis; }

  /// The seed label image: `itk::Image<unsigned char, 3>` with the input's largest region,
  /// spacing, origin and direction (checked at update: a different region or geometry is an
  /// error naming SeedLabelImage). Only its seed slices are read. Optional when prompts are
  /// given.
  void SetSeedLabelImage(const MaskImageType* labels) {
    this->ProcessObject::SetInput("SeedLabelImage", const_cast<MaskImageType*>(labels));
  }
  /// The seed label image, or null.
  const MaskImageType* GetSeedLabelImage() const {
    return dynamic_cast<const MaskImageType*>(this->ProcessObject::GetInput("SeedLabelImage"));
  }

  /// Adds a seed slice (an index along the axis, in index space). Seeds join the context
  /// in the order given. A slice outside the image or given twice is an error at update.
  void AddSeedSlice(IndexValueType slice) {
    m_SeedSlices.push_back(slice);
    this->Modified();
  }
  /// Replaces the seed slices (see AddSeedSlice); empty: every slice of the seed label
  /// image that holds a foreground voxel, in increasing order.
  void SetSeedSlices(const std::vector<IndexValueType>& slices) {
    m_SeedSlices = slices;
    this->Modified();
  }
  /// The seed slices as given.
  const std::vector<IndexValueType>& GetSeedSlices() const { return m_SeedSlices; }

  /// The label value of the structure in the seed label image (1..255); 0 (the default):
  /// every nonzero voxel is foreground.
  void SetSeedLabelValue(unsigned char value) {
    if (value != m_SeedLabelValue) {
      m_SeedLabelValue = value;
      this->Modified();
    }
  }
  /// The label value of the structure in the seed label image (0: any nonzero).
  unsigned char GetSeedLabelValue() const { return m_SeedLabelValue; }

  /// Maps intensities [lo, hi] (in the input's pixel units, e.g. HU) to [0, 1], clipped,
  /// for every slice, instead of each slice's own min-max. Throws itk::ExceptionObject
  /// naming the window unless lo and hi are finite and lo < hi.
  void SetIntensityWindow(double lo, double hi) {
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi)) {
      Fail("intensity window [", lo, ", ", hi,
           "] is invalid: lo and hi must be finite and lo < hi");
    }
    m_UseWindow = true;
    m_WindowLo = lo;
    m_WindowHi = hi;
    this->Modified();
  }
  /// Goes back to each slice's own min-max normalization (the default).
  void ClearIntensityWindow() {
    m_UseWindow = false;
    this->Modified();
  }
  /// Whether a window is set, and its bounds.
  bool GetUseIntensityWindow() const { return m_UseWindow; }
  double GetWindowLo() const { return m_WindowLo; }
  double GetWindowHi() const { return m_WindowHi; }

  /// Adds a click at a physical point (mm). Positive: the point belongs to the structure.
  /// Its slice is the nearest one along the axis; a point outside the image, or on a seed
  /// slice, is an error at update naming the click by its number (0-based, counting clicks
  /// and boxes together in the order added).
  void AddClick(const PointType& point, bool positive = true) {
    m_Prompts.push_back(Prompt{false, point, point, positive});
    this->Modified();
  }
  /// Adds a box given by two opposite corners in physical points (mm), in any order; both
  /// must fall on the same slice and inside the image, whose outer faces count as inside
  /// (the voxels' corners, so the whole slice is a valid box). Errors as for AddClick.
  void AddBox(const PointType& corner0, const PointType& corner1) {
    m_Prompts.push_back(Prompt{true, corner0, corner1, true});
    this->Modified();
  }
  /// Removes all clicks and boxes.
  void ClearPrompts() {
    m_Prompts.clear();
    this->Modified();
  }
  /// How many clicks and boxes were added.
  size_t GetNumberOfPrompts() const { return m_Prompts.size(); }

  /// Shares a loaded model (thread-safe, may serve many filters); null: the library's
  /// default model, loaded at the first Update.
  void SetModel(std::shared_ptr<const mvs::Model> model) {
    m_Model = std::move(model);
    this->Modified();
  }
  /// The model used (null before the first Update when none was set).
  std::shared_ptr<const mvs::Model> GetModel() const { return m_Model; }

  /// The uncertainty score in [0, 1] of each slice after Update, indexed by the slice's
  /// offset from the region's start along the axis (0 for seed slices).
  const std::vector<float>& GetSliceUncertainty() const { return m_SliceUncertainty; }

  /// Maps a physical point (mm) to its slice and its position in the slice, using the
  /// input's geometry (call UpdateOutputInformation() or Update() first). Throws
  /// itk::ExceptionObject when there is no input or the point lies outside the image.
  SlicePoint PhysicalPointToSlicePoint(const PointType& point) const {
    const InputImageType* input = this->GetInput();
    if (input == nullptr) Fail("no input image (SetInput)");
    return MapPoint(*input, point, false, "point");
  }

 protected:
  SliceSegmenter() {
    // Index 1, optional: the superclass's checks (geometry) and requested-region logic
    // then cover the label image too.
    this->AddOptionalInputName("SeedLabelImage", 1);
  }
  ~SliceSegmenter() override = default;

  void PrintSelf(std::ostream& os, ::itk::Indent indent) const override {
    Superclass::PrintSelf(os, indent);
    os << indent << "Axis: " << m_Axis << "\n";
    os << indent << "SeedSlices:";
    for (auto s : m_SeedSlices) os << " " << s;
    os << "\n" << indent << "SeedLabelValue: " << int(m_SeedLabelValue) << "\n";
    os << indent << "IntensityWindow: ";
    if (m_UseWindow) {
      os << "[" << m_WindowLo << ", " << m_WindowHi << "]\n";
    } else {
      os << "per-slice min-max\n";
    }
    os << indent << "Prompts: " << m_Prompts.size() << "\n";
    os << indent << "Model: " << (m_Model ? m_Model->backend_name() : std::string("(default)"))
       << "\n";
  }

  // The whole volume is one computation (the context spans slices): produce all of it.
  void EnlargeOutputRequestedRegion(::itk::DataObject* output) override {
    output->SetRequestedRegionToLargestPossibleRegion();
  }
  void GenerateInputRequestedRegion() override {
    Superclass::GenerateInputRequestedRegion();
    if (auto* in = const_cast<InputImageType*>(this->GetInput())) {
      in->SetRequestedRegionToLargestPossibleRegion();
    }
    if (auto* labels = const_cast<MaskImageType*>(GetSeedLabelImage())) {
      labels->SetRequestedRegionToLargestPossibleRegion();
    }
  }

  // Runs before any pixel is read or produced (ProcessObject::UpdateOutputInformation):
  // every argument that the geometry decides is checked here, so a bad one costs nothing.
  void VerifyInputInformation() ITKv5_CONST override {
    const InputImageType* input = this->GetInput();
    const MaskImageType* labels = GetSeedLabelImage();
    if (labels != nullptr &&
        labels->GetLargestPossibleRegion() != input->GetLargestPossibleRegion()) {
      const RegionType& l = labels->GetLargestPossibleRegion();
      const RegionType& r = input->GetLargestPossibleRegion();
      Fail("SeedLabelImage's region (index ", l.GetIndex(), ", size ", l.GetSize(),
           ") differs from the input image's (index ", r.GetIndex(), ", size ", r.GetSize(),
           "): each seed mask must have the size of its slice");
    }
    // Origin, spacing and direction, with ITK's tolerances (its message names
    // "InputImageSeedLabelImage").
    Superclass::VerifyInputInformation();
    Plan(*input, labels);
  }

  void GenerateData() override {
    const InputImageType* input = this->GetInput();
    const MaskImageType* labels = GetSeedLabelImage();
    const RegionType region = input->GetLargestPossibleRegion();
    if (input->GetBufferedRegion() != region ||
        (labels != nullptr && labels->GetBufferedRegion() != region)) {
      Fail("the input image or SeedLabelImage does not hold its whole largest region in "
           "memory; the filter needs the whole volume");
    }
    const Layout L = MakeLayout(region);
    std::vector<IndexValueType> seeds = m_SeedSlices;
    if (seeds.empty() && labels != nullptr) seeds = AnnotatedSlices(*labels, L);
    // The prompted slices, in increasing order, each with its prompts in the order added.
    const std::map<IndexValueType, std::vector<Mapped>> prompted = Plan(*input, labels);
    if (m_SeedSlices.empty()) CheckPromptsOffSeeds(prompted, seeds);
    if (seeds.empty() && prompted.empty()) {
      Fail("nothing to start from: give seed slices (SeedLabelImage with AddSeedSlice, or a "
           "SeedLabelImage with a foreground voxel) or a click or box");
    }

    if (!m_Model) m_Model = std::make_shared<const mvs::Model>(mvs::Model::load_default());
    mvs::Session session(*m_Model);

    // The result is built apart and grafted at the end, so a failure below leaves no
    // partial output.
    auto result = MaskImageType::New();
    result->CopyInformation(input);
    result->SetRegions(region);
    result->Allocate(true);
    std::vector<float> uncertainty(L.n[L.a], 0.f);
    std::vector<bool> done(L.n[L.a], false);
    const PixelType* buffer = input->GetBufferPointer();
    unsigned char* out = result->GetBufferPointer();

    std::vector<std::vector<float>> copies;  // slices that cannot be views (see SliceView)
    for (IndexValueType s : seeds) {
      const size_t off = size_t(s - L.start[L.a]);
      std::vector<uint8_t> mask = SeedMask(*labels, L, off);
      session.add_context(SliceView(buffer, L, off, copies), mask.data());
      Scatter(L, off, mask, out);
      done[off] = true;
    }

    std::vector<size_t> rest;
    for (size_t off = 0; off < L.n[L.a]; ++off) {
      if (!done[off] && prompted.count(L.start[L.a] + IndexValueType(off)) == 0) {
        rest.push_back(off);
      }
    }
    const size_t total = prompted.size() + rest.size();
    size_t finished = 0;
    this->UpdateProgress(0.f);

    for (const auto& entry : prompted) {
      const size_t off = size_t(entry.first - L.start[L.a]);
      session.set_image(SliceView(buffer, L, off, copies));
      for (const Mapped& p : entry.second) {
        if (p.prompt->box) {
          session.add_box(p.p0.x, p.p0.y, p.p1.x, p.p1.y);
        } else {
          session.add_click(p.p0.x, p.p0.y, p.prompt->positive);
        }
      }
      mvs::Prediction pred = session.predict();
      Scatter(L, off, pred.mask, out);
      uncertainty[off] = pred.uncertainty;
      session.commit();
      this->UpdateProgress(float(++finished) / float(total));
      if (this->GetAbortGenerateData()) throw ::itk::ProcessAborted(__FILE__, __LINE__);
    }

    if (!rest.empty()) {
      std::vector<mvs::ImageView> views;
      views.reserve(rest.size());
      for (size_t off : rest) views.push_back(SliceView(buffer, L, off, copies));
      // The progress callback runs inside the library (through C): nothing may be thrown
      // across it, so an exception from an observer is kept and rethrown here.
      std::exception_ptr observer_error;
      auto progress = [&](size_t k, size_t) {
        try {
          this->UpdateProgress(float(finished + k) / float(total));
          return !this->GetAbortGenerateData();
        } catch (...) {
          observer_error = std::current_exception();
          return false;
        }
      };
      mvs::BatchResult batch;
      try {
        batch = session.predict_batch(views, progress);
      } catch (const mvs::Error& e) {
        if (observer_error) std::rethrow_exception(observer_error);
        if (e.status() == MVS_ERR_CANCELLED && this->GetAbortGenerateData()) {
          throw ::itk::ProcessAborted(__FILE__, __LINE__);
        }
        throw;
      }
      for (size_t i = 0; i < rest.size(); ++i) {
        Scatter(L, rest[i], batch.masks[i], out);
        uncertainty[rest[i]] = batch.uncertainty[i];
      }
    }

    this->GraftOutput(result);
    m_SliceUncertainty = std::move(uncertainty);
    this->UpdateProgress(1.f);
  }

 private:
  struct Prompt {
    bool box;
    PointType p0, p1;
    bool positive;
  };
  // A prompt mapped onto its slice; `name` ("click 3", "box 0") for messages.
  struct Mapped {
    const Prompt* prompt = nullptr;
    std::string name;
    SlicePoint p0, p1;
  };

  // Index-space layout of the volume for the chosen axis: a slice's pixel (x, y) of slice
  // offset s lies at buffer offset s*step[a] + x*step[u] + y*step[v].
  struct Layout {
    unsigned a, u, v;
    size_t n[3];
    size_t step[3];
    IndexValueType start[3];
    uint32_t width() const { return uint32_t(n[u]); }
    uint32_t height() const { return uint32_t(n[v]); }
  };

  Layout MakeLayout(const RegionType& region) const {
    Layout L;
    L.a = m_Axis;
    L.u = m_Axis == 0 ? 1 : 0;
    L.v = m_Axis == 2 ? 1 : 2;
    for (unsigned d = 0; d < 3; ++d) {
      L.n[d] = region.GetSize()[d];
      L.start[d] = region.GetIndex()[d];
    }
    L.step[0] = 1;
    L.step[1] = L.n[0];
    L.step[2] = L.n[0] * L.n[1];
    const size_t max = std::numeric_limits<uint32_t>::max();
    if (L.n[L.u] > max || L.n[L.v] > max) {
      Fail("a slice of ", L.n[L.u], " x ", L.n[L.v], " pixels is larger than the library accepts");
    }
    return L;
  }

  // Throws itk::ExceptionObject with the parts of the message, prefixed by the filter's name.
  template <class... Parts>
  [[noreturn]] static void Fail(const Parts&... parts) {
    std::ostringstream os;
    os << "mvs::itk::SliceSegmenter: ";
    (os << ... << parts);
    throw ::itk::ExceptionObject(__FILE__, __LINE__, os.str(), ITK_LOCATION);
  }

  // Maps a physical point to (slice, x, y). `edges`: the slice's outer faces count as
  // inside (box corners); `what` names the argument in errors.
  SlicePoint MapPoint(const InputImageType& image, const PointType& point, bool edges,
                      const std::string& what) const {
    const RegionType region = image.GetLargestPossibleRegion();
    typename InputImageType::IndexType index;
    const bool inside = image.TransformPhysicalPointToIndex(point, index);
    ::itk::ContinuousIndex<double, 3> c;
    image.TransformPhysicalPointToContinuousIndex(point, c);
    const unsigned a = m_Axis, u = m_Axis == 0 ? 1 : 0, v = m_Axis == 2 ? 1 : 2;
    SlicePoint sp;
    sp.slice = index[a];
    // ITK's continuous index puts a voxel's centre at an integer; the library's pixel
    // centres are at k + 0.5 from the slice's corner.
    sp.x = c[u] - double(region.GetIndex()[u]) + 0.5;
    sp.y = c[v] - double(region.GetIndex()[v]) + 0.5;
    const double w = double(region.GetSize()[u]), h = double(region.GetSize()[v]);
    const bool slice_ok = region.GetIndex()[a] <= index[a] &&
                          index[a] < region.GetIndex()[a] + IndexValueType(region.GetSize()[a]);
    const bool ok = edges ? slice_ok && sp.x >= 0 && sp.x <= w && sp.y >= 0 && sp.y <= h
                          : inside;
    if (!ok) {
      Fail(what, " at physical point ", point,
           " mm lies outside the input image (continuous index ", c,
           "; the image's region starts at index ", region.GetIndex(), " and has size ",
           region.GetSize(), ")");
    }
    return sp;
  }

  // Checks the seeds and maps every prompt; returns the prompts by slice.
  std::map<IndexValueType, std::vector<Mapped>> Plan(
      const InputImageType& input, const MaskImageType* labels) const {
    const RegionType region = input.GetLargestPossibleRegion();
    const IndexValueType lo = region.GetIndex()[m_Axis];
    const IndexValueType hi = lo + IndexValueType(region.GetSize()[m_Axis]);
    if (!m_SeedSlices.empty() && labels == nullptr) {
      Fail("seed slices are given but no SeedLabelImage holds their masks");
    }
    if (labels == nullptr && m_Prompts.empty()) {
      Fail("nothing to start from: give seed slices (SeedLabelImage with AddSeedSlice) or a "
           "click or box");
    }
    std::set<IndexValueType> seen;
    for (IndexValueType s : m_SeedSlices) {
      if (s < lo || s >= hi) {
        Fail("seed slice ", s, " is out of range: slices along axis ", m_Axis, " are ", lo,
             "..", hi - 1);
      }
      if (!seen.insert(s).second) Fail("seed slice ", s, " is given twice");
    }
    std::map<IndexValueType, std::vector<Mapped>> byslice;
    for (size_t i = 0; i < m_Prompts.size(); ++i) {
      const Prompt& p = m_Prompts[i];
      const std::string name = (p.box ? "box " : "click ") + std::to_string(i);
      Mapped e;
      e.prompt = &p;
      e.name = name;
      e.p0 = MapPoint(input, p.p0, p.box, p.box ? name + " corner 0" : name);
      e.p1 = p.box ? MapPoint(input, p.p1, true, name + " corner 1") : e.p0;
      if (e.p0.slice != e.p1.slice) {
        Fail(name, " spans slices ", e.p0.slice, " and ", e.p1.slice, " along axis ", m_Axis,
             ": both corners must lie on one slice");
      }
      byslice[e.p0.slice].push_back(e);
    }
    CheckPromptsOffSeeds(byslice, m_SeedSlices);
    return byslice;
  }

  // A seed's mask is given, so a prompt on it would contradict it.
  static void CheckPromptsOffSeeds(const std::map<IndexValueType, std::vector<Mapped>>& prompted,
                                   const std::vector<IndexValueType>& seeds) {
    for (IndexValueType s : seeds) {
      auto it = prompted.find(s);
      if (it != prompted.end()) {
        Fail(it->second.front().name, " lies on seed slice ", s,
             ", whose mask is given; prompt a slice that is not a seed");
      }
    }
  }

  // A view of slice `off` where the axis allows it (rows contiguous), else a copy (kept
  // alive in `copies`); pixel types the library does not read are copied to float.
  mvs::ImageView SliceView(const PixelType* buffer, const Layout& L, size_t off,
                           std::vector<std::vector<float>>& copies) const {
    mvs::ImageView view = MakeView(buffer, L, off, copies);
    if (m_UseWindow) view.window(float(m_WindowLo), float(m_WindowHi));
    return view;
  }
  mvs::ImageView MakeView(const PixelType* buffer, const Layout& L, size_t off,
                          std::vector<std::vector<float>>& copies) const {
    const PixelType* base = buffer + off * L.step[L.a];
    if constexpr (detail::kViewable<PixelType>) {
      if (L.step[L.u] == 1 && L.step[L.v] <= std::numeric_limits<uint32_t>::max()) {
        return mvs::ImageView(base, L.width(), L.height(), uint32_t(L.step[L.v]));
      }
      // Axis 0: x runs across rows of the buffer, so the slice is copied (to float, which
      // holds every viewable type exactly).
    }
    copies.emplace_back(size_t(L.width()) * L.height());
    float* dst = copies.back().data();
    for (size_t y = 0; y < L.height(); ++y) {
      for (size_t x = 0; x < L.width(); ++x) {
        dst[y * L.width() + x] = float(base[x * L.step[L.u] + y * L.step[L.v]]);
      }
    }
    return mvs::ImageView(static_cast<const float*>(dst), L.width(), L.height());
  }

  // The seed mask of slice `off`: 1 where the label image holds the structure.
  std::vector<uint8_t> SeedMask(const MaskImageType& labels, const Layout& L, size_t off) const {
    const unsigned char* base = labels.GetBufferPointer() + off * L.step[L.a];
    std::vector<uint8_t> mask(size_t(L.width()) * L.height());
    for (size_t y = 0; y < L.height(); ++y) {
      for (size_t x = 0; x < L.width(); ++x) {
        const unsigned char l = base[x * L.step[L.u] + y * L.step[L.v]];
        mask[y * L.width() + x] = m_SeedLabelValue == 0 ? l != 0 : l == m_SeedLabelValue;
      }
    }
    return mask;
  }

  // The slices of the label image that hold a voxel of the structure, in increasing order.
  std::vector<IndexValueType> AnnotatedSlices(const MaskImageType& labels, const Layout& L) const {
    std::vector<IndexValueType> slices;
    for (size_t off = 0; off < L.n[L.a]; ++off) {
      const std::vector<uint8_t> m = SeedMask(labels, L, off);
      if (std::find(m.begin(), m.end(), uint8_t(1)) != m.end()) {
        slices.push_back(L.start[L.a] + IndexValueType(off));
      }
    }
    return slices;
  }

  // Writes a slice's 0/1 mask (row-major, width x height) into the output volume.
  static void Scatter(const Layout& L, size_t off, const std::vector<uint8_t>& mask,
                      unsigned char* out) {
    unsigned char* base = out + off * L.step[L.a];
    for (size_t y = 0; y < L.height(); ++y) {
      for (size_t x = 0; x < L.width(); ++x) {
        base[x * L.step[L.u] + y * L.step[L.v]] = mask[y * L.width() + x] ? 1 : 0;
      }
    }
  }

  unsigned int m_Axis = 2;
  std::vector<IndexValueType> m_SeedSlices;
  unsigned char m_SeedLabelValue = 0;
  bool m_UseWindow = false;
  double m_WindowLo = 0.0;
  double m_WindowHi = 0.0;
  std::vector<Prompt> m_Prompts;
  std::shared_ptr<const mvs::Model> m_Model;
  std::vector<float> m_SliceUncertainty;
};

}  // namespace itk
}  // namespace mvs

#endif  // MVSITK_SLICESEGMENTER_H
