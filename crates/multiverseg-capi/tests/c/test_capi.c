/* Exercises every function of the C API, including bad input. Usage: test_capi MODEL TMPDIR */
#define _POSIX_C_SOURCE 200112L /* setenv, mkdir */
#include "multiverseg.h"
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int failures = 0;
#define CHECK(cond, what)                                                              \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, what,   \
              mvs_last_error_message());                                               \
      failures++;                                                                      \
    }                                                                                  \
  } while (0)
#define EXPECT(call, status) CHECK((call) == (status), #call " should return " #status)
#define EXPECT_MSG(call, status, needle)                                               \
  do {                                                                                 \
    EXPECT(call, status);                                                              \
    CHECK(strstr(mvs_last_error_message(), needle) != NULL, "message names " needle);  \
  } while (0)

static int log_messages = 0;
static void count_log(int level, const char *message, void *user_data) {
  (void)user_data;
  if (level >= MVS_LOG_ERROR && level <= MVS_LOG_TRACE && message && message[0]) log_messages++;
}

static int progress_calls = 0;
static int stop_after_one(size_t done, size_t total, void *user_data) {
  (void)total;
  (void)user_data;
  progress_calls++;
  return done >= 1; /* non-zero: cancel */
}
static int keep_going(size_t done, size_t total, void *user_data) {
  (void)done;
  (void)total;
  (*(int *)user_data)++;
  return 0;
}

