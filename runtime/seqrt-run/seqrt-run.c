/*===- seqrt-run.c - Run a generated library without the compiler -*- C -*-===//
 *
 *   seqrt-run LIB.so [--entry=forward] [--weights=W.safetensors]
 *             [--input NAME=FILE.npy ...] [--random [--seed=N]]
 *             [--dim NAME=VALUE ...] [--output=OUT.npy] [--bench=N]
 *             [--chunk=N]
 *
 * dlopens LIB.so, reads its seqrt_library() descriptor, creates the model,
 * binds dims from --dim and the input files, makes the inputs not given
 * (with --random), allocates the outputs from their descriptors, calls the
 * entry and prints a summary of each output. A step entry
 * (`--entry=forward_step`) runs over the whole sequence given, `--chunk`
 * tokens at a time (1 by default), from a fresh state: its outputs are
 * the chunks' outputs put back together. Errors print
 * "seqrt-run: error: ..." and exit 1.
 *
 *===----------------------------------------------------------------------===*/

#include "seqrt.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARGS 64

static const seqrt_library_desc *lib;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("seqrt-run: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* The message of a failed runtime or library call. */
static const char *lastError(void) {
  const char *m = lib && lib->last_error ? lib->last_error() : NULL;
  if (!m || !*m)
    m = seqrt_last_error();
  return *m ? m : "unknown error";
}

static void usage(FILE *out) {
  fputs("usage: seqrt-run LIB.so [--entry=NAME] [--weights=W.safetensors]\n"
        "                 [--input NAME=FILE.npy ...] [--random [--seed=N]]\n"
        "                 [--dim NAME=VALUE ...] [--output=OUT.npy] "
        "[--bench=N]\n"
        "                 [--chunk=N]   (step entries: tokens per call)\n",
        out);
}

/*===------------------------------ Elements ------------------------------===*/

static float halfToFloat(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f,
           mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    float f = ldexpf((float)mant, -24);
    return sign ? -f : f;
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint16_t floatToHalf(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff)
    return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
  if (exp >= 0x1f)
    return (uint16_t)(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10)
      return (uint16_t)sign;
    mant |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1),
             half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      ++h;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h; /* may carry into the exponent: still correct */
  return (uint16_t)(sign | h);
}

static int isSupported(DLDataType t) {
  if (t.lanes != 1)
    return 0;
  switch (t.code) {
  case kDLFloat:
    return t.bits == 16 || t.bits == 32 || t.bits == 64;
  case kDLBfloat:
    return t.bits == 16;
  case kDLInt:
  case kDLUInt:
    return t.bits == 8 || t.bits == 16 || t.bits == 32 || t.bits == 64;
  case SEQRT_DL_BOOL:
    return t.bits == 8;
  }
  return 0;
}

static double getElem(DLDataType t, const void *p, int64_t i) {
  switch (t.code) {
  case kDLFloat:
    if (t.bits == 16)
      return halfToFloat(((const uint16_t *)p)[i]);
    return t.bits == 32 ? ((const float *)p)[i] : ((const double *)p)[i];
  case kDLBfloat: {
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  case kDLInt:
    switch (t.bits) {
    case 8:
      return ((const int8_t *)p)[i];
    case 16:
      return ((const int16_t *)p)[i];
    case 32:
      return ((const int32_t *)p)[i];
    default:
      return (double)((const int64_t *)p)[i];
    }
  case kDLUInt:
    switch (t.bits) {
    case 8:
      return ((const uint8_t *)p)[i];
    case 16:
      return ((const uint16_t *)p)[i];
    case 32:
      return ((const uint32_t *)p)[i];
    default:
      return (double)((const uint64_t *)p)[i];
    }
  default: /* bool */
    return ((const uint8_t *)p)[i] != 0;
  }
}

static void setElem(DLDataType t, void *p, int64_t i, double v) {
  switch (t.code) {
  case kDLFloat:
    if (t.bits == 16)
      ((uint16_t *)p)[i] = floatToHalf((float)v);
    else if (t.bits == 32)
      ((float *)p)[i] = (float)v;
    else
      ((double *)p)[i] = v;
    return;
  case kDLBfloat: {
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, 4);
    bits += 0x7fff + ((bits >> 16) & 1); /* round to nearest even */
    ((uint16_t *)p)[i] = (uint16_t)(bits >> 16);
    return;
  }
  case kDLInt:
  case kDLUInt:
    switch (t.bits) {
    case 8:
      ((uint8_t *)p)[i] = (uint8_t)(int64_t)v;
      return;
    case 16:
      ((uint16_t *)p)[i] = (uint16_t)(int64_t)v;
      return;
    case 32:
      ((uint32_t *)p)[i] = (uint32_t)(int64_t)v;
      return;
    default:
      ((int64_t *)p)[i] = (int64_t)v;
      return;
    }
  default:
    ((uint8_t *)p)[i] = v != 0;
  }
}

