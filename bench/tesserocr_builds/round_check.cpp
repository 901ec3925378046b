// Exhaustive check (issue 14, branch i14nn): the int8 rounding of
// scripts/tesseract_patches/lstm-copies.patch (NetworkIO::WriteTimeStepPart) equals
// Tesseract's for every float input whose scaled value is inside int's range (all
// activations are in [-1, 1]). Exits 1 on any difference. The two functions below are
// copies of the original (helpers.h IntCastRounded, ClipToRange; Apache-2.0, Google Inc.)
// and of the patched loop.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <climits>
static inline int IntCastRounded(float x) {
  return x >= 0.0F ? static_cast<int>(x + 0.5F) : -static_cast<int>(-x + 0.5F);
}
template <typename T> static inline T ClipToRange(const T &x, const T &lower, const T &upper) {
  if (x < lower) return lower;
  if (x > upper) return upper;
  return x;
}
__attribute__((noinline)) void orig(const float *in, int8_t *out, int n) {
  for (int i = 0; i < n; ++i)
    out[i] = ClipToRange<int>(IntCastRounded(in[i] * INT8_MAX), -INT8_MAX, INT8_MAX);
}
__attribute__((noinline)) void patched(const float *in, int8_t *out, int n) {
  for (int i = 0; i < n; ++i) {
    float v = in[i] * INT8_MAX;
    v += v >= 0.0F ? 0.5F : -0.5F;
    int r = static_cast<int>(v);
    r = r < -INT8_MAX ? -INT8_MAX : r;
    r = r > INT8_MAX ? INT8_MAX : r;
    out[i] = static_cast<int8_t>(r);
  }
}
int main() {
  const int N = 1 << 16;
  static float in[N];
  static int8_t a[N], b[N];
  uint64_t checked = 0, bad = 0;
  for (uint64_t hi = 0; hi < (1ull << 16); ++hi) {
    int n = 0;
    for (uint32_t lo = 0; lo < N; ++lo) {
      uint32_t bits = (uint32_t)(hi << 16) | lo;
      float f; memcpy(&f, &bits, 4);
      if (!std::isfinite(f) || std::fabs(f * 127.0f) >= 2.0e9f) continue;
      in[n++] = f;
    }
    orig(in, a, n); patched(in, b, n);
    for (int i = 0; i < n; ++i) if (a[i] != b[i]) { if (bad < 5) printf("diff %g: %d %d\n", in[i], a[i], b[i]); ++bad; }
    checked += n;
  }
  printf("checked %llu floats, %llu differ\n", (unsigned long long)checked, (unsigned long long)bad);
  return bad != 0;
}
