/* Threaded stress test of the C API, built with AddressSanitizer and UBSan by tests/c_api.rs.
 * Usage: stress MODEL
 *
 * Six threads share one model; each has its own session and runs a random sequence of
 * valid and invalid calls (seeded per thread). Checked:
 *   - no call returns MVS_ERR_INTERNAL;
 *   - every failed call leaves the next prediction bit-identical to the one before it;
 *   - each thread's results (a hash of every successful prediction, in order) equal those of
 *     the same sequence replayed alone on one thread afterwards.
 */
#include "multiverseg.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 6
#define STEPS 40
#define W 40
#define H 33

static const MvsModel *model;
static int failures = 0;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

#define FAIL(...)                                   \
  do {                                              \
    pthread_mutex_lock(&fail_lock);                 \
    fprintf(stderr, "FAIL: " __VA_ARGS__);          \
    fprintf(stderr, " (%s)\n", mvs_last_error_message()); \
    failures++;                                     \
    pthread_mutex_unlock(&fail_lock);               \
  } while (0)

typedef struct {
  uint64_t seed;
  uint64_t hashes[2 * STEPS];
  int n_hashes;
} Run;

static uint64_t next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t fnv(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* The prediction now (probabilities), or 0 when there is none (no image). */
static int predict(MvsSession *s, float *out) {
  MvsStatus st = mvs_session_predict(s, out, NULL, W * H);
  if (st == MVS_ERR_INTERNAL) FAIL("predict returned MVS_ERR_INTERNAL");
  return st == MVS_OK;
}

static void *run(void *arg) {
  Run *r = arg;
  uint64_t rng = r->seed * 0x9e3779b97f4a7c15ull + 1;
  MvsSession *s = NULL;
  if (mvs_session_create(model, &s) != MVS_OK) {
    FAIL("session_create");
    return NULL;
  }
  static const uint8_t zero_mask[W * H];
  uint16_t pix[W * H];
  uint8_t mask[W * H];
  float before[W * H], after[W * H];
  r->n_hashes = 0;
  for (int step = 0; step < STEPS; step++) {
    for (int i = 0; i < W * H; i++) {
      pix[i] = (uint16_t)((i * 37 + next(&rng) % 200) % 4096);
      mask[i] = (uint8_t)(((i % W) - 20) * ((i % W) - 20) + ((i / W) - 16) * ((i / W) - 16) < 80);
    }
    MvsImage img = {pix, MVS_PIXEL_U16, W, H, 0, 0, 0.f, 0.f};
    int had = predict(s, before);
    int op = (int)(next(&rng) % 14);
    int bad = (int)(next(&rng) % 3 == 0); /* one call in three is invalid */
    MvsStatus st = MVS_OK;
    switch (op) {
      case 0: {
        MvsImage im = img;
        if (bad) im.pixel_type = 9;
        st = mvs_session_set_image(s, &im);
        break;
      }
      case 1: {
        MvsImage im = img;
        if (bad) im.width = 0;
        st = mvs_session_context_add(s, &im, mask, 0, NULL);
        break;
      }
      case 2:
        st = mvs_session_add_click(s, bad ? W + 1.0 : (double)(next(&rng) % W) + 0.5,
                                   (double)(next(&rng) % H) + 0.5, (int)(next(&rng) % 2));
        break;
      case 3:
        st = mvs_session_add_box(s, 2, 3, bad ? W + 9 : 30, 25);
        break;
      case 4:
        st = mvs_session_add_scribble(s, bad ? NULL : mask, 0, 1);
        break;
      case 5:
        st = mvs_session_undo(s);
        break;
      case 6: {
        uint64_t id = bad ? 987654321u : 1;
        st = mvs_session_context_remove(s, id);
        break;
      }
      case 7:
        st = mvs_session_commit(s, NULL);
        break;
      case 8:
        st = mvs_session_commit_mask(s, bad ? NULL : mask, bad ? 0 : W, NULL);
        break;
      case 9:
        st = mvs_session_set_context_policy(s, (uint32_t)(next(&rng) % 3), bad ? 7 : 1);
        break;
      case 10: {
        double xy[4] = {3, 3, bad ? 1000 : 20, 20};
        st = mvs_session_add_scribble_polyline(s, xy, 2, 1.0, 0);
        break;
      }
      case 11: {
        uint8_t out[W * H];
        uint8_t *outs[1] = {out};
        MvsImage im = img;
        if (bad) im.stride = 3; /* below the width */
        st = mvs_session_predict_batch(s, &im, 1, outs, NULL, NULL, NULL);
        if (st == MVS_OK) r->hashes[r->n_hashes++] = fnv(out, sizeof out);
        break;
      }
      case 12:
        st = mvs_session_add_scribble(s, zero_mask, bad ? 2 : 0, 0); /* empty: invalid */
        break;
      default:
        st = mvs_session_clear_prompts(s);
        break;
    }
    if (st == MVS_ERR_INTERNAL) FAIL("op %d returned MVS_ERR_INTERNAL", op);
    if (st != MVS_OK && had) {
      if (!predict(s, after) || memcmp(before, after, sizeof before) != 0)
        FAIL("failed op %d changed the prediction", op);
    }
    if (predict(s, after)) r->hashes[r->n_hashes++] = fnv(after, sizeof after);
  }
  mvs_session_free(s);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  MvsModel *m = NULL;
  MvsModelOptions o;
  mvs_model_options_init(&o, sizeof o);
  o.backend = MVS_BACKEND_CPU;
  o.threads = 1;
  if (mvs_model_load_with(argv[1], &o, &m) != MVS_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], mvs_last_error_message());
    return 1;
  }
  model = m;
  Run together[THREADS], alone[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    together[i].seed = alone[i].seed = (uint64_t)i + 1;
    pthread_create(&t[i], NULL, run, &together[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++) run(&alone[i]);
  int compared = 0;
  for (int i = 0; i < THREADS; i++) {
    if (together[i].n_hashes != alone[i].n_hashes ||
        memcmp(together[i].hashes, alone[i].hashes, sizeof(uint64_t) * (size_t)alone[i].n_hashes) != 0)
      FAIL("thread %d: concurrent results differ from the replay alone", i);
    compared += alone[i].n_hashes;
  }
  mvs_model_free(m);
  if (compared < THREADS * 5) FAIL("only %d predictions compared", compared);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("stress: %d threads, %d predictions compared, all checks passed\n", THREADS, compared);
  return 0;
}
