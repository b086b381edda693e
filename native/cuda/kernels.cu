// The CUDA backend's own kernels: the few steps cuDNN and cuBLAS don't cover (a fill with a
// value, and the negative log-likelihood's statistics and gradient). Compiled to PTX by
// scripts/gen-ptx.sh into kernels_ptx.h (committed), which the backend loads at run time with
// cudaLibraryLoadData, so the addon builds without nvcc and the driver JIT-compiles the PTX for
// whatever GPU is present (compute_75 and newer).

// x[i] = v for i < n.
extern "C" __global__ void lenet_fill(float* x, float v, unsigned long long n) {
  for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x)
    x[i] = v;
}

// One block of 256 threads: stats[0] += sum over rows of -log softmax(logits)[label],
// stats[1] += rows whose first argmax is not the label. The per-thread partial sums are reduced in
// a fixed tree, so the result is deterministic. A label that is not a class id makes the loss NaN.
extern "C" __global__ void lenet_nll_stats(const float* logits, const float* labels, int n, int k,
                                           float* stats) {
  __shared__ double loss_part[256];
  __shared__ double err_part[256];
  double loss = 0.0, errors = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float* z = logits + (long long)i * k;
    int arg = 0;
    for (int j = 1; j < k; ++j)
      if (z[j] > z[arg]) arg = j;
    const float mx = z[arg];
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += expf(z[j] - mx);
    const float y = labels[i];
    const int label = (int)y;
    if (!(y >= 0.0f) || label >= k || (float)label != y) {
      loss += __int_as_float(0x7fc00000);  // NaN: the host sees a NaN cost
      errors += 1.0;
      continue;
    }
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

// dlogits[i, j] = (probs[i, j] - (j == label_i)) / n.
extern "C" __global__ void lenet_nll_grad(const float* probs, const float* labels, int n, int k,
                                          float* dlogits) {
  const float inv_n = 1.0f / (float)n;
  const long long total = (long long)n * k;
  for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const long long i = t / k;
    const int j = (int)(t - i * k);
    dlogits[t] = (probs[t] - ((float)j == labels[i] ? 1.0f : 0.0f)) * inv_n;
  }
}
