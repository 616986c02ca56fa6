// GoogleTest suite for the C++ wrapper, on the default model shipped in the library.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "multiverseg.hpp"
// Included twice on purpose: the include guards must make the second inclusion harmless
// (second_tu.cpp includes it again in another translation unit: no ODR violations).
#include "multiverseg.hpp"
#include "multiverseg.h"

int second_tu_version_length();

namespace {

// A 61x47 float image with a bright ellipse (the "structure") and its mask.
struct Scene {
  static constexpr uint32_t W = 61, H = 47;
  std::vector<float> pixels = std::vector<float>(W * H);
  std::vector<uint8_t> mask = std::vector<uint8_t>(W * H);
  explicit Scene(double cx) {
    for (uint32_t y = 0; y < H; ++y)
      for (uint32_t x = 0; x < W; ++x) {
        double u = (x - cx) / 14.0, v = (y - 23.0) / 9.0;
        bool in = u * u + v * v <= 1.0;
        mask[y * W + x] = in;
        pixels[y * W + x] = (in ? 180.f : 40.f) + static_cast<float>((x * 7 + y * 3) % 11);
      }
  }
  mvs::ImageView view() const { return mvs::ImageView(pixels.data(), W, H); }
};

mvs::Model cpu_model() { return mvs::Model::load_default(mvs::Backend::Cpu, 2); }

}  // namespace

TEST(Model, LoadsTheDefaultAndNamesItsBackend) {
  auto m = cpu_model();
  EXPECT_EQ(m.backend_name().rfind("cpu", 0), 0u) << m.backend_name();
  EXPECT_FALSE(mvs::version().empty());
}

TEST(Model, BadPathThrowsWithStatusAndMessage) {
  try {
    mvs::Model::load("/nonexistent/model.safetensors");
    FAIL() << "expected mvs::Error";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_IO);
    EXPECT_NE(std::string(e.what()).find("nonexistent"), std::string::npos) << e.what();
  }
}

TEST(Model, UnknownNameThrowsNamingTheKnownOnes) {
  try {
    mvs::Model::load_named("official-v9");
    FAIL() << "expected mvs::Error";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("official-v1"), std::string::npos) << e.what();
  }
}

TEST(Session, BadInputThrowsAndChangesNothing) {
  auto m = cpu_model();
  mvs::Session s(m);
  Scene sc(30);
  try {
    s.add_click(1, 1);
    FAIL() << "a click before an image must throw";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_STATE);
  }
  std::vector<float> nan_pixels = sc.pixels;
  nan_pixels[5] = NAN;
  EXPECT_THROW(s.add_context(mvs::ImageView(nan_pixels.data(), Scene::W, Scene::H),
                             sc.mask.data()),
               mvs::Error);
  EXPECT_EQ(s.context_count(), 0u);
  s.set_image(sc.view());
  try {
    s.add_click(Scene::W + 3, 2);
    FAIL();
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("outside"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.undo(), mvs::Error);  // the bad click was not kept
  EXPECT_THROW(s.remove_context(12345), mvs::Error);
}

TEST(Session, TheWholeLoopWithAGrowingContext) {
  auto m = cpu_model();
  mvs::Session s(m);
  for (int i = 0; i < 3; ++i) {
    Scene sc(22 + 4 * i);
    s.set_image(sc.view());
    EXPECT_EQ(s.image_size(), std::make_pair(Scene::W, Scene::H));
    s.add_click(22 + 4 * i, 23, true);
    s.add_box(6 + 4 * i, 12, 40 + 4 * i, 34);
    auto p = s.predict();
    ASSERT_EQ(p.probabilities.size(), size_t(Scene::W) * Scene::H);
    for (size_t k = 0; k < p.mask.size(); ++k) {
      ASSERT_TRUE(p.probabilities[k] >= 0.f && p.probabilities[k] <= 1.f);
      if (std::fabs(p.probabilities[k] - 0.5f) > 1e-6f) {
        ASSERT_EQ(p.mask[k], p.probabilities[k] > 0.5f ? 1 : 0);
      }
    }
    uint64_t id = (i == 2) ? s.commit_mask(sc.mask.data()) : s.commit();
    EXPECT_EQ(s.context_ids().back(), id);
  }
  EXPECT_EQ(s.context_count(), 3u);

  // Save, clear, load: the same ids come back.
  const std::string path = ::testing::TempDir() + "mvs_cpp_ctx.bin";
  auto ids = s.context_ids();
  s.save_context(path);
  s.clear_context();
  EXPECT_EQ(s.context_count(), 0u);
  s.load_context(path);
  EXPECT_EQ(s.context_ids(), ids);
  std::remove(path.c_str());
}

