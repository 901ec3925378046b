// Exhaustive check (issue 14, branch i14gate): the LSTM activations Tanh and Logistic
// of scripts/tesseract_patches/lstm-gates.patch (src/lstm/functions.h) against
// Tesseract 5.3.0's, for every one of the 2^32 float bit patterns, run the way the
// network runs them: FuncInplace-style loops over arrays, compiled as the library is
// (-O3, generic x86-64, no -ffast-math). `orig_*` are copies of Tesseract's two
// functions (functions.h; Apache-2.0, Google Inc.), `new_*` of the patched ones.
//
//   g++ -O3 -std=gnu++17 act_check.cpp -o act_check && ./act_check [functions.cpp]
//
// (`./act_check --every N [functions.cpp]` checks one block of 2^16 patterns in N, as the
// test suite does: tests/test_tesserocr_nolegacy.py.)
// The tables: read from Tesseract's src/lstm/functions.cpp when its path is given (the
// same decimal literals, read as double and cast to float as the compiler does), else
// float(tanh(i / 256)) and float(1 / (1 + exp(-i / 256))). Results are compared bit for
// bit; differences are counted by the input's class. The original converts |x| * 256 to
// unsigned, which C++ leaves undefined from 2^32 on, i.e. for |x| >= 2^24 (its result
// there is whatever the conversion instruction gives); the patch saturates there as
// tanh/logistic do (+-1, 1/0). Exits 1 if any input with |x| < 2^24 (or a NaN, which
// must stay a NaN) differs.
#include <emmintrin.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using TFloat = float;
constexpr int kTableSize = 4096;
constexpr TFloat kScaleFactor = 256.0;
static TFloat TanhTable[kTableSize];
static TFloat LogisticTable[kTableSize];

// Tesseract 5.3.0, src/lstm/functions.h
static inline TFloat orig_Tanh(TFloat x) {
  if (x < 0) {
    return -orig_Tanh(-x);
  }
  x *= kScaleFactor;
  auto index = static_cast<unsigned>(x);
  if (index >= (kTableSize - 1)) {
    return 1;
  }
  TFloat tanh_i0 = TanhTable[index];
  TFloat tanh_i1 = TanhTable[index + 1];
  return tanh_i0 + (tanh_i1 - tanh_i0) * (x - index);
}
static inline TFloat orig_Logistic(TFloat x) {
  if (x < 0) {
    return 1 - orig_Logistic(-x);
  }
  x *= kScaleFactor;
  auto index = static_cast<unsigned>(x);
  if (index >= (kTableSize - 1)) {
    return 1;
  }
  TFloat l0 = LogisticTable[index];
  TFloat l1 = LogisticTable[index + 1];
  return l0 + (l1 - l0) * (x - index);
}

// The patch (keep in step with scripts/tesseract_patches/lstm-gates.patch)
static inline __m128 TableInterpolate4(const TFloat *table, __m128 x, __m128 *negative) {
  *negative = _mm_cmplt_ps(x, _mm_setzero_ps());
  __m128 a = _mm_xor_ps(x, _mm_and_ps(*negative, _mm_set1_ps(-0.0f)));
  a = _mm_mul_ps(a, _mm_set1_ps(kScaleFactor));
  __m128i index = _mm_cvttps_epi32(_mm_min_ps(a, _mm_set1_ps(kTableSize - 2)));
  alignas(16) int32_t i[4];
  _mm_store_si128(reinterpret_cast<__m128i *>(i), index);
  __m128 v0 = _mm_setr_ps(table[i[0]], table[i[1]], table[i[2]], table[i[3]]);
  __m128 v1 = _mm_setr_ps(table[i[0] + 1], table[i[1] + 1], table[i[2] + 1], table[i[3] + 1]);
  __m128 v = _mm_add_ps(v0, _mm_mul_ps(_mm_sub_ps(v1, v0), _mm_sub_ps(a, _mm_cvtepi32_ps(index))));
  __m128 saturated = _mm_cmpge_ps(a, _mm_set1_ps(kTableSize - 1));
  return _mm_or_ps(_mm_and_ps(saturated, _mm_set1_ps(1.0f)), _mm_andnot_ps(saturated, v));
}
static inline __m128 Tanh4(__m128 x) {
  __m128 negative;
  __m128 v = TableInterpolate4(TanhTable, x, &negative);
  return _mm_xor_ps(v, _mm_and_ps(negative, _mm_set1_ps(-0.0f)));
}
static inline __m128 Logistic4(__m128 x) {
  __m128 negative;
  __m128 v = TableInterpolate4(LogisticTable, x, &negative);
  __m128 complement = _mm_sub_ps(_mm_set1_ps(1.0f), v);
  return _mm_or_ps(_mm_and_ps(negative, complement), _mm_andnot_ps(negative, v));
}