static int isFloatKind(DLDataType t) {
  return t.code == kDLFloat || t.code == kDLBfloat;
}
static int isIntKind(DLDataType t) {
  return t.code == kDLInt || t.code == kDLUInt;
}

/*===------------------------------ Arguments -----------------------------===*/

typedef struct Options {
  const char *libPath;
  const char *entry;
  const char *weights;
  const char *output;
  int random;
  uint64_t seed;
  long bench;
  int64_t chunk;
  int nInputs;
  const char *inputNames[MAX_ARGS];
  const char *inputFiles[MAX_ARGS];
  int nDims;
  const char *dimNames[MAX_ARGS];
  int64_t dimValues[MAX_ARGS];
} Options;

static int64_t parseInt(const char *s, const char *what) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < 0)
    die("%s expects a non-negative integer, got '%s'", what, s);
  return v;
}

/* Splits "NAME=VALUE"; dies naming the flag when malformed. */
static void splitPair(char *s, const char *flag, const char **name,
                      const char **value) {
  char *eq = strchr(s, '=');
  if (!eq || eq == s || !eq[1])
    die("%s expects NAME=VALUE, got '%s'", flag, s);
  *eq = '\0';
  *name = s;
  *value = eq + 1;
}

/* Value of "--flag=V" or "--flag V"; NULL when argv[*i] is not --flag. */
static char *flagValue(int argc, char **argv, int *i, const char *flag) {
  size_t n = strlen(flag);
  if (strncmp(argv[*i], flag, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] != '\0')
    return NULL;
  if (*i + 1 >= argc)
    die("%s expects a value", flag);
  return argv[++*i];
}

static void parseArgs(int argc, char **argv, Options *o) {
  memset(o, 0, sizeof(*o));
  o->entry = "forward";
  for (int i = 1; i < argc; ++i) {
    char *v;
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--random") == 0) {
      o->random = 1;
    } else if ((v = flagValue(argc, argv, &i, "--entry"))) {
      o->entry = v;
    } else if ((v = flagValue(argc, argv, &i, "--weights"))) {
      o->weights = v;
    } else if ((v = flagValue(argc, argv, &i, "--output"))) {
      o->output = v;
    } else if ((v = flagValue(argc, argv, &i, "-o"))) {
      o->output = v;
    } else if ((v = flagValue(argc, argv, &i, "--seed"))) {
      o->seed = (uint64_t)parseInt(v, "--seed");
    } else if ((v = flagValue(argc, argv, &i, "--bench"))) {
      o->bench = (long)parseInt(v, "--bench");
      if (o->bench < 1)
        die("--bench expects a positive number of runs");
    } else if ((v = flagValue(argc, argv, &i, "--chunk"))) {
      o->chunk = parseInt(v, "--chunk");
      if (o->chunk < 1)
        die("--chunk expects a positive number of tokens");
    } else if ((v = flagValue(argc, argv, &i, "--input"))) {
      if (o->nInputs == MAX_ARGS)
        die("too many --input flags");
      splitPair(v, "--input", &o->inputNames[o->nInputs],
                &o->inputFiles[o->nInputs]);
      ++o->nInputs;
    } else if ((v = flagValue(argc, argv, &i, "--dim"))) {
      const char *value;
      if (o->nDims == MAX_ARGS)
        die("too many --dim flags");
      splitPair(v, "--dim", &o->dimNames[o->nDims], &value);
      o->dimValues[o->nDims++] = parseInt(value, "--dim");
    } else if (a[0] == '-') {
      usage(stderr);
      die("unknown option '%s'", a);
    } else if (!o->libPath) {
      o->libPath = a;
    } else {
      die("more than one library given ('%s' and '%s')", o->libPath, a);
    }
  }
  if (!o->libPath) {
    usage(stderr);
    die("no library given");
  }
}