TEST(Session, PolylineScribbleUndoAndMove) {
  auto m = cpu_model();
  mvs::Session a(m);
  Scene sc(30);
  a.set_image(sc.view().window(0.f, 255.f));
  a.add_scribble_polyline({{20, 23}, {40, 23}}, 1.5, true);
  std::vector<uint8_t> brush(Scene::W * Scene::H, 0);
  brush[2 * Scene::W + 2] = 1;
  a.add_scribble(brush.data(), false);
  a.undo();
  mvs::Session b(std::move(a));  // the moved-from session is empty and safe to destroy
  std::vector<float> probs(Scene::W * Scene::H);
  b.predict_into(probs.data(), nullptr, probs.size());
  EXPECT_THROW(b.predict_into(probs.data(), nullptr, probs.size() - 1), mvs::Error);
  mvs::Model m2 = std::move(m);
  mvs::Session c(m2);
  c = std::move(b);
  EXPECT_EQ(c.image_size().first, Scene::W);
}

TEST(Header, WorksFromTwoTranslationUnits) {
  EXPECT_EQ(second_tu_version_length(), static_cast<int>(mvs::version().size()));
  EXPECT_EQ(mvs::version(), std::to_string(MVS_VERSION_MAJOR) + "." +
                                std::to_string(MVS_VERSION_MINOR) + "." +
                                std::to_string(MVS_VERSION_PATCH));
}

TEST(Model, OptionsReachTheLibrary) {
  mvs::ModelOptions o;
  o.backend = mvs::Backend::Cpu;
  o.threads = 1;
  auto m = mvs::Model::load_default(o);
  EXPECT_NE(m.backend_name().find("1 threads"), std::string::npos) << m.backend_name();
  EXPECT_NE(m.backend_name().find("winograd 4x4"), std::string::npos) << m.backend_name();
  o.cpu_conv = mvs::CpuConv::Winograd2x2;
  auto exact = mvs::Model::load_default(o);
  EXPECT_NE(exact.backend_name().find("winograd 2x2"), std::string::npos) << exact.backend_name();
  o.cpu_conv = mvs::CpuConv::Winograd4x4;
  o.gpu_conv_tile_rows = 5;  // not 4 or 8
  o.gpu_conv_tile_cols = 4;
  try {
    mvs::Model::load_default(o);
    FAIL() << "a bad conv tile must throw";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("gpu_conv_tile"), std::string::npos) << e.what();
  }
  o.gpu_conv_tile_rows = 0;
  o.gpu_conv_tile_cols = 0;
  o.memory_limit = 1024;  // far below what one context entry needs
  mvs::Session s(mvs::Model::load_default(o));
  Scene sc(30);
  s.add_context(sc.view(), sc.mask.data());
  s.set_image(sc.view());
  try {
    s.predict();
    FAIL() << "a prediction over the memory limit must throw";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_OUT_OF_MEMORY);
  }
}

TEST(Session, PredictIsPureAndBatchEqualsSinglePredictions) {
  auto m = cpu_model();
  mvs::Session s(m);
  Scene a(24), b(30), c(36);
  s.add_context(a.view(), a.mask.data());
  s.set_image(b.view());
  s.add_click(30, 23, true);
  auto p1 = s.predict();
  auto p2 = s.predict();
  EXPECT_EQ(p1.probabilities, p2.probabilities) << "two predicts in a row differ";
  EXPECT_GE(p1.uncertainty, 0.f);
  EXPECT_LE(p1.uncertainty, 1.f);
  EXPECT_EQ(s.uncertainty(), p1.uncertainty);
  // The batch: no prompts, the session's context, the session unchanged.
  size_t calls = 0;
  auto r = s.predict_batch({b.view(), c.view()}, [&](size_t done, size_t total) {
    ++calls;
    EXPECT_EQ(total, 2u);
    return done <= total;
  });
  EXPECT_EQ(calls, 2u);
  ASSERT_EQ(r.masks.size(), 2u);
  EXPECT_EQ(s.predict().probabilities, p1.probabilities) << "the batch changed the session";
  for (int i = 0; i < 2; ++i) {
    Scene& sc = i == 0 ? b : c;
    mvs::Session one(m);
    one.add_context(a.view(), a.mask.data());
    one.set_image(sc.view());
    auto p = one.predict();
    EXPECT_EQ(r.masks[i], p.mask) << "image " << i;
    EXPECT_EQ(r.uncertainty[i], p.uncertainty) << "image " << i;
  }
  // A progress callback that says stop cancels the call.
  try {
    s.predict_batch({b.view(), c.view()}, [](size_t, size_t) { return false; });
    FAIL() << "expected MVS_ERR_CANCELLED";
  } catch (const mvs::Error& e) {
    EXPECT_EQ(e.status(), MVS_ERR_CANCELLED);
  }
  // An exception from the callback reaches the caller (not through the library's frames)
  // and leaves the session as it was.
  struct Stop {};
  EXPECT_THROW(s.predict_batch({b.view(), c.view()},
                               [](size_t, size_t) -> bool { throw Stop{}; }),
               Stop);
  EXPECT_EQ(s.predict().probabilities, p1.probabilities);
}

