// CUDA emulation for flowc's tests without a GPU: the subset of the CUDA runtime and cuBLAS that
// flowc's generated CUDA source uses, implemented on the host, so the same kernel source compiles
// as C++ and runs against NumPy (see flowc/runtime/cuda.py, "emulation").
//
// What it models: device memory (host memory), streams and copies (synchronous), kernels (every
// block, every thread, one after another on the calling thread, with blockIdx/threadIdx set),
// cuBLAS's column-major strided batched GEMM (the CPU BLAS, with the same arguments).
// What it does not: concurrency between threads (no races are seen: compute-sanitizer's racecheck
// on a GPU is the check for those), __syncthreads and warp shuffles (flowc's kernels do not use
// them yet), timing, and any device limit.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <ucontext.h>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __shared__ static thread_local
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
inline thread_local dim3 threadIdx(0, 0, 0), blockIdx(0, 0, 0), blockDim, gridDim;

typedef int cudaError_t;
enum : int { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
typedef struct flowc_emulated_stream* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice,
                      cudaMemcpyDefault };

inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::aligned_alloc(256, (std::max<size_t>(bytes, 1) + 255) / 256 * 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <typename T> inline cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t = nullptr) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
  std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
inline void __threadfence() {}

namespace flowc_emulation {
// Cooperative kernels (those that call __syncthreads: flowc's one-block-per-row kernels) run each
// block's threads as fibers on the calling thread: a barrier switches to the scheduler, which
// resumes every other thread of the block up to the same barrier before any goes on.
struct Fibers {
  std::vector<ucontext_t> context;
  std::vector<char> done;
  ucontext_t scheduler;
  int current = 0;
  void (*entry)(void*) = nullptr;
  void* body = nullptr;
};
inline thread_local Fibers* fibers = nullptr;
inline void barrier() {
  if (fibers) swapcontext(&fibers->context[fibers->current], &fibers->scheduler);
}
inline void fiber_main() {
  fibers->entry(fibers->body);
  fibers->done[fibers->current] = 1;       // returning resumes the scheduler (uc_link)
}
template <typename Kernel> void launch_cooperative(dim3 grid, dim3 block, Kernel kernel) {
  gridDim = grid;
  blockDim = block;
  const int n = (int)(block.x * block.y * block.z);
  const size_t stack = 256 * 1024;
  std::vector<char> stacks((size_t)n * stack);
  Fibers f;
  f.context.resize(n);
  f.done.assign(n, 0);
  f.entry = [](void* k) { (*static_cast<Kernel*>(k))(); };
  f.body = &kernel;
  Fibers* outer = fibers;
  fibers = &f;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = dim3(bx, by, bz);
        for (int t = 0; t < n; ++t) {
          getcontext(&f.context[t]);
          f.context[t].uc_stack.ss_sp = stacks.data() + (size_t)t * stack;
          f.context[t].uc_stack.ss_size = stack;
          f.context[t].uc_link = &f.scheduler;
          makecontext(&f.context[t], fiber_main, 0);
          f.done[t] = 0;
        }
        for (int remaining = n; remaining > 0;) {
          for (int t = 0; t < n; ++t) {
            if (f.done[t]) continue;
            f.current = t;
            threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
            swapcontext(&f.scheduler, &f.context[t]);
            if (f.done[t]) --remaining;
          }
        }
      }
  fibers = outer;
}
}  // namespace flowc_emulation
inline void __syncthreads() { flowc_emulation::barrier(); }
#define FLOWC_LAUNCH_COOPERATIVE(kernel, grid, block, shmem, stream, ...) \
  flowc_emulation::launch_cooperative(dim3(grid), dim3(block), [&]() { kernel(__VA_ARGS__); })

namespace flowc_emulation {
// a kernel launch: every block and every thread in turn, with the built-in coordinates set
template <typename Kernel> void launch(dim3 grid, dim3 block, Kernel kernel) {
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx)
        for (unsigned tz = 0; tz < block.z; ++tz)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx) {
              blockIdx = dim3(bx, by, bz);
              threadIdx = dim3(tx, ty, tz);
              kernel();
            }
}
}  // namespace flowc_emulation
#define FLOWC_LAUNCH(kernel, grid, block, shmem, stream, ...) \
  flowc_emulation::launch(dim3(grid), dim3(block), [&]() { kernel(__VA_ARGS__); })

// ---- cuBLAS: column-major strided batched GEMM through the CPU BLAS flowc links
typedef struct flowc_emulated_cublas* cublasHandle_t;
typedef int cublasStatus_t;
enum : int { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 };
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0 } cublasMath_t;
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(static_cast<uintptr_t>(1));
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

#define FLOWC_EMU_CAT2(a, b) a##b
#define FLOWC_EMU_CAT(a, b) FLOWC_EMU_CAT2(a, b)
#ifndef FLOWC_BLAS_PREFIX
#define FLOWC_BLAS_PREFIX
#endif
extern "C" void FLOWC_EMU_CAT(FLOWC_BLAS_PREFIX, cblas_sgemm)(int, int, int, int, int, int, float, const float*, int,
                                                              const float*, int, float, float*, int);
extern "C" void FLOWC_EMU_CAT(FLOWC_BLAS_PREFIX, cblas_dgemm)(int, int, int, int, int, int, double, const double*,
                                                              int, const double*, int, double, double*, int);