/*===------------------------------- Running ------------------------------===*/

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Floats uniform in [-1, 1), integers in [0, 16), bools 0 or 1. */
static void fillRandom(DLTensor *t, uint64_t *state) {
  int64_t n = seqrt_tensor_numel(t);
  void *p = seqrt_tensor_data(t);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = splitmix64(state);
    double v;
    if (isFloatKind(t->dtype))
      v = (double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    else if (isIntKind(t->dtype))
      v = (double)(r % 16);
    else
      v = (double)(r & 1);
    setElem(t->dtype, p, i, v);
  }
}

/* A new CPU tensor of `desc` with its dims resolved from dimValues. */
static void allocTensor(const seqrt_arg_desc *desc, const int64_t *dimValues,
                        DLTensor *t) {
  const char *kind = desc->kind == SEQRT_ARG_OUTPUT ? "output" : "input";
  memset(t, 0, sizeof(*t));
  t->shape = malloc(sizeof(int64_t) * (size_t)(desc->rank ? desc->rank : 1));
  if (!t->shape)
    die("out of memory");
  size_t bytes = seqrt_dtype_bytes(desc->dtype);
  for (int i = 0; i < desc->rank; ++i) {
    int64_t d = desc->dims[i];
    if (SEQRT_DIM_IS_SYM(d)) {
      int k = SEQRT_DIM_SYM_INDEX(d);
      if (dimValues[k] < 0)
        die("%s '%s': dim %s is unknown; pass --dim %s=N", kind, desc->name,
            lib->dim_names[k], lib->dim_names[k]);
      d = dimValues[k];
    }
    t->shape[i] = d;
    bytes *= (size_t)d;
  }
  t->ndim = desc->rank;
  t->dtype = desc->dtype;
  t->device.device_type = kDLCPU;
  t->data = seqrt_alloc(bytes);
  if (!t->data)
    die("%s '%s': %s", kind, desc->name, lastError());
  memset(t->data, 0, bytes);
}

static size_t tensorBytes(const DLTensor *t) {
  return (size_t)seqrt_tensor_numel(t) * seqrt_dtype_bytes(t->dtype);
}

/* A copy of the compact CPU tensor `host` on `device` into *dev (whose
 * shape it shares), with the values when `copy`. */
static void toDevice(const DLTensor *host, DLDevice device, DLTensor *dev,
                     int copy) {
  DLDevice cpu = {kDLCPU, 0};
  *dev = *host;
  dev->device = device;
  dev->byte_offset = 0;
  if (seqrt_device_alloc(device, tensorBytes(host), &dev->data) != SEQRT_OK ||
      (copy && seqrt_device_copy(dev->data, device, seqrt_tensor_data(host),
                                 cpu, tensorBytes(host)) != SEQRT_OK))
    die("%s", lastError());
}

/* Converts a tensor read from a file to `want` when both are float kinds or
 * both integer kinds; dies naming the input otherwise. */
static void conform(const seqrt_arg_desc *desc, const char *file,
                    DLTensor *t) {
  if (seqrt_dtype_equal(t->dtype, desc->dtype))
    return;
  if (!isSupported(desc->dtype) ||
      !((isFloatKind(t->dtype) && isFloatKind(desc->dtype)) ||
        (isIntKind(t->dtype) && isIntKind(desc->dtype))))
    die("input '%s': %s has dtype %s, expected %s", desc->name, file,
        seqrt_dtype_name(t->dtype), seqrt_dtype_name(desc->dtype));
  int64_t n = seqrt_tensor_numel(t);
  void *data = seqrt_alloc((size_t)n * seqrt_dtype_bytes(desc->dtype));
  if (!data)
    die("%s", lastError());
  for (int64_t i = 0; i < n; ++i)
    setElem(desc->dtype, data, i, getElem(t->dtype, t->data, i));
  seqrt_free(t->data);
  t->data = data;
  t->dtype = desc->dtype;
}