TEST(Session, CancelFromAnotherThreadAndThePolicy) {
  auto m = cpu_model();
  mvs::Session s(m);
  Scene a(24);
  for (int i = 0; i < 6; ++i) s.add_context(a.view(), a.mask.data());
  s.set_context_policy(2, mvs::Select::Similar);
  EXPECT_THROW(s.set_context_policy(1, static_cast<mvs::Select>(7)), mvs::Error);
  s.set_image(a.view());
  auto before = s.predict();
  // Cancel while a batch of many images runs: it stops with MVS_ERR_CANCELLED.
  std::vector<mvs::ImageView> many(200, a.view());
  std::atomic<bool> started{false};
  std::thread canceller([&] {
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.cancel();
  });
  try {
    s.predict_batch(many, [&](size_t, size_t) {
      started = true;
      return true;
    });
    canceller.join();
    FAIL() << "the batch was not cancelled";
  } catch (const mvs::Error& e) {
    canceller.join();
    EXPECT_EQ(e.status(), MVS_ERR_CANCELLED);
  }
  EXPECT_EQ(s.predict().probabilities, before.probabilities) << "cancel changed the session";
}

TEST(Session, AfterPromptChoosesTheNetworkAfterAClick) {
  auto m = cpu_model();
  mvs::Session s(m);
  Scene a(24), b(30);
  s.add_context(a.view(), a.mask.data());
  EXPECT_EQ(s.after_prompt(), mvs::AfterPrompt::MultiverSeg);
  EXPECT_THROW(s.set_after_prompt(static_cast<mvs::AfterPrompt>(9)), mvs::Error);
  EXPECT_EQ(s.after_prompt(), mvs::AfterPrompt::MultiverSeg);
  s.set_image(b.view());
  auto bare = s.predict();
  s.add_click(30, 23, true);
  auto mvs_pred = s.predict();
  s.set_after_prompt(mvs::AfterPrompt::Unet);
  EXPECT_EQ(s.after_prompt(), mvs::AfterPrompt::Unet);
  auto unet_pred = s.predict();
  // The UNet alone (min_context above the context size) on the same state gives the same bits.
  s.set_after_prompt(mvs::AfterPrompt::MultiverSeg);
  s.set_min_context(5);
  EXPECT_EQ(s.predict().probabilities, unet_pred.probabilities);
  s.set_min_context(1);
  EXPECT_NE(unet_pred.probabilities, mvs_pred.probabilities);
  s.set_after_prompt(mvs::AfterPrompt::MeanForClicks);
  auto mean_pred = s.predict();
  EXPECT_NE(mean_pred.probabilities, mvs_pred.probabilities);
  EXPECT_NE(mean_pred.probabilities, unet_pred.probabilities);
  // No prompt: MultiverSegNet whatever the setting.
  s.clear_prompts();
  EXPECT_EQ(s.predict().probabilities, bare.probabilities);
}

TEST(Session, UnetFlipAverageChangesTheUnetOnly) {
  auto m = cpu_model();
  mvs::Session s(m);
  Scene a(24), b(30);
  EXPECT_FALSE(s.unet_flip_average());
  s.set_image(b.view());
  s.add_click(30, 23, true);
  auto one_pass = s.predict();  // the UNet: no context yet
  s.set_unet_flip_average(true);
  EXPECT_TRUE(s.unet_flip_average());
  auto averaged = s.predict();
  EXPECT_NE(averaged.probabilities, one_pass.probabilities);
  EXPECT_EQ(s.predict().probabilities, averaged.probabilities) << "repeatable";
  // With a context MultiverSegNet predicts, and the setting does not change it.
  s.add_context(a.view(), a.mask.data());
  auto mvs_on = s.predict();
  s.set_unet_flip_average(false);
  EXPECT_FALSE(s.unet_flip_average());
  EXPECT_EQ(s.predict().probabilities, mvs_on.probabilities);
  EXPECT_NE(mvs_on.probabilities, averaged.probabilities);
}

TEST(Log, MessagesReachTheHandler) {
  std::atomic<int> n{0};
  mvs::set_log_handler([&](mvs::LogLevel, const char* msg) {
    if (msg && *msg) ++n;
  });
  // Loading a model logs (at debug) what was loaded and on which backend.
  mvs::Model::load_default(mvs::Backend::Cpu, 1);
  EXPECT_GT(n.load(), 0);
  mvs::set_log_handler(nullptr);
  int before = n.load();
  mvs::Model::load_default(mvs::Backend::Cpu, 1);
  EXPECT_EQ(n.load(), before) << "messages after the handler was cleared";
}
