/* The whole MultiverSeg loop in plain C on the default model: generated related images (a
 * bright ellipse that moves and changes size), one click on the first, then each finished
 * image joins the context and later images are predicted with it (one click each).
 * Prints the Dice of every prediction against the known ellipse. Exit 0 on success. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "multiverseg.h"

enum { W = 96, H = 80, N = 6 };

static int fail(const char *what) {
  fprintf(stderr, "%s failed: %s\n", what, mvs_last_error_message());
  return 1;
}

static void make_image(int i, uint8_t *img, uint8_t *truth, double *cx, double *cy) {
  *cx = 35 + 4 * i;
  *cy = 38 + 2 * i;
  double a = 18 + i, b = 12 + (i % 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      double u = (x - *cx) / a, v = (y - *cy) / b;
      int in = u * u + v * v <= 1.0;
      truth[y * W + x] = (uint8_t)in;
      img[y * W + x] = (uint8_t)((in ? 190 : 50) + ((x * 13 + y * 7 + i) % 17));
    }
}

int main(void) {
  MvsModel *model = NULL;
  if (mvs_model_load_default(MVS_BACKEND_AUTO, 0, &model) != MVS_OK) return fail("load");
  MvsSession *s = NULL;
  if (mvs_session_create(model, &s) != MVS_OK) return fail("session");
  mvs_model_free(model); /* the session keeps the model alive */

  uint8_t img[W * H], truth[W * H], mask[W * H];
  for (int i = 0; i < N; i++) {
    double cx, cy;
    make_image(i, img, truth, &cx, &cy);
    MvsImage view = {img, MVS_PIXEL_U8, W, H, 0, 0, 0.f, 0.f};
    if (mvs_session_set_image(s, &view) != MVS_OK) return fail("set_image");
    if (mvs_session_add_click(s, cx, cy, 1) != MVS_OK) return fail("add_click");
    if (mvs_session_predict(s, NULL, mask, W * H) != MVS_OK) return fail("predict");
    int inter = 0, sum = 0;
    for (int k = 0; k < W * H; k++) {
      inter += mask[k] && truth[k];
      sum += mask[k] + truth[k];
    }
    size_t ctx = 0;
    mvs_session_context_count(s, &ctx);
    printf("image %d: context %zu, Dice %.3f\n", i, ctx, sum ? 2.0 * inter / sum : 1.0);
    uint64_t id;
    if (mvs_session_commit(s, &id) != MVS_OK) return fail("commit");
  }
  mvs_session_free(s);
  return 0;
}