static void formatShape(char *buf, size_t n, const DLTensor *t) {
  size_t len = (size_t)snprintf(buf, n, "%s[", seqrt_dtype_name(t->dtype));
  for (int i = 0; i < t->ndim && len < n; ++i)
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "",
                            (long long)t->shape[i]);
  if (len < n)
    snprintf(buf + len, n - len, "]");
}

static void summarize(const char *kind, const char *name, const DLTensor *t,
                      const char *from) {
  char shape[256];
  formatShape(shape, sizeof(shape), t);
  printf("%s '%s': %s", kind, name, shape);
  int64_t n = seqrt_tensor_numel(t);
  if (n > 0 && isSupported(t->dtype)) {
    const void *p = seqrt_tensor_data(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int nan = 0;
    for (int64_t i = 0; i < n; ++i) {
      double v = getElem(t->dtype, p, i);
      if (isnan(v)) {
        nan = 1;
        continue;
      }
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
      sum += v;
    }
    printf(" min=%.6g max=%.6g mean=%.6g sum=%.6g", mn, mx, sum / (double)n,
           sum);
    if (nan)
      printf(" (has NaN)");
  }
  if (from)
    printf(" (%s)", from);
  printf("\n");
}

static double nowSeconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compareDoubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* OUT.npy for one output; OUT.i.npy for output i of several. */
static void outputPath(const char *base, int i, int n, char *buf, size_t len) {
  if (n == 1) {
    snprintf(buf, len, "%s", base);
    return;
  }
  size_t k = strlen(base);
  if (k >= 4 && strcmp(base + k - 4, ".npy") == 0)
    snprintf(buf, len, "%.*s.%d.npy", (int)(k - 4), base, i);
  else
    snprintf(buf, len, "%s.%d.npy", base, i);
}

/*===---------------------------- Random weights --------------------------===*/

/* The safetensors name of a dtype, or NULL. */
static const char *safetensorsDtype(DLDataType t) {
  static const struct {
    uint8_t code, bits;
    const char *name;
  } names[] = {{kDLFloat, 32, "F32"}, {kDLFloat, 16, "F16"},
               {kDLBfloat, 16, "BF16"}, {kDLFloat, 64, "F64"},
               {kDLInt, 64, "I64"},   {kDLInt, 32, "I32"},
               {kDLInt, 16, "I16"},   {kDLInt, 8, "I8"},
               {kDLUInt, 8, "U8"},    {SEQRT_DL_BOOL, 8, "BOOL"}};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i)
    if (t.code == names[i].code && t.bits == names[i].bits && t.lanes == 1)
      return names[i].name;
  return NULL;
}

/* Writes every weight of the library, random (as --random makes inputs;
 * floats of rank >= 2 scaled by 1/sqrt(rows), as `seqc run --random` does),
 * to a temporary .safetensors file whose path goes to `path`. */