namespace flowc_emulation {
constexpr int COL_MAJOR = 102, NO_TRANS = 111, TRANS = 112;
// cuBLAS's argument checks (the ones a wrong mapping from row-major would trip)
inline bool gemm_args_ok(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb,
                         int ldc) {
  if (m < 0 || n < 0 || k < 0) return false;
  if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k)) return false;
  if (ldb < std::max(1, tb == CUBLAS_OP_N ? k : n)) return false;
  return ldc >= std::max(1, m);
}
}  // namespace flowc_emulation
#define FLOWC_EMU_GEMM(NAME, T, CBLAS)                                                                               \
  inline cublasStatus_t NAME(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,     \
                             const T* alpha, const T* a, int lda, long long sa, const T* b, int ldb, long long sb, \
                             const T* beta, T* c, int ldc, long long sc, int batch) {                              \
    if (!flowc_emulation::gemm_args_ok(ta, tb, m, n, k, lda, ldb, ldc) || batch < 0)                               \
      return CUBLAS_STATUS_INVALID_VALUE;                                                                          \
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;                                                            \
    for (int i = 0; i < batch; ++i)                                                                                \
      FLOWC_EMU_CAT(FLOWC_BLAS_PREFIX, CBLAS)(                                                                     \
          flowc_emulation::COL_MAJOR, ta == CUBLAS_OP_N ? flowc_emulation::NO_TRANS : flowc_emulation::TRANS,      \
          tb == CUBLAS_OP_N ? flowc_emulation::NO_TRANS : flowc_emulation::TRANS, m, n, k, *alpha, a + i * sa,    \
          lda, b + i * sb, ldb, *beta, c + i * sc, ldc);                                                           \
    return CUBLAS_STATUS_SUCCESS;                                                                                  \
  }
FLOWC_EMU_GEMM(cublasSgemmStridedBatched, float, cblas_sgemm)
FLOWC_EMU_GEMM(cublasDgemmStridedBatched, double, cblas_dgemm)

// cublasGemmStridedBatchedEx for half operands with float accumulation: widened to float, sgemm, rounded back
typedef enum { CUDA_R_16F = 2, CUDA_R_32F = 0 } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m,
    int n, int k, const void* alpha, const void* a, cudaDataType ta_type, int lda, long long sa, const void* b,
    cudaDataType tb_type, int ldb, long long sb, const void* beta, void* c, cudaDataType tc_type, int ldc,
    long long sc, int batch, cublasComputeType_t, cublasGemmAlgo_t) {
  if (ta_type != CUDA_R_16F || tb_type != CUDA_R_16F || tc_type != CUDA_R_16F) return CUBLAS_STATUS_INVALID_VALUE;
  if (!flowc_emulation::gemm_args_ok(ta, tb, m, n, k, lda, ldb, ldc) || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const int a_cols = ta == CUBLAS_OP_N ? k : m, b_cols = tb == CUBLAS_OP_N ? n : k;   // column-major extents
  for (int i = 0; i < batch; ++i) {
    const _Float16* ha = static_cast<const _Float16*>(a) + i * sa;
    const _Float16* hb = static_cast<const _Float16*>(b) + i * sb;
    _Float16* hc = static_cast<_Float16*>(c) + i * sc;
    float* fa = static_cast<float*>(std::calloc((size_t)lda * std::max(a_cols, 1), sizeof(float)));
    float* fb = static_cast<float*>(std::calloc((size_t)ldb * std::max(b_cols, 1), sizeof(float)));
    float* fc = static_cast<float*>(std::calloc((size_t)ldc * std::max(n, 1), sizeof(float)));
    const int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
    for (int col = 0; col < a_cols; ++col)
      for (int r = 0; r < a_rows; ++r) fa[(size_t)col * lda + r] = (float)ha[(size_t)col * lda + r];
    for (int col = 0; col < b_cols; ++col)
      for (int r = 0; r < b_rows; ++r) fb[(size_t)col * ldb + r] = (float)hb[(size_t)col * ldb + r];
    if (be != 0.0f)
      for (int col = 0; col < n; ++col)
        for (int r = 0; r < m; ++r) fc[(size_t)col * ldc + r] = (float)hc[(size_t)col * ldc + r];
    FLOWC_EMU_CAT(FLOWC_BLAS_PREFIX, cblas_sgemm)(
        flowc_emulation::COL_MAJOR, ta == CUBLAS_OP_N ? flowc_emulation::NO_TRANS : flowc_emulation::TRANS,
        tb == CUBLAS_OP_N ? flowc_emulation::NO_TRANS : flowc_emulation::TRANS, m, n, k, al, fa, lda, fb, ldb, be,
        fc, ldc);
    for (int col = 0; col < n; ++col)
      for (int r = 0; r < m; ++r) hc[(size_t)col * ldc + r] = (_Float16)fc[(size_t)col * ldc + r];
    std::free(fa); std::free(fb); std::free(fc);
  }
  return CUBLAS_STATUS_SUCCESS;
}

inline int atomicCAS(int* p, int expected, int desired) {
  int old = *p;
  if (old == expected) *p = desired;
  return old;
}
inline int atomicExch(int* p, int v) { int old = *p; *p = v; return old; }
