// Must NOT compile: the itk tier builds this target and expects both static_asserts of
// mvs::itk::SliceSegmenter in the compiler's messages (a 4D image, an RGB pixel type).
#include "itkImage.h"
#include "itkRGBPixel.h"
#include "mvsitk/SliceSegmenter.h"

// Instantiating the classes (not their members) is enough to evaluate the assertions.
static_assert(sizeof(mvs::itk::SliceSegmenter<itk::Image<float, 4>>) > 0, "");
using RGB = itk::RGBPixel<unsigned char>;
static_assert(sizeof(mvs::itk::SliceSegmenter<itk::Image<RGB, 3>>) > 0, "");

int main() { return 0; }