static void writeRandomWeights(char *path, size_t len, uint64_t seed) {
  snprintf(path, len, "/tmp/seqrt-run-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0)
    die("cannot create a temporary weights file: %s", strerror(errno));
  FILE *f = fdopen(fd, "wb");
  if (!f)
    die("cannot write %s: %s", path, strerror(errno));
  /* The header: offsets in declaration order. */
  size_t cap = 4096, n = 0;
  char *header = malloc(cap);
  if (!header)
    die("out of memory");
  int64_t offset = 0;
  header[n++] = '{';
  for (int i = 0; i < lib->n_weights; ++i) {
    const seqrt_arg_desc *w = &lib->weights[i];
    const char *dt = safetensorsDtype(w->dtype);
    if (!dt)
      die("weight '%s': cannot make random values of dtype %s", w->name,
          seqrt_dtype_name(w->dtype));
    int64_t numel = 1;
    for (int a = 0; a < w->rank; ++a)
      numel *= w->dims[a];
    int64_t bytes = numel * (int64_t)seqrt_dtype_bytes(w->dtype);
    char entry[1024], shape[512] = "";
    for (int a = 0; a < w->rank; ++a) {
      size_t l = strlen(shape);
      snprintf(shape + l, sizeof(shape) - l, "%s%lld", a ? "," : "",
               (long long)w->dims[a]);
    }
    int m = snprintf(entry, sizeof(entry),
                     "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],"
                     "\"data_offsets\":[%lld,%lld]}",
                     i ? "," : "", w->name, dt, shape, (long long)offset,
                     (long long)(offset + bytes));
    while (n + (size_t)m + 16 > cap)
      if (!(header = realloc(header, cap *= 2)))
        die("out of memory");
    memcpy(header + n, entry, (size_t)m);
    n += (size_t)m;
    offset += bytes;
  }
  header[n++] = '}';
  while (n % 8)
    header[n++] = ' ';
  uint64_t hlen = n;
  fwrite(&hlen, 8, 1, f);
  fwrite(header, 1, n, f);
  free(header);
  uint64_t rng = seed ^ UINT64_C(0x5EED);
  for (int i = 0; i < lib->n_weights; ++i) {
    const seqrt_arg_desc *w = &lib->weights[i];
    DLTensor t;
    allocTensor(w, NULL, &t);
    fillRandom(&t, &rng);
    if (isFloatKind(w->dtype) && w->rank >= 2 && w->dims[0] > 0) {
      double scale = 1.0 / sqrt((double)w->dims[0]);
      void *p = seqrt_tensor_data(&t);
      for (int64_t k = 0; k < seqrt_tensor_numel(&t); ++k)
        setElem(t.dtype, p, k, getElem(t.dtype, p, k) * scale);
    }
    fwrite(seqrt_tensor_data(&t), seqrt_dtype_bytes(w->dtype),
           (size_t)seqrt_tensor_numel(&t), f);
    seqrt_npy_free(&t);
  }
  if (fclose(f) != 0)
    die("cannot write %s", path);
}

/*===----------------------------- Step entries ---------------------------===*/

/* The axis of `desc` that is time (`time_dim`), or -1. */
static int timeAxis(const seqrt_arg_desc *desc, int timeDim) {
  for (int a = 0; a < desc->rank; ++a)
    if (desc->dims[a] == SEQRT_DIM_SYM(timeDim))
      return a;
  return -1;
}

/* Copies rows [t0, t0 + n) along `axis` between a whole tensor and a chunk
 * (both compact): into the chunk when `toChunk`, back otherwise. */
static void copyRows(DLTensor *whole, DLTensor *chunk, int axis, int64_t t0,
                     int64_t n, int toChunk) {
  size_t elem = seqrt_dtype_bytes(whole->dtype);
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < axis; ++a)
    outer *= whole->shape[a];
  for (int a = axis + 1; a < whole->ndim; ++a)
    inner *= whole->shape[a];
  int64_t T = whole->shape[axis];
  char *w = seqrt_tensor_data(whole), *c = seqrt_tensor_data(chunk);
  for (int64_t o = 0; o < outer; ++o) {
    char *wp = w + ((size_t)(o * T + t0) * (size_t)inner) * elem;
    char *cp = c + ((size_t)(o * n) * (size_t)inner) * elem;
    size_t bytes = (size_t)(n * inner) * elem;
    if (toChunk)
      memcpy(cp, wp, bytes);
    else
      memcpy(wp, cp, bytes);
  }
}

/* Runs step entry `e` over the whole inputs, `chunk` tokens per call, from
 * a fresh state, writing the whole outputs. */
static size_t tensorBytes(const DLTensor *t);
static void toDevice(const DLTensor *host, DLDevice device, DLTensor *dev,
                     int copy);

/* Runs step entry e over the whole inputs, `chunk` tokens per call. On a
 * cuda `device`, each call's tensors are device copies of the chunk. */