// The network's loops (functions.h FuncInplace), not inlined into main
__attribute__((noinline)) void orig_tanh_loop(int n, TFloat *inout) {
  for (int i = 0; i < n; ++i) inout[i] = orig_Tanh(inout[i]);
}
__attribute__((noinline)) void new_tanh_loop(int n, TFloat *inout) {
  int i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(inout + i, Tanh4(_mm_loadu_ps(inout + i)));
  for (; i < n; ++i) inout[i] = orig_Tanh(inout[i]);
}
__attribute__((noinline)) void orig_logistic_loop(int n, TFloat *inout) {
  for (int i = 0; i < n; ++i) inout[i] = orig_Logistic(inout[i]);
}
__attribute__((noinline)) void new_logistic_loop(int n, TFloat *inout) {
  int i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(inout + i, Logistic4(_mm_loadu_ps(inout + i)));
  for (; i < n; ++i) inout[i] = orig_Logistic(inout[i]);
}

static bool read_tables(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == nullptr) return false;
  std::vector<char> text;
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) text.insert(text.end(), buf, buf + got);
  fclose(f);
  text.push_back('\0');
  TFloat *tables[2] = {TanhTable, LogisticTable};
  const char *names[2] = {"TanhTable[] = {", "LogisticTable[] = {"};
  for (int t = 0; t < 2; ++t) {
    const char *p = strstr(text.data(), names[t]);
    if (p == nullptr) return false;
    p += strlen(names[t]);
    for (int i = 0; i < kTableSize; ++i) {
      char *end;
      double d = strtod(p, &end);
      if (end == p) return false;
      tables[t][i] = static_cast<TFloat>(d);
      p = end;
      while (*p == ',' || *p == ' ' || *p == '\n' || *p == '\r') ++p;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  uint64_t every = 1;
  if (argc > 2 && strcmp(argv[1], "--every") == 0) {
    every = strtoull(argv[2], nullptr, 10);
    if (every == 0) every = 1;
    argc -= 2;
    argv += 2;
  }
  if (argc > 1) {
    if (!read_tables(argv[1])) {
      fprintf(stderr, "could not read both tables from %s\n", argv[1]);
      return 2;
    }
    printf("tables from %s\n", argv[1]);
  } else {
    for (int i = 0; i < kTableSize; ++i) {
      TanhTable[i] = static_cast<TFloat>(std::tanh(i / 256.0));
      LogisticTable[i] = static_cast<TFloat>(1 / (1 + std::exp(-i / 256.0)));
    }
    printf("tables computed here\n");
  }
  const int N = 1 << 16;
  static TFloat in[N], a[N], b[N];
  // per function: [0] |x| < 2^24 and not NaN, [1] |x| >= 2^24 (inf included), [2] NaN
  uint64_t checked[3] = {0, 0, 0}, differ[2][3] = {{0, 0, 0}, {0, 0, 0}};
  const char *fname[2] = {"Tanh", "Logistic"};
  int shown = 0;
  for (uint64_t hi = 0; hi < (1ull << 16); hi += every) {
    for (uint32_t lo = 0; lo < N; ++lo) {
      uint32_t bits = static_cast<uint32_t>(hi << 16) | lo;
      memcpy(&in[lo], &bits, 4);
    }
    for (int fn = 0; fn < 2; ++fn) {
      memcpy(a, in, sizeof in);
      memcpy(b, in, sizeof in);
      if (fn == 0) {
        orig_tanh_loop(N, a);
        new_tanh_loop(N, b);
      } else {
        orig_logistic_loop(N, a);
        new_logistic_loop(N, b);
      }
      for (int i = 0; i < N; ++i) {
        int cls = std::isnan(in[i]) ? 2 : std::fabs(in[i]) < 16777216.0f ? 0 : 1;
        if (fn == 0) ++checked[cls];
        bool same = cls == 2 ? std::isnan(a[i]) && std::isnan(b[i])
                             : memcmp(&a[i], &b[i], 4) == 0;
        if (!same) {
          ++differ[fn][cls];
          if (cls != 1 && shown++ < 10)
            printf("%s(%a): orig %a, new %a\n", fname[fn], in[i], a[i], b[i]);
        }
      }
    }
  }
  const char *cname[3] = {"|x| < 2^24", "|x| >= 2^24 (original undefined)", "NaN"};
  for (int fn = 0; fn < 2; ++fn)
    for (int c = 0; c < 3; ++c)
      printf("%-8s %-34s %10llu inputs, %10llu differ\n", fname[fn], cname[c],
             (unsigned long long)checked[c], (unsigned long long)differ[fn][c]);
  bool bad = differ[0][0] + differ[0][2] + differ[1][0] + differ[1][2] != 0;
  printf(bad ? "DIFFERENT\n" : "identical wherever the original is defined\n");
  return bad ? 1 : 0;
}