/* Copies a file byte for byte (the test places a weights file where `mvs fetch` would). */
static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  CHECK(in != NULL && out != NULL, "open files to copy");
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK(fwrite(buf, 1, n, out) == n, "copy");
  fclose(in);
  fclose(out);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *model_path = argv[1];
  char path[4096];

  CHECK(strlen(mvs_version()) > 0, "version");

  /* Model loading: bad input first. */
  MvsModel *model = NULL;
  EXPECT_MSG(mvs_model_load(NULL, MVS_BACKEND_CPU, 1, &model), MVS_ERR_INVALID_ARGUMENT, "path");
  EXPECT_MSG(mvs_model_load(model_path, MVS_BACKEND_CPU, 1, NULL), MVS_ERR_INVALID_ARGUMENT, "out");
  EXPECT_MSG(mvs_model_load(model_path, 42, 1, &model), MVS_ERR_INVALID_ARGUMENT, "backend");
  EXPECT(mvs_model_load("/nonexistent/model.safetensors", MVS_BACKEND_CPU, 1, &model), MVS_ERR_IO);
  snprintf(path, sizeof path, "%s/not_a_model.bin", argv[2]);
  FILE *f = fopen(path, "wb");
  fputs("this is not a model", f);
  fclose(f);
  EXPECT(mvs_model_load(path, MVS_BACKEND_CPU, 1, &model), MVS_ERR_FORMAT);
  CHECK(model == NULL, "failed load leaves out untouched");
  EXPECT(mvs_model_load(model_path, MVS_BACKEND_AUTO, 2, &model), MVS_OK);
  CHECK(model != NULL, "model loaded");
  CHECK(strcmp(mvs_last_error_message(), "") == 0, "message cleared after success");

  /* Backend name: query the length, then copy (truncated and full). */
  size_t name_len = 0;
  char name[8];
  EXPECT(mvs_model_backend_name(NULL, name, sizeof name, &name_len), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_model_backend_name(model, NULL, 4, &name_len), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_model_backend_name(model, NULL, 0, &name_len), MVS_OK);
  CHECK(name_len > 3, "backend name length");
  EXPECT(mvs_model_backend_name(model, name, sizeof name, NULL), MVS_OK);
  CHECK(strlen(name) == (name_len < sizeof name ? name_len : sizeof name - 1), "truncated name");
  /* AUTO: a hardware GPU if there is one, never a software one; else the CPU. */
  CHECK(strncmp(name, "cpu", 3) == 0 || strncmp(name, "gpu", 3) == 0, "backend is named");

  /* Logging: nothing by default; the callback receives the library's messages. */
  EXPECT(mvs_set_log_callback(count_log, NULL), MVS_OK);

  /* Options: defaults, a smaller (older) struct, bad values. */
  MvsModelOptions opts;
  EXPECT_MSG(mvs_model_options_init(NULL, sizeof opts), MVS_ERR_INVALID_ARGUMENT, "opts");
  EXPECT_MSG(mvs_model_options_init(&opts, 2), MVS_ERR_INVALID_ARGUMENT, "struct_size");
  EXPECT(mvs_model_options_init(&opts, sizeof opts), MVS_OK);
  CHECK(opts.struct_size == sizeof opts && opts.backend == MVS_BACKEND_AUTO && opts.threads == 0 &&
            opts.gpu_adapter == NULL && opts.memory_limit == 0 &&
            opts.cpu_conv == MVS_CPU_CONV_WINOGRAD_4X4,
        "options defaults");
  opts.backend = MVS_BACKEND_CPU;
  opts.threads = 1;
  MvsModel *om = NULL;
  EXPECT(mvs_model_load_with(model_path, &opts, &om), MVS_OK);
  EXPECT(mvs_model_backend_name(om, path, sizeof path, NULL), MVS_OK);
  CHECK(strstr(path, "1 threads") != NULL, "threads reach the backend");
  CHECK(strstr(path, "winograd 4x4") != NULL, "the default CPU convolution");
  mvs_model_free(om);
  opts.cpu_conv = MVS_CPU_CONV_WINOGRAD_2X2;
  EXPECT(mvs_model_load_with(model_path, &opts, &om), MVS_OK);
  EXPECT(mvs_model_backend_name(om, path, sizeof path, NULL), MVS_OK);
  CHECK(strstr(path, "winograd 2x2") != NULL, "cpu_conv reaches the backend");
  mvs_model_free(om);
  opts.cpu_conv = 4;
  EXPECT_MSG(mvs_model_load_with(model_path, &opts, &om), MVS_ERR_INVALID_ARGUMENT, "cpu_conv");
  opts.cpu_conv = MVS_CPU_CONV_WINOGRAD_4X4;
  CHECK(log_messages > 0, "loading a model logs a message");
  /* A caller compiled against a header whose struct ended before gpu_adapter: the library
     must not read past it (the fields after are defaults). */
  MvsModelOptions old;
  memset(&old, 0xAB, sizeof old);
  EXPECT(mvs_model_options_init(&old, offsetof(MvsModelOptions, gpu_adapter)), MVS_OK);
  CHECK(old.struct_size == offsetof(MvsModelOptions, gpu_adapter), "struct_size kept");
  CHECK(old.memory_limit == 0xABABABABABABABABull, "init wrote past struct_size");
  old.backend = MVS_BACKEND_CPU;
  om = NULL;
  EXPECT(mvs_model_load_with(model_path, &old, &om), MVS_OK);
  mvs_model_free(om);
  opts.backend = 17;
  EXPECT_MSG(mvs_model_load_with(model_path, &opts, &om), MVS_ERR_INVALID_ARGUMENT, "backend");
  opts.backend = MVS_BACKEND_CPU;
  opts.gpu_conv_tile_rows = 3;
  opts.gpu_conv_tile_cols = 8;
  EXPECT_MSG(mvs_model_load_with(model_path, &opts, &om), MVS_ERR_INVALID_ARGUMENT, "gpu_conv_tile");
  opts.gpu_conv_tile_rows = 0;
  opts.gpu_conv_tile_cols = 0;
  EXPECT(mvs_model_load_with(NULL, &opts, &om), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_model_load_default_with(NULL, NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_set_log_callback(NULL, NULL), MVS_OK);
  int before_off = log_messages;
  EXPECT(mvs_model_load_with(model_path, NULL, &om), MVS_OK);
  mvs_model_free(om);
  CHECK(log_messages == before_off, "no messages after the callback is cleared");

  /* The default model shipped in the library. */
  MvsModel *dflt = NULL;
  EXPECT_MSG(mvs_model_load_default(MVS_BACKEND_CPU, 1, NULL), MVS_ERR_INVALID_ARGUMENT, "out");
  EXPECT_MSG(mvs_model_load_default(9, 1, &dflt), MVS_ERR_INVALID_ARGUMENT, "backend");
  EXPECT(mvs_model_load_default(MVS_BACKEND_CPU, 1, &dflt), MVS_OK);
  CHECK(dflt != NULL, "default model loaded");
  mvs_model_free(dflt);

  /* Named models resolve in $MVS_CACHE_DIR (as `mvs fetch` leaves them), never online. */
  char cache[1024], named_dir[2048], named_file[4096];
  snprintf(cache, sizeof cache, "%s/cache", argv[2]);
  CHECK(setenv("MVS_CACHE_DIR", cache, 1) == 0, "setenv");
  MvsModel *named = NULL;
  EXPECT_MSG(mvs_model_load_named(NULL, NULL, &named), MVS_ERR_INVALID_ARGUMENT, "name");
  EXPECT_MSG(mvs_model_load_named("official-v9", NULL, &named), MVS_ERR_INVALID_ARGUMENT,
             "official-v1");
  EXPECT_MSG(mvs_model_load_named("official-v1", NULL, &named), MVS_ERR_NOT_FOUND,
             "mvs fetch official-v1");
  CHECK(named == NULL, "failed named load leaves out untouched");
  snprintf(named_dir, sizeof named_dir, "%s/official-v1", cache);
  CHECK((mkdir(cache, 0755) == 0 || errno == EEXIST) &&
            (mkdir(named_dir, 0755) == 0 || errno == EEXIST),
        "mkdir cache");
  snprintf(named_file, sizeof named_file, "%s/model.safetensors", named_dir);
  copy_file(model_path, named_file);
  EXPECT(mvs_model_load_named("official-v1", NULL, &named), MVS_OK);
  CHECK(named != NULL, "named model loaded");
  mvs_model_free(named);

  /* The GPU backend (lavapipe in CI). Not under valgrind: a software Vulkan driver's
     JIT is outside what memcheck can follow in reasonable time. */
  if (getenv("MVS_TEST_GPU") != NULL) {
    MvsModel *gm = NULL;
    char gname[256];
    EXPECT(mvs_model_load(model_path, MVS_BACKEND_GPU, 2, &gm), MVS_OK);
    EXPECT(mvs_model_backend_name(gm, gname, sizeof gname, NULL), MVS_OK);
    CHECK(strncmp(gname, "gpu", 3) == 0, "MVS_BACKEND_GPU runs on the GPU");
    printf("GPU backend: %s\n", gname);
    mvs_model_free(gm);
  }

  MvsSession *s = NULL;
  EXPECT(mvs_session_create(NULL, &s), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_create(model, NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_create(model, &s), MVS_OK);
  /* A session keeps its model alive: free the handle now. */
  mvs_model_free(model);
  mvs_model_free(NULL);

  /* Images: a 70x50 u16 ramp with stride 72, a disk mask. */
  enum { W = 70, H = 50, STRIDE = 72 };
  uint16_t *pix = calloc(STRIDE * H, sizeof(uint16_t));
  uint8_t *mask = calloc(W * H, 1);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      pix[y * STRIDE + x] = (uint16_t)(100 + 7 * x + 3 * y + ((x - 35) * (x - 35) + (y - 25) * (y - 25) < 200 ? 500 : 0));
      mask[y * W + x] = (x - 35) * (x - 35) + (y - 25) * (y - 25) < 200;
    }
  MvsImage img = {pix, MVS_PIXEL_U16, W, H, STRIDE, 0, 0.f, 0.f};

  /* Context: bad input changes nothing. */
  size_t count = 99;
  uint64_t id = 0;
  EXPECT(mvs_session_context_add(NULL, &img, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT);
  EXPECT_MSG(mvs_session_context_add(s, NULL, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "image");
  EXPECT_MSG(mvs_session_context_add(s, &img, NULL, 0, &id), MVS_ERR_INVALID_ARGUMENT, "mask");
  EXPECT_MSG(mvs_session_context_add(s, &img, mask, W - 1, &id), MVS_ERR_INVALID_ARGUMENT, "mask");
  MvsImage zero = img; zero.width = 0;
  EXPECT_MSG(mvs_session_context_add(s, &zero, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "image");
  MvsImage huge = img; huge.width = 4000000000u; huge.height = 4000000000u;
  EXPECT_MSG(mvs_session_context_add(s, &huge, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "image");
  MvsImage badtype = img; badtype.pixel_type = 77;
  EXPECT_MSG(mvs_session_context_add(s, &badtype, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "pixel_type");
  float *fpix = malloc(sizeof(float) * W * H);
  for (int i = 0; i < W * H; i++) fpix[i] = (float)(i % 97) / 97.f;
  fpix[123] = NAN;
  MvsImage nanimg = {fpix, MVS_PIXEL_F32, W, H, 0, 0, 0.f, 0.f};
  EXPECT_MSG(mvs_session_context_add(s, &nanimg, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "NaN");
  MvsImage badwin = img; badwin.use_window = 1; badwin.window_lo = 5.f; badwin.window_hi = 1.f;
  EXPECT_MSG(mvs_session_context_add(s, &badwin, mask, 0, &id), MVS_ERR_INVALID_ARGUMENT, "window");
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 0, "failed adds changed nothing");
  EXPECT(mvs_session_context_count(s, NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_context_count(NULL, &count), MVS_ERR_INVALID_ARGUMENT);

  uint64_t ids[4];
  EXPECT(mvs_session_context_add(s, &img, mask, 0, &ids[0]), MVS_OK);
  MvsImage win = img; win.use_window = 1; win.window_lo = 100.f; win.window_hi = 900.f;
  EXPECT(mvs_session_context_add(s, &win, mask, W, &ids[1]), MVS_OK);
  EXPECT(mvs_session_context_add(s, &img, mask, 0, NULL), MVS_OK);
  CHECK(ids[0] != ids[1], "ids are distinct");
  EXPECT_MSG(mvs_session_context_remove(s, 987654), MVS_ERR_NOT_FOUND, "987654");
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 3, "three entries");
  uint64_t listed[8];
  size_t n = 0;
  EXPECT(mvs_session_context_list(s, NULL, 0, &n), MVS_OK);
  CHECK(n == 3, "list count");
  EXPECT(mvs_session_context_list(s, NULL, 2, &n), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_context_list(s, listed, 8, &n), MVS_OK);
  CHECK(listed[0] == ids[0] && listed[1] == ids[1], "list order");
  EXPECT(mvs_session_context_remove(s, listed[2]), MVS_OK);

  /* Save, clear, load. */
  snprintf(path, sizeof path, "%s/ctx.mvsctx", argv[2]);
  EXPECT(mvs_session_context_save(s, path), MVS_OK);
  EXPECT(mvs_session_context_save(s, NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_context_clear(s), MVS_OK);
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 0, "cleared");
  EXPECT(mvs_session_context_load(s, "/nonexistent.mvsctx"), MVS_ERR_IO);
  snprintf(path, sizeof path, "%s/not_a_model.bin", argv[2]);
  EXPECT(mvs_session_context_load(s, path), MVS_ERR_FORMAT);
  snprintf(path, sizeof path, "%s/ctx.mvsctx", argv[2]);
  EXPECT(mvs_session_context_load(s, path), MVS_OK);
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 2, "loaded two entries");
  size_t added = 0;
  EXPECT(mvs_session_context_import_folder(s, "/nonexistent_dir", &added), MVS_ERR_IO);
  EXPECT(mvs_session_context_import_folder(s, argv[2], &added), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_context_import_folder_label(s, argv[2], 2, &added), MVS_ERR_INVALID_ARGUMENT);
  EXPECT_MSG(mvs_session_set_context_policy(s, 2, 9), MVS_ERR_INVALID_ARGUMENT, "select");
  EXPECT(mvs_session_set_context_policy(s, 0, MVS_SELECT_LATEST), MVS_OK);
  EXPECT(mvs_session_cancel(NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_cancel(s), MVS_OK); /* nothing runs: no effect on later calls */

  /* Prompts before an image: state errors. */
  EXPECT(mvs_session_add_click(s, 3, 3, 1), MVS_ERR_STATE);
  EXPECT(mvs_session_predict(s, NULL, NULL, 0), MVS_ERR_STATE);
  EXPECT(mvs_session_commit(s, &id), MVS_ERR_STATE);
  EXPECT(mvs_session_undo(s), MVS_ERR_STATE);

  EXPECT(mvs_session_set_image(s, &nanimg), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_set_image(NULL, &img), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_set_image(s, &img), MVS_OK);
  EXPECT_MSG(mvs_session_add_click(s, W, 3, 1), MVS_ERR_INVALID_ARGUMENT, "outside");
  EXPECT(mvs_session_add_click(s, -1, 3, 1), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_click(s, NAN, 3, 1), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_box(s, 0, 0, W + 5, 10), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_scribble(s, NULL, 0, 1), MVS_ERR_INVALID_ARGUMENT);
  double line[4] = {10, 10, 500, 10};
  EXPECT(mvs_session_add_scribble_polyline(s, line, 2, 2.0, 0), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_scribble_polyline(s, NULL, 2, 2.0, 0), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_scribble_polyline(s, line, 0, 2.0, 0), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_undo(s), MVS_ERR_STATE); /* none of the bad prompts was kept */

  EXPECT(mvs_session_add_click(s, 35, 25, 1), MVS_OK);
  EXPECT(mvs_session_add_box(s, 20, 10, 50, 40), MVS_OK);
  EXPECT(mvs_session_add_scribble(s, mask, 0, 1), MVS_OK);
  line[2] = 60;
  EXPECT(mvs_session_add_scribble_polyline(s, line, 2, 1.5, 0), MVS_OK);
  EXPECT(mvs_session_undo(s), MVS_OK);
  EXPECT(mvs_session_clear_prompts(s), MVS_OK);
  EXPECT(mvs_session_add_click(s, 35, 25, 1), MVS_OK);

  float *probs = malloc(sizeof(float) * W * H);
  uint8_t *out = malloc(W * H);
  EXPECT_MSG(mvs_session_predict(s, probs, out, W * H - 1), MVS_ERR_INVALID_ARGUMENT, "len");
  EXPECT(mvs_session_predict(s, probs, out, W * H), MVS_OK);
  int consistent = 1;
  for (int i = 0; i < W * H; i++) {
    if (!(probs[i] >= 0.f && probs[i] <= 1.f)) consistent = 0;
    if ((probs[i] > 0.5f) != (out[i] == 1) && fabsf(probs[i] - 0.5f) > 1e-6f) consistent = 0;
  }
  CHECK(consistent, "mask is the thresholded probabilities");
  /* Predict is pure: a second call with nothing in between gives the same bits. A prompt
     added after a prediction makes it the mask input; undo restores the state. */
  float *probs2 = malloc(sizeof(float) * W * H);
  EXPECT(mvs_session_predict(s, probs2, NULL, W * H), MVS_OK);
  CHECK(memcmp(probs, probs2, sizeof(float) * W * H) == 0, "two predicts in a row are identical");
  float u = -1.f;
  EXPECT(mvs_session_uncertainty(s, &u), MVS_OK);
  CHECK(u >= 0.f && u <= 1.f, "uncertainty in [0, 1]");
  EXPECT(mvs_session_uncertainty(s, NULL), MVS_ERR_INVALID_ARGUMENT);
  EXPECT(mvs_session_add_click(s, 10, 10, 0), MVS_OK);
  EXPECT(mvs_session_predict(s, probs2, NULL, W * H), MVS_OK);
  EXPECT(mvs_session_undo(s), MVS_OK);
  EXPECT(mvs_session_predict(s, probs2, NULL, W * H), MVS_OK);
  CHECK(memcmp(probs, probs2, sizeof(float) * W * H) == 0, "undo restores the prediction");
  free(probs2);

  /* Batch: equal to single predictions with no prompts; the session is unchanged. */
  {
    MvsImage batch[2] = {img, img};
    uint8_t *bm0 = malloc(W * H), *bm1 = malloc(W * H);
    uint8_t *bmasks[2] = {bm0, bm1};
    float bu[2] = {-1.f, -1.f};
    int calls = 0;
    EXPECT(mvs_session_predict_batch(s, batch, 2, bmasks, bu, keep_going, &calls), MVS_OK);
    CHECK(calls == 2, "progress called once per image");
    CHECK(bu[0] >= 0.f && bu[0] <= 1.f && bu[0] == bu[1], "batch uncertainty");
    MvsSession *single = NULL;
    MvsModel *sm = NULL;
    EXPECT(mvs_model_load(model_path, MVS_BACKEND_CPU, 2, &sm), MVS_OK);
    EXPECT(mvs_session_create(sm, &single), MVS_OK);
    mvs_model_free(sm);
    size_t nctx = 0;
    EXPECT(mvs_session_context_count(s, &nctx), MVS_OK);
    snprintf(path, sizeof path, "%s/batch_ctx.mvsctx", argv[2]);
    EXPECT(mvs_session_context_save(s, path), MVS_OK);
    EXPECT(mvs_session_context_load(single, path), MVS_OK);
    EXPECT(mvs_session_set_image(single, &img), MVS_OK);
    EXPECT(mvs_session_predict(single, NULL, out, W * H), MVS_OK);
    CHECK(memcmp(out, bm0, W * H) == 0 && memcmp(out, bm1, W * H) == 0, "batch = single predictions");
    mvs_session_free(single);
    progress_calls = 0;
    EXPECT(mvs_session_predict_batch(s, batch, 2, bmasks, bu, stop_after_one, NULL), MVS_ERR_CANCELLED);
    CHECK(progress_calls == 1, "cancelled after the first image");
    EXPECT_MSG(mvs_session_predict_batch(s, NULL, 2, bmasks, bu, NULL, NULL), MVS_ERR_INVALID_ARGUMENT, "images");
    uint8_t *nullmasks[2] = {bm0, NULL};
    EXPECT_MSG(mvs_session_predict_batch(s, batch, 2, nullmasks, NULL, NULL, NULL), MVS_ERR_INVALID_ARGUMENT, "masks[1]");
    batch[1].width = 0;
    EXPECT_MSG(mvs_session_predict_batch(s, batch, 2, bmasks, NULL, NULL, NULL), MVS_ERR_INVALID_ARGUMENT, "images[1]");
    free(bm0);
    free(bm1);
    float *probs3 = malloc(sizeof(float) * W * H);
    EXPECT(mvs_session_predict(s, probs3, NULL, W * H), MVS_OK);
    CHECK(memcmp(probs, probs3, sizeof(float) * W * H) == 0, "the batch left the session unchanged");
    free(probs3);
  }

  EXPECT(mvs_session_predict(s, NULL, out, W * H), MVS_OK);
  EXPECT(mvs_session_commit(s, &id), MVS_OK);
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 3, "commit added an entry");
  EXPECT(mvs_session_commit(s, &id), MVS_ERR_STATE);

  /* Commit a hand-corrected mask; image size query. */
  uint32_t iw = 1, ih = 1;
  EXPECT(mvs_session_image_size(s, &iw, &ih), MVS_OK);
  CHECK(iw == 0 && ih == 0, "no image after commit");
  EXPECT(mvs_session_commit_mask(s, mask, 0, &id), MVS_ERR_STATE);
  EXPECT(mvs_session_set_image(s, &img), MVS_OK);
  EXPECT(mvs_session_image_size(s, &iw, &ih), MVS_OK);
  CHECK(iw == W && ih == H, "image size");
  EXPECT(mvs_session_image_size(NULL, &iw, &ih), MVS_ERR_INVALID_ARGUMENT);
  EXPECT_MSG(mvs_session_commit_mask(s, NULL, 0, &id), MVS_ERR_INVALID_ARGUMENT, "mask");
  EXPECT_MSG(mvs_session_commit_mask(s, mask, W - 1, &id), MVS_ERR_INVALID_ARGUMENT, "stride");
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 3, "failed commit_mask changed nothing");
  uint64_t mid = 0;
  EXPECT(mvs_session_commit_mask(s, mask, 0, &mid), MVS_OK);
  CHECK(mid > id, "commit_mask returns a new id");
  EXPECT(mvs_session_context_count(s, &count), MVS_OK);
  CHECK(count == 4, "commit_mask added an entry");
  EXPECT(mvs_session_context_remove(s, mid), MVS_OK);

  /* UNet path with min_context above the context size. */
  EXPECT(mvs_session_set_min_context(s, 10), MVS_OK);
  EXPECT(mvs_session_set_image(s, &win), MVS_OK);
  EXPECT(mvs_session_add_click(s, 35, 25, 1), MVS_OK);
  EXPECT(mvs_session_predict(s, probs, NULL, W * H), MVS_OK);
  EXPECT(mvs_session_set_min_context(NULL, 1), MVS_ERR_INVALID_ARGUMENT);

  /* After a prompt: the setting, a bad value, and what each value predicts. `probs` holds the
     UNet's prediction of `win` with one click and a zero mask input (no earlier prediction). */
  {
    uint32_t ap = 99;
    EXPECT(mvs_session_get_after_prompt(s, &ap), MVS_OK);
    CHECK(ap == MVS_AFTER_PROMPT_MULTIVERSEG, "MultiverSegNet after a prompt by default");
    EXPECT_MSG(mvs_session_set_after_prompt(s, 4), MVS_ERR_INVALID_ARGUMENT, "after_prompt");
    EXPECT(mvs_session_get_after_prompt(s, &ap), MVS_OK);
    CHECK(ap == MVS_AFTER_PROMPT_MULTIVERSEG, "a bad value changed nothing");
    EXPECT(mvs_session_set_after_prompt(NULL, MVS_AFTER_PROMPT_MEAN), MVS_ERR_INVALID_ARGUMENT);
    EXPECT_MSG(mvs_session_get_after_prompt(s, NULL), MVS_ERR_INVALID_ARGUMENT, "out");
    float *pm = malloc(sizeof(float) * W * H), *pu = malloc(sizeof(float) * W * H);
    float *pa = malloc(sizeof(float) * W * H), *pc = malloc(sizeof(float) * W * H);
    EXPECT(mvs_session_set_min_context(s, 1), MVS_OK);
    EXPECT(mvs_session_set_image(s, &win), MVS_OK);
    EXPECT(mvs_session_add_click(s, 35, 25, 1), MVS_OK);
    EXPECT(mvs_session_predict(s, pm, NULL, W * H), MVS_OK);
    EXPECT(mvs_session_set_after_prompt(s, MVS_AFTER_PROMPT_UNET), MVS_OK);
    EXPECT(mvs_session_get_after_prompt(s, &ap), MVS_OK);
    CHECK(ap == MVS_AFTER_PROMPT_UNET, "the value set is read back");
    EXPECT(mvs_session_predict(s, pu, NULL, W * H), MVS_OK);
    CHECK(memcmp(pu, probs, sizeof(float) * W * H) == 0, "UNET: the UNet's prediction");
    CHECK(memcmp(pu, pm, sizeof(float) * W * H) != 0, "the UNet's differs from MultiverSegNet's");
    EXPECT(mvs_session_set_after_prompt(s, MVS_AFTER_PROMPT_MEAN), MVS_OK);
    EXPECT(mvs_session_predict(s, pa, NULL, W * H), MVS_OK);
    /* the mean of the logits: logit(pa) = (logit(pm) + logit(pu)) / 2 where none saturates */
    int checked = 0, mean_ok = 1;
    for (int i = 0; i < W * H; i++) {
      if (pm[i] < 0.01f || pm[i] > 0.99f || pu[i] < 0.01f || pu[i] > 0.99f) continue;
      double lm = log(pm[i] / (1.0 - pm[i])), lu = log(pu[i] / (1.0 - pu[i]));
      double la = log(pa[i] / (1.0 - pa[i]));
      if (fabs(la - 0.5 * (lm + lu)) > 1e-3) mean_ok = 0;
      checked++;
    }
    CHECK(checked > 0 && mean_ok, "MEAN: the mean of both networks' logits");
    EXPECT(mvs_session_set_after_prompt(s, MVS_AFTER_PROMPT_MEAN_FOR_CLICKS), MVS_OK);
    EXPECT(mvs_session_predict(s, pc, NULL, W * H), MVS_OK);
    CHECK(memcmp(pc, pa, sizeof(float) * W * H) == 0, "MEAN_FOR_CLICKS with clicks: the mean");
    EXPECT(mvs_session_add_box(s, 20, 10, 50, 40), MVS_OK);
    EXPECT(mvs_session_predict(s, pc, NULL, W * H), MVS_OK);
    EXPECT(mvs_session_set_after_prompt(s, MVS_AFTER_PROMPT_MULTIVERSEG), MVS_OK);
    EXPECT(mvs_session_predict(s, pm, NULL, W * H), MVS_OK);
    CHECK(memcmp(pc, pm, sizeof(float) * W * H) == 0, "MEAN_FOR_CLICKS after a box: MultiverSegNet");
    free(pm); free(pu); free(pa); free(pc);
  }

  /* Flip averaging of the UNet: the setting, bad calls, and on a 128 x 128 image (the
     network's own grid: no padding, no resizing) the mean of the UNet's logits over the four
     flips made by hand through the API, each flipped back. */
  {
    int fa = 7;
    EXPECT(mvs_session_get_unet_flip_average(s, &fa), MVS_OK);
    CHECK(fa == 0, "flip averaging is off by default");
    EXPECT(mvs_session_set_unet_flip_average(NULL, 1), MVS_ERR_INVALID_ARGUMENT);
    EXPECT(mvs_session_get_unet_flip_average(NULL, &fa), MVS_ERR_INVALID_ARGUMENT);
    EXPECT_MSG(mvs_session_get_unet_flip_average(s, NULL), MVS_ERR_INVALID_ARGUMENT, "out");
    enum { N = 128, CX = 70, CY = 50 };
    float *sq = malloc(sizeof(float) * N * N), *fl = malloc(sizeof(float) * N * N);
    float *pk[4], *pf = malloc(sizeof(float) * N * N), *m0 = malloc(sizeof(float) * N * N);
    for (int y = 0; y < N; y++)
      for (int x = 0; x < N; x++)
        sq[y * N + x] = (x - CX) * (x - CX) + 2 * (y - CY) * (y - CY) < 300 ? 0.8f : 0.1f + 0.002f * x + 0.001f * y;
    MvsImage sqimg = {sq, MVS_PIXEL_F32, N, N, 0, 1, 0.f, 1.f};
    EXPECT(mvs_session_set_min_context(s, 10), MVS_OK); /* the UNet path */
    for (int k = 0; k < 4; k++) {
      int lr = k & 1, ud = (k >> 1) & 1;
      for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
          fl[y * N + x] = sq[(ud ? N - 1 - y : y) * N + (lr ? N - 1 - x : x)];
      MvsImage fimg = sqimg;
      fimg.data = fl;
      pk[k] = malloc(sizeof(float) * N * N);
      EXPECT(mvs_session_set_image(s, &fimg), MVS_OK);
      /* pixel centres, so that the flipped click lands on the mirrored pixel whatever the rounding */
      EXPECT(mvs_session_add_click(s, (lr ? N - 1 - CX : CX) + 0.5f, (ud ? N - 1 - CY : CY) + 0.5f, 1), MVS_OK);
      EXPECT(mvs_session_predict(s, pk[k], NULL, N * N), MVS_OK);
    }
    EXPECT(mvs_session_set_unet_flip_average(s, 1), MVS_OK);
    EXPECT(mvs_session_get_unet_flip_average(s, &fa), MVS_OK);
    CHECK(fa == 1, "the setting is read back");
    EXPECT(mvs_session_set_image(s, &sqimg), MVS_OK);
    EXPECT(mvs_session_add_click(s, CX + 0.5f, CY + 0.5f, 1), MVS_OK);
    EXPECT(mvs_session_predict(s, pf, NULL, N * N), MVS_OK);
    int checked = 0, avg_ok = 1;
    for (int y = 0; y < N; y++)
      for (int x = 0; x < N; x++) {
        double sum = 0.0;
        int saturated = 0;
        for (int k = 0; k < 4; k++) {
          int lr = k & 1, ud = (k >> 1) & 1;
          float v = pk[k][(ud ? N - 1 - y : y) * N + (lr ? N - 1 - x : x)];
          if (v < 0.001f || v > 0.999f) saturated = 1;
          sum += log(v / (1.0 - v));
        }
        float v = pf[y * N + x];
        if (saturated || v < 0.001f || v > 0.999f) continue;
        if (fabs(log(v / (1.0 - v)) - 0.25 * sum) > 2e-3) avg_ok = 0;
        checked++;
      }
    CHECK(checked > 200 && avg_ok, "on: the mean of the four flipped passes' logits");
    CHECK(memcmp(pf, pk[0], sizeof(float) * N * N) != 0, "on differs from one pass");
    /* MultiverSegNet's predictions do not change */
    EXPECT(mvs_session_set_min_context(s, 1), MVS_OK);
    EXPECT(mvs_session_set_image(s, &sqimg), MVS_OK);
    EXPECT(mvs_session_add_click(s, CX, CY, 1), MVS_OK);
    EXPECT(mvs_session_predict(s, m0, NULL, N * N), MVS_OK);
    EXPECT(mvs_session_set_unet_flip_average(s, 0), MVS_OK);
    EXPECT(mvs_session_predict(s, pf, NULL, N * N), MVS_OK);
    CHECK(memcmp(pf, m0, sizeof(float) * N * N) == 0, "MultiverSegNet's prediction is unchanged");
    EXPECT(mvs_session_get_unet_flip_average(s, &fa), MVS_OK);
    CHECK(fa == 0, "off again");
    for (int k = 0; k < 4; k++) free(pk[k]);
    free(sq); free(fl); free(pf); free(m0);
  }

  mvs_session_free(s);
  mvs_session_free(NULL);
  free(pix); free(mask); free(fpix); free(probs); free(out);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("C API test: all checks passed\n");
  return 0;
}