static void runSteps(const seqrt_entry_desc *e, seqrt_model *model,
                     DLTensor *inputs, DLTensor *outputs, int64_t chunk,
                     DLDevice device) {
  DLDevice cpu = {kDLCPU, 0};
  int onDevice = device.device_type != kDLCPU;
  if (!lib->state_create)
    die("model '%s' has no state", lib->model_name);
  int64_t T = -1;
  for (int i = 0; i < e->n_inputs && T < 0; ++i) {
    int a = timeAxis(&e->inputs[i], e->time_dim);
    if (a >= 0)
      T = inputs[i].shape[a];
  }
  if (T < 0)
    die("entry '%s': no input has the time dim %s", e->name,
        lib->dim_names[e->time_dim]);
  seqrt_state *state = NULL;
  if (lib->state_create(model, &state) != SEQRT_OK)
    die("%s", lastError());
  DLTensor ins[MAX_ARGS], outs[MAX_ARGS], devs[2 * MAX_ARGS];
  int64_t shapes[2 * MAX_ARGS][16];
  const DLTensor *inPtrs[MAX_ARGS];
  DLTensor *outPtrs[MAX_ARGS];
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    int64_t n = T - t0 < chunk ? T - t0 : chunk;
    for (int k = 0; k < e->n_inputs + e->n_outputs; ++k) {
      int isIn = k < e->n_inputs;
      int i = isIn ? k : k - e->n_inputs;
      DLTensor *whole = isIn ? &inputs[i] : &outputs[i];
      DLTensor *part = isIn ? &ins[i] : &outs[i];
      int a = timeAxis(isIn ? &e->inputs[i] : &e->outputs[i], e->time_dim);
      *part = *whole;
      if (a >= 0) {
        memcpy(shapes[k], whole->shape, sizeof(int64_t) * (size_t)whole->ndim);
        shapes[k][a] = n;
        part->shape = shapes[k];
        part->strides = NULL;
        part->byte_offset = 0;
        part->data = seqrt_alloc(
            (size_t)seqrt_tensor_numel(part) * seqrt_dtype_bytes(part->dtype));
        if (!part->data)
          die("out of memory");
        if (isIn)
          copyRows(whole, part, a, t0, n, 1);
      }
      if (onDevice) {
        toDevice(part, device, &devs[k], isIn);
        part = &devs[k];
      }
      if (isIn)
        inPtrs[i] = part;
      else
        outPtrs[i] = part;
    }
    if (e->step(model, state, inPtrs, outPtrs) != SEQRT_OK)
      die("%s", lastError());
    for (int k = 0; k < e->n_inputs + e->n_outputs; ++k) {
      int isIn = k < e->n_inputs;
      int i = isIn ? k : k - e->n_inputs;
      if (onDevice) {
        if (!isIn && seqrt_device_copy(outs[i].data, cpu, devs[k].data, device,
                                       tensorBytes(&outs[i])) != SEQRT_OK)
          die("%s", lastError());
        seqrt_device_free(device, devs[k].data);
      }
      int a = timeAxis(isIn ? &e->inputs[i] : &e->outputs[i], e->time_dim);
      if (a < 0)
        continue;
      if (!isIn)
        copyRows(&outputs[i], &outs[i], a, t0, n, 0);
      seqrt_free(isIn ? ins[i].data : outs[i].data);
    }
  }
  lib->state_destroy(state);
}

