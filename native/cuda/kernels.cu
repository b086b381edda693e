// The CUDA backend's own kernels: the few steps cuDNN and cuBLAS don't cover (a fill with a
// value, and the negative log-likelihood's statistics and gradient, which also check the labels).
// Compiled to PTX by scripts/gen-ptx.sh into kernels_ptx.h (committed), which the backend loads
// at run time with the driver API (cuModuleLoadData), so the addon builds without nvcc and the
// driver JIT-compiles the PTX for whatever GPU is present (compute_75 and newer).

// x[i] = v for i < n.
extern "C" __global__ void lenet_fill(float* x, float v, unsigned long long n) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x)
    x[i] = v;
}

// 2x2 max-pooling, stride 2, ignore_border (a trailing odd row/column is dropped), over `planes`
// planes of h x w: y = the max of each window. Our own (not cuDNN's), so that the backward below
// routes the gradient as the CPU does.
extern "C" __global__ void lenet_maxpool2x2(const float* x, float* y, long long planes, int h, int w) {
  const long long oh = h / 2, ow = w / 2, area = oh * ow, total = planes * area;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const long long p = t / area, r = t - p * area, i = r / ow, j = r - i * ow;
    const float* r0 = x + p * h * w + 2 * i * w + 2 * j;
    const float* r1 = r0 + w;
    y[t] = fmaxf(fmaxf(r0[0], r0[1]), fmaxf(r1[0], r1[1]));
  }
}

// Its backward into a zeroed dx: each window's gradient goes to its first maximum in row-major
// order (the first x equal to y), the CPU's rule (cpu/kernels.cc, maxpool2x2_backward). Windows do
// not overlap, so every thread writes its own element.
extern "C" __global__ void lenet_maxpool2x2_backward(const float* x, const float* y, const float* dy,
                                                     float* dx, long long planes, int h, int w) {
  const long long oh = h / 2, ow = w / 2, area = oh * ow, total = planes * area;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const long long p = t / area, r = t - p * area, i = r / ow, j = r - i * ow;
    const long long at = p * h * w + 2 * i * w + 2 * j;
    const float m = y[t];
    const int k = x[at] == m ? 0 : x[at + 1] == m ? 1 : x[at + w] == m ? 2 : 3;
    dx[at + (k >> 1) * w + (k & 1)] = dy[t];
  }
}

// The label check shared by both NLL kernels, run by every thread of ONE block: finds the first
// row whose label is not a class id in 0..k-1 (the CPU's test: not >= 0, not < k, or not an
// integer) and, unless an earlier launch already did, records it in the backend's status word:
// status[0] = 1, status[1] = op, status[2] = row, status[3] = the label's bits, status[4] = k.
// Kernels on one stream run one after another, so "earlier" is issue order; the host reads and
// clears the status at its next wait and reports the first bad label as the CPU does.
__device__ void lenet_check_labels(const float* labels, int n, int k, unsigned* status,
                                   unsigned op) {
  __shared__ int first;
  if (threadIdx.x == 0) first = n;
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float y = labels[i];
    if (!(y >= 0.0f) || !(y < (float)k) || y != floorf(y)) atomicMin(&first, i);
  }
  __syncthreads();
  if (threadIdx.x == 0 && first < n && status[0] == 0) {
    status[1] = op;
    status[2] = (unsigned)first;
    status[3] = __float_as_uint(labels[first]);
    status[4] = (unsigned)k;
    __threadfence();
    status[0] = 1;
  }
}

// softmaxNll's label check when no statistics are computed: one block, op as given.
extern "C" __global__ void lenet_labels(const float* labels, int n, int k, unsigned* status,
                                        unsigned op) {
  lenet_check_labels(labels, n, k, status, op);
}

// One block of 256 threads: stats[0] += sum over rows of -log softmax(logits)[label],
// stats[1] += rows whose first argmax is not the label. The per-thread partial sums are reduced in
// a fixed tree, so the result is deterministic. A row whose label is not a class id adds nothing
// (it is recorded in `status` and reported at the next wait; op 0 = softmaxNll).
extern "C" __global__ void lenet_nll_stats(const float* logits, const float* labels, int n, int k,
                                           float* stats, unsigned* status) {
  __shared__ double loss_part[256];
  __shared__ double err_part[256];
  lenet_check_labels(labels, n, k, status, 0u);
  double loss = 0.0, errors = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float y = labels[i];
    if (!(y >= 0.0f) || !(y < (float)k) || y != floorf(y)) continue;  // never index with it
    const int label = (int)y;
    const float* z = logits + (long long)i * k;
    int arg = 0;
    for (int j = 1; j < k; ++j)
      if (z[j] > z[arg]) arg = j;
    const float mx = z[arg];
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += expf(z[j] - mx);
    loss += (double)(logf(sum) - (z[label] - mx));
    errors += arg != label ? 1.0 : 0.0;
  }
  loss_part[threadIdx.x] = loss;
  err_part[threadIdx.x] = errors;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      loss_part[threadIdx.x] += loss_part[threadIdx.x + s];
      err_part[threadIdx.x] += err_part[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    stats[0] += (float)loss_part[0];
    stats[1] += (float)err_part[0];
  }
}

// dlogits[i, j] = (probs[i, j] - (j == label_i)) / n. Block 0 also checks the labels (op 1 =
// softmaxNllBackward); the gradient itself never indexes with a label.
extern "C" __global__ void lenet_nll_grad(const float* probs, const float* labels, int n, int k,
                                          float* dlogits, unsigned* status) {
  if (blockIdx.x == 0) lenet_check_labels(labels, n, k, status, 1u);
  const float inv_n = 1.0f / (float)n;
  const long long total = (long long)n * k;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const long long i = t / k;
    const int j = (int)(t - i * k);
    dlogits[t] = (probs[t] - ((float)j == labels[i] ? 1.0f : 0.0f)) * inv_n;
  }
}