int main(int argc, char **argv) {
  Options o;
  parseArgs(argc, argv, &o);

  /* A path without a slash would make dlopen search the library path. */
  char libPath[4096];
  snprintf(libPath, sizeof(libPath), "%s%s",
           strchr(o.libPath, '/') ? "" : "./", o.libPath);
  void *handle = dlopen(libPath, RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    die("cannot load %s: %s", o.libPath, dlerror());
  seqrt_library_fn get =
      (seqrt_library_fn)(uintptr_t)dlsym(handle, SEQRT_LIBRARY_SYMBOL);
  if (!get)
    die("%s is not a seqc library: it exports no '%s'", o.libPath,
        SEQRT_LIBRARY_SYMBOL);
  lib = get();
  if (!lib)
    die("%s: %s() returned null", o.libPath, SEQRT_LIBRARY_SYMBOL);
  if (lib->abi_version != SEQRT_ABI_VERSION)
    die("%s was built for runtime ABI %d, but this seqrt-run speaks %d",
        o.libPath, lib->abi_version, SEQRT_ABI_VERSION);

  const seqrt_entry_desc *entry = NULL;
  for (int i = 0; i < lib->n_entries; ++i)
    if (strcmp(lib->entries[i].name, o.entry) == 0)
      entry = &lib->entries[i];
  if (!entry) {
    char names[1024] = "";
    for (int i = 0; i < lib->n_entries; ++i) {
      size_t len = strlen(names);
      snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
               lib->entries[i].name);
    }
    die("model '%s' has no entry '%s' (entries: %s)", lib->model_name,
        o.entry, names);
  }
  if (entry->n_inputs > MAX_ARGS || entry->n_outputs > MAX_ARGS)
    die("entry '%s' has more than %d inputs or outputs", o.entry, MAX_ARGS);

  /* Dims: -1 until bound by --dim or an input. */
  int64_t *dims = malloc(sizeof(int64_t) * (size_t)(lib->n_dims + 1));
  if (!dims)
    die("out of memory");
  for (int k = 0; k < lib->n_dims; ++k)
    dims[k] = -1;
  for (int j = 0; j < o.nDims; ++j) {
    int k = 0;
    while (k < lib->n_dims && strcmp(lib->dim_names[k], o.dimNames[j]) != 0)
      ++k;
    if (k == lib->n_dims) {
      char names[1024] = "";
      for (int m = 0; m < lib->n_dims; ++m) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%s", m ? ", " : "",
                 lib->dim_names[m]);
      }
      die("model '%s' has no dim '%s' (dims: %s)", lib->model_name,
          o.dimNames[j], lib->n_dims ? names : "none");
    }
    dims[k] = o.dimValues[j];
  }

  /* Inputs read from files, in the entry's order; they bind dims. */
  DLTensor inputs[MAX_ARGS];
  const char *from[MAX_ARGS];
  int fromFile[MAX_ARGS] = {0};
  for (int j = 0; j < o.nInputs; ++j) {
    int i = 0;
    while (i < entry->n_inputs &&
           strcmp(entry->inputs[i].name, o.inputNames[j]) != 0)
      ++i;
    if (i == entry->n_inputs)
      die("entry '%s' has no input '%s'", o.entry, o.inputNames[j]);
    if (fromFile[i])
      die("input '%s' is given twice", o.inputNames[j]);
    if (seqrt_npy_read(o.inputFiles[j], &inputs[i]) != SEQRT_OK)
      die("input '%s': %s", o.inputNames[j], lastError());
    conform(&entry->inputs[i], o.inputFiles[j], &inputs[i]);
    fromFile[i] = 1;
    from[i] = o.inputFiles[j];
  }
  {
    seqrt_arg_desc descs[MAX_ARGS];
    const DLTensor *ts[MAX_ARGS];
    int n = 0;
    for (int i = 0; i < entry->n_inputs; ++i)
      if (fromFile[i]) {
        descs[n] = entry->inputs[i];
        ts[n++] = &inputs[i];
      }
    if (seqrt_check_args(descs, ts, n, dims, lib->n_dims, lib->dim_names) !=
        SEQRT_OK)
      die("%s", lastError());
  }
  uint64_t rng = o.seed;
  for (int i = 0; i < entry->n_inputs; ++i) {
    if (fromFile[i])
      continue;
    if (!o.random)
      die("input '%s' has no value: pass --input %s=FILE.npy or --random",
          entry->inputs[i].name, entry->inputs[i].name);
    if (!isSupported(entry->inputs[i].dtype))
      die("input '%s': cannot make random values of dtype %s",
          entry->inputs[i].name, seqrt_dtype_name(entry->inputs[i].dtype));
    allocTensor(&entry->inputs[i], dims, &inputs[i]);
    fillRandom(&inputs[i], &rng);
    from[i] = "random";
  }

  DLTensor outputs[MAX_ARGS];
  for (int i = 0; i < entry->n_outputs; ++i)
    allocTensor(&entry->outputs[i], dims, &outputs[i]);

  seqrt_model *model = NULL;
  DLDevice cpu = {kDLCPU, 0};
  /* A CUDA library runs on cuda:0, on copies of the tensors there. */
  DLDevice device = {lib->device_type, 0};
  char randomWeights[64] = "";
  if (!o.weights && o.random && lib->n_weights > 0) {
    writeRandomWeights(randomWeights, sizeof(randomWeights), o.seed);
    o.weights = randomWeights;
  }
  seqrt_status created = lib->create(o.weights, device, &model);
  if (*randomWeights)
    remove(randomWeights);
  if (created != SEQRT_OK)
    die("%s", lastError());

  DLTensor devInputs[MAX_ARGS], devOutputs[MAX_ARGS];
  const DLTensor *inPtrs[MAX_ARGS];
  DLTensor *outPtrs[MAX_ARGS];
  for (int i = 0; i < entry->n_inputs; ++i) {
    devInputs[i] = inputs[i];
    if (device.device_type != kDLCPU)
      toDevice(&inputs[i], device, &devInputs[i], 1);
    inPtrs[i] = &devInputs[i];
  }
  for (int i = 0; i < entry->n_outputs; ++i) {
    devOutputs[i] = outputs[i];
    if (device.device_type != kDLCPU)
      toDevice(&outputs[i], device, &devOutputs[i], 0);
    outPtrs[i] = &devOutputs[i];
  }

  int64_t chunk = o.chunk ? o.chunk : 1;
  if (o.chunk && !entry->step_of)
    die("--chunk is for step entries; '%s' is not one", o.entry);
  if (entry->step_of)
    runSteps(entry, model, inputs, outputs, chunk, device);
  else if (entry->fn(model, inPtrs, outPtrs) != SEQRT_OK)
    die("%s", lastError());
  for (int i = 0; i < entry->n_outputs && device.device_type != kDLCPU &&
                  !entry->step_of;
       ++i)
    if (seqrt_device_copy(outputs[i].data, cpu, devOutputs[i].data, device,
                          tensorBytes(&outputs[i])) != SEQRT_OK)
      die("output '%s': %s", entry->outputs[i].name, lastError());

  for (int i = 0; i < entry->n_inputs; ++i)
    summarize("input", entry->inputs[i].name, &inputs[i], from[i]);
  for (int i = 0; i < entry->n_outputs; ++i) {
    char path[4096];
    if (o.output)
      outputPath(o.output, i, entry->n_outputs, path, sizeof(path));
    summarize("output", entry->outputs[i].name, &outputs[i],
              o.output ? path : NULL);
    if (o.output && seqrt_npy_write(path, &outputs[i]) != SEQRT_OK)
      die("%s", lastError());
  }

  if (o.bench > 0) {
    double *times = malloc(sizeof(double) * (size_t)o.bench);
    if (!times)
      die("out of memory");
    for (long r = 0; r < o.bench; ++r) {
      double t0 = nowSeconds();
      if (entry->step_of)
        runSteps(entry, model, inputs, outputs, chunk, device);
      else if (entry->fn(model, inPtrs, outPtrs) != SEQRT_OK)
        die("%s", lastError());
      times[r] = nowSeconds() - t0;
    }
    qsort(times, (size_t)o.bench, sizeof(double), compareDoubles);
    double median = o.bench % 2 ? times[o.bench / 2]
                                : 0.5 * (times[o.bench / 2 - 1] +
                                         times[o.bench / 2]);
    printf("bench: '%s' median %.4g ms over %ld runs (min %.4g ms, max %.4g "
           "ms, %d threads)\n",
           o.entry, median * 1e3, o.bench, times[0] * 1e3,
           times[o.bench - 1] * 1e3, seqrt_num_threads());
    if (entry->step_of) {
      int64_t T = 0;
      for (int i = 0; i < entry->n_inputs && !T; ++i) {
        int a = timeAxis(&entry->inputs[i], entry->time_dim);
        if (a >= 0)
          T = inputs[i].shape[a];
      }
      if (T > 0)
        printf("bench: %.4g ms per token (%lld tokens, %lld per step)\n",
               median * 1e3 / (double)T, (long long)T, (long long)chunk);
    }
    free(times);
  }

  lib->destroy(model);
  if (device.device_type != kDLCPU) {
    for (int i = 0; i < entry->n_inputs; ++i)
      seqrt_device_free(device, devInputs[i].data);
    for (int i = 0; i < entry->n_outputs; ++i)
      seqrt_device_free(device, devOutputs[i].data);
  }
  for (int i = 0; i < entry->n_inputs; ++i)
    seqrt_npy_free(&inputs[i]); /* same ownership as allocTensor's */
  for (int i = 0; i < entry->n_outputs; ++i)
    seqrt_npy_free(&outputs[i]);
  free(dims);
  return 0;
}
