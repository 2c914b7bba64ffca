"""scratch_vae benchmark: training, evaluation and sampling speed against this machine's own GEMM floor.

Measures, in one run, side by side:
  1. the GEMM floor: achieved GFLOP/s of the model's own forward+backward matmul shapes at the training batch size,
     and from it the floor time of one epoch (the time the matmuls alone take);
  2. our training epoch (the real `fit` loop, default config, real 60k dataset): seconds, images/s, ratio to the floor;
  3. the same model trained through the conventional per-item pipeline (a Dataset that makes a PIL image per item and
     converts it as torchvision's ToTensor does, behind a DataLoader, a plain Adam, BCE on probabilities), and our speed-up;
  4. evaluation: test ELBO over 10k images, and the importance-weighted NLL with k=5000 on a subset (images/s, the
     projected full-test-set time, and its own GEMM floor);
  5. sampling throughput, and the peak resident memory of a full `scratch_vae_train` run (in a subprocess).
  6. with --scale-out (alone): one process × 2 threads against two torchrun processes × 1 thread, epoch time.
  7. a busy machine: a training step at 1 and at 2 threads, with and without a CPU-hog process beside it (the
     slow-down a shared machine's user sees, and why `--threads` defaults to 1); and a whole epoch of Burda et al.'s
     batch-20 recipe (per-epoch work included) against its GEMM floor.
  8. with --replicas (alone): the cost per replica-step of R = 1, 2, 4, 8 seeds stacked in one step (scratch_vae.replicas),
     Burda et al.'s 784-200-200-50 tanh at batch 20, against the single-model step and the GEMM floor.
  9. with --breakdown (alone): where the time of Burda's batch-20 step goes at one thread (GEMM floor, forward/backward,
     gradient norm, FlatAdam and torch's Adam over 14 tensors, making the batch, the whole step, the step by autograd).
Prints a table and writes JSON.  Usage: python bench/bench.py [--dataset mnist] [--json bench/results.json] [--scale-out]
"""
import argparse, inspect, json, os, platform, resource, subprocess, sys, tempfile, time  # noqa: F401 (resource: peak RSS)
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from scratch_vae.data import load_mnist, Batches
from scratch_vae.model import VAE
from scratch_vae.elbo import elbo_loss, log_likelihood
from scratch_vae.config import TrainConfig
import scratch_vae.run as R
from scratch_vae.run import fit
from scratch_vae.loop import Run, train_step
from scratch_vae.engine import make_optimizer, hand_grads
from scratch_vae.data import fixed_batches
from scratch_vae.evaluate import mean_elbo

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()


def cpu_flags() -> str:
    "The SIMD flags that decide matmul speed (AVX2, FMA, AVX-512 ...)."
    try: flags = next(l.split(':', 1)[1].split() for l in open('/proc/cpuinfo') if l.startswith('flags'))
    except (OSError, StopIteration): return ''
    return ' '.join(f for f in flags if f.startswith(('avx', 'fma', 'amx')))


CLOCK = time.perf_counter   # --breakdown, --replicas: time.thread_time, this thread's CPU time (a busy machine's
                            # other processes don't count; a single-threaded step has no other thread to miss)


def timeit(f, reps, warmup=3):
    for _ in range(warmup): f()
    t = CLOCK()
    for _ in range(reps): f()
    return (CLOCK() - t) / reps


def linear_shapes(model: VAE, rows: int, backward: bool = True):
    "(M, K, N, op) of every matmul of one forward(+backward) pass, as autograd issues them."
    layers = [m for m in model.modules() if m.__class__.__name__ == 'LinearLayer']
    shapes = []
    for i, l in enumerate(layers):
        o, n = l.out_features, l.in_features
        shapes.append((rows, n, o, 'fwd'))                      # x @ W.T
        if backward:
            shapes.append((o, rows, n, 'wgrad'))                # grad_out.T @ x
            if i != 0: shapes.append((rows, o, n, 'dgrad'))     # grad_out @ W (not needed for the input layer)
    return shapes


def gemm_floor(shapes, reps=200):
    "Seconds and FLOPs of one pass of `shapes`, each timed alone as a float32 matmul."
    total_t = total_f = 0.0
    for m, k, n, _ in shapes:
        a, b = torch.randn(m, k), torch.randn(n, k)
        total_t += timeit(lambda: a @ b.T, reps); total_f += 2 * m * k * n
    return total_t, total_f


STEP_CASES = {'seed model, batch 128': dict(),
              'seed model, batch 20': dict(batch_size=20),
              '784-200-200-50 tanh, batch 20': dict(hidden_dims=[200, 200], latent_dim=50, activation='tanh', batch_size=20)}


def step_times(x_train, steps=300, warmup=40, **kw):
    "Seconds per `train_step` as `fit` runs it (hand-derived backward pass), the same by autograd, and the step's GEMM floor."
    cfg = TrainConfig(**kw)
    torch.manual_seed(0)
    model = VAE(**cfg.model_config())
    batches = Batches(x_train, cfg.batch_size, seed=0)
    xs = [xb for _, xb in zip(range(steps + warmup), batches.iter_epoch(0))]
    out = {}
    for name, by_hand in (('by_hand', True), ('autograd', False)):
        run = Run(cfg, model, make_optimizer(model, cfg.lr), torch.Generator().manual_seed(0), batches, batches, grads=hand_grads if by_hand else None)
        for xb in xs[:warmup]: train_step(run, xb, 'warm-up')
        t = time.perf_counter()
        for xb in xs[warmup:]: train_step(run, xb, 'bench')
        out[name] = (time.perf_counter() - t) / steps
    out['floor'] = gemm_floor(linear_shapes(model, cfg.batch_size))[0]
    return out


def busy_machine(x_train, steps=200):
    "ms per training step of the default model (batch 128) at 1 and 2 threads, on an idle machine and beside a CPU hog."
    out, old = {}, torch.get_num_threads()
    for hog in (False, True):
        p = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if hog else None
        try:
            time.sleep(0.5 if hog else 0)
            for n in (1, 2):
                torch.set_num_threads(n)
                out[f"{n} thread{'s' * (n > 1)}, {'beside a CPU hog' if hog else 'idle'}"] = min(
                    step_times(x_train, steps=steps, warmup=20)['by_hand'] for _ in range(2)) * 1e3
        finally:
            if p: p.kill(); p.wait()
            torch.set_num_threads(old)
    for n in ('1 thread', '2 threads'): out[f'{n}: busy / idle'] = out[f'{n}, beside a CPU hog'] / out[f'{n}, idle']
    return out


BURDA = dict(binarize='dynamic', hidden_dims=[200, 200], latent_dim=50, activation='tanh', batch_size=20, adam_eps=1e-4,
             lr_schedule='iwae')


def burda_epoch(dataset, data):
    "One whole epoch (per-epoch work included) of Burda et al.'s batch-20 recipe through `fit`, against its GEMM floor."
    with tempfile.TemporaryDirectory() as d:
        r = fit(TrainConfig(dataset=dataset, data=data, out=d, epochs=1, **BURDA), quiet=True, log=lambda s: None)
    steps = -(-60000 // 20)
    floor = gemm_floor(linear_shapes(r['model'], 20))[0] * steps
    return dict(epoch_s=r['history'][0]['seconds'], floor_s=floor, ratio=r['history'][0]['seconds'] / floor)


def step_breakdown(x_train, steps=300, reps=7, chunk=50):
    """Where the time of one batch-20 step of Burda's model goes (ms, one thread; each part the best of `reps` × `steps`
    / `chunk` rounds of `chunk` steps, the floor the best of 5): its GEMM floor; the
    hand-derived forward and backward pass, the gradient norm and Adam as `train_step` runs them (`FlatAdam`: one flat
    buffer, torch's fused kernel once); for reference Adam over the model's 14 tensors (torch's fused Adam); making
    the batch; the whole `train_step` (the CLI's code path: `make_optimizer`, `loss_and_grads`), and the same step
    by autograd."""
    from scratch_vae.backprop import elbo_backward
    from scratch_vae.loop import grad_norm
    cfg = TrainConfig(**BURDA)
    torch.manual_seed(0)
    model, other, ref = (VAE(**cfg.model_config()) for _ in range(3))
    batches = Batches(x_train, cfg.batch_size, seed=0, binarize=cfg.binarize)
    xs = [xb for _, xb in zip(range(steps), batches.iter_epoch(0))]
    mk = lambda m, by_hand: Run(cfg, m, make_optimizer(m, cfg.lr, cfg.adam_eps), torch.Generator().manual_seed(0),
                                batches, batches, grads=hand_grads if by_hand else None)
    run, auto = mk(model, True), mk(other, False)
    for p in ref.parameters(): p.grad = torch.randn_like(p)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=cfg.lr, eps=cfg.adam_eps, fused=True)
    def per_step(f):                               # short rounds, the best kept: a shared machine's quiet spells
        def some():
            for xb in xs[:chunk]: f(xb)
        return min(timeit(some, 1, warmup=1) for _ in range(reps * steps // chunk)) / chunk * 1e3
    def making_batches():
        for _ in zip(range(chunk), batches.iter_epoch(1)): pass
    flat = hasattr(run.opt, 'maps')                # False: scratch_vae from before FlatAdam (for a before/after)
    old = torch.get_num_threads()
    torch.set_num_threads(1)                       # as scratch_vae_train runs by default (--threads)
    kw = dict(maps=run.opt.maps) if flat else {}
    try: out = dict(floor=min(gemm_floor(linear_shapes(model, cfg.batch_size))[0] for _ in range(5)) * 1e3,
               forward_backward=per_step(lambda xb: elbo_backward(model, xb, 1.0, run.gen, **kw)),
               grad_norm=per_step(lambda xb: grad_norm(model, run.opt) if flat else grad_norm(model)),
               adam=per_step(lambda xb: run.opt.step()),
               adam_14_tensors=per_step(lambda xb: ref_opt.step()),
               make_batch=min(timeit(making_batches, 1, warmup=1) for _ in range(reps * steps // chunk)) / chunk * 1e3,
               train_step=per_step(lambda xb: train_step(run, xb, 'bench')),
               train_step_autograd=per_step(lambda xb: train_step(auto, xb, 'bench')))
    finally: torch.set_num_threads(old)
    out['step_and_batch_vs_floor'] = (out['train_step'] + out['make_batch']) / out['floor']
    out['step_vs_floor'] = out['train_step'] / out['floor']
    out['autograd_step_vs_floor'] = out['train_step_autograd'] / out['floor']
    out['flat_adam'] = flat
    return out


def replica_scaling(Rs=(1, 2, 4, 8), steps=200, reps=5):
    """ms per step and per replica-step of R stacked replicas (Burda's model, batch 20, one thread): `lockstep_grads`'
    work (each replica's noise, one stacked `hand_backward`), the gradient norm and `FlatAdam`'s step, best of `reps`;
    against one model's `train_step` and the GEMM floor, in the same run."""
    from scratch_vae.backprop import hand_backward
    from scratch_vae.replicas import stacked
    from scratch_vae.loop import grad_norm
    from scratch_vae.model import noise
    old, out = torch.get_num_threads(), {}
    torch.set_num_threads(1)
    try:
        cfg = TrainConfig(**BURDA)
        torch.manual_seed(0); one = VAE(**cfg.model_config())
        run = Run(cfg, one, make_optimizer(one, cfg.lr, cfg.adam_eps), torch.Generator().manual_seed(0), None, None, grads=hand_grads)
        xs = [torch.rand(20, 784).round() for _ in range(steps)]
        def single():
            for x in xs: train_step(run, x, 'bench')
        alone = min(timeit(single, 1, warmup=1) for _ in range(reps)) / steps
        for R in Rs:
            ms = []
            for r in range(R): torch.manual_seed(r); ms.append(VAE(**cfg.model_config()))
            params = stacked(ms)
            opt = make_optimizer(ms[0], cfg.lr, cfg.adam_eps, params)
            x, gens = torch.rand(R, 20, 784).round(), [torch.Generator().manual_seed(r) for r in range(R)]
            def step():
                eps = torch.stack([noise((20, 50), x, g) for g in gens])
                loss, *_ = hand_backward('tanh', opt.maps, x, eps, 1.0)
                if torch.isfinite(loss.sum() + grad_norm(None, opt)): opt.step()
            t = min(timeit(step, steps, warmup=20) for _ in range(reps))
            out[R] = dict(step_ms=t * 1e3, per_replica_ms=t / R * 1e3, per_replica_vs_one_model=t / R / alone)
        floor = min(gemm_floor(linear_shapes(one, 20))[0] for _ in range(3))
    finally: torch.set_num_threads(old)
    for R in Rs: out[R]['per_replica_vs_floor'] = out[R]['per_replica_ms'] / (floor * 1e3)
    out['one_model_train_step_ms'], out['floor_ms'] = alone * 1e3, floor * 1e3
    return out


class PILDataset(torch.utils.data.Dataset):
    "The conventional per-item pipeline: a PIL image per item, converted as torchvision's ToTensor does."
    def __init__(self, images): self.images = images.numpy()
    def __len__(self): return len(self.images)
    def __getitem__(self, i):
        from PIL import Image
        img = Image.fromarray(self.images[i])   # mode 'L', like torchvision's MNIST
        x = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1).contiguous()
        return x.float().div(255), 0


def conventional_epoch(x_train):
    "One epoch of the common PyTorch VAE example's loop over our model: DataLoader, plain Adam, BCE on sigmoid output."
    torch.manual_seed(0)
    model = VAE(); opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    dl = torch.utils.data.DataLoader(PILDataset(x_train), batch_size=128, shuffle=True)
    t = time.perf_counter()
    for x, _ in dl:
        x = x.view(-1, 784)
        logits, mu, logvar = model(x)
        bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction='sum')
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kld) / len(x)
        opt.zero_grad(); loss.backward(); opt.step()
    return time.perf_counter() - t


def peak_rss_of_training(dataset, epochs):
    """Peak RSS (MiB) of a `scratch_vae_train` run in a fresh process, as the kernel's VmHWM of that process.

    (Not `ru_maxrss` of children: Linux carries the peak over `exec`, so a child forked from this large benchmark
    process would report the benchmark's own size.)"""
    with tempfile.TemporaryDirectory() as d:
        code = ("import sys\nfrom scratch_vae.cli import train_cli\ntry: train_cli(sys.argv[1:])\n"
                "finally: print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)")
        t = time.perf_counter()
        r = subprocess.run([sys.executable, '-c', code, '--dataset', dataset, '--epochs', str(epochs), '--out', d, '--quiet'],
                           check=True, capture_output=True, text=True, cwd=ROOT)
        return int(r.stderr.strip().splitlines()[-1]) / 1024, time.perf_counter() - t


SCALE_OUT_MODELS = {'seed model 784-256-8, batch 128': [], '784-1024-1024-64, batch 128': ['--hidden-dims', '1024,1024', '--latent-dim', '64']}


def scale_out(dataset, data, epochs):
    """Epoch time of the same training as 1 process × 2 threads and as 2 torchrun processes × 1 thread (gloo), full train set.

    Each run is a real `scratch_vae_train` (under `torchrun --standalone` for two processes); the best epoch's seconds
    from its history.jsonl are reported (the first epoch includes warm-up)."""
    out = {}
    for name, extra in SCALE_OUT_MODELS.items():
        out[name] = {}
        for procs, threads in ((1, 2), (2, 1)):
            with tempfile.TemporaryDirectory() as d:
                args = ['--dataset', dataset, '--epochs', str(epochs), '--out', d, '--quiet', *extra] + (['--data', data] if data else [])
                cmd = ([sys.executable, '-m', 'scratch_vae', 'train'] if procs == 1 else
                       [str(Path(sys.executable).parent/'torchrun'), '--standalone', f'--nproc_per_node={procs}', '-m', 'scratch_vae', 'train'])
                subprocess.run(cmd + args, check=True, capture_output=True, cwd=ROOT, env={**os.environ, 'OMP_NUM_THREADS': str(threads)})
                secs = [json.loads(l)['seconds'] for l in open(Path(d)/'history.jsonl')]
            out[name][f'{procs}x{threads}'] = min(secs)
            print(f"{name}: {procs} process(es) × {threads} thread(s): best epoch {min(secs):.2f} s (epochs {secs})", flush=True)
    print('\n| model | 1 process × 2 threads, s/epoch | 2 processes × 1 thread, s/epoch | data-parallel speed-up |\n|---|---|---|---|')
    for name, r in out.items(): print(f"| {name} | {r['1x2']:.2f} | {r['2x1']:.2f} | {r['1x2'] / r['2x1']:.2f}× |")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', default='mnist', help='mnist or fashion-mnist (its 60k train images)')
    ap.add_argument('--data', default=None, help='dataset root (default: $SCRATCH_VAE_DATA, ./data)')
    ap.add_argument('--epochs', type=int, default=3, help='epochs of our loop to time (the best is reported)')
    ap.add_argument('--nll-images', type=int, default=50, help='test images for the k=5000 NLL timing')
    ap.add_argument('--rss-epochs', type=int, default=3, help='epochs of the subprocess run whose peak RSS is measured')
    ap.add_argument('--json', default=None, help='where to write the results (default: bench/results.json, or bench/scale_out.json)')
    ap.add_argument('--scale-out', action='store_true', help='only time 1 process × 2 threads against 2 torchrun processes × 1 thread')
    ap.add_argument('--scale-out-epochs', type=int, default=2, help='epochs of each scale-out run (the best is reported)')
    ap.add_argument('--replicas', action='store_true', help='only the cost per replica-step of R = 1, 2, 4, 8 stacked seeds')
    ap.add_argument('--breakdown', action='store_true', help="only where the time of Burda's batch-20 step goes")
    ap.add_argument('--busy', action='store_true', help='only the busy-machine figures (threads, a CPU hog) and the batch-20 epoch')
    a = ap.parse_args()
    torch.manual_seed(0)
    res = dict(machine=dict(cpu=cpu_model(), flags=cpu_flags(), cores=os.cpu_count(),
                            torch=torch.__version__, threads=torch.get_num_threads(), python=platform.python_version()),
               dataset=a.dataset)
    print(f"machine: {res['machine']['cpu']} ({res['machine']['flags']}), {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    if a.scale_out:
        res['scale_out'] = scale_out(a.dataset, a.data, a.scale_out_epochs)
        Path(a.json or ROOT/'bench'/'scale_out.json').write_text(json.dumps(res, indent=2))
        return
    global CLOCK
    if a.replicas or a.breakdown: CLOCK, res['clock'] = time.thread_time, 'thread CPU time (time.thread_time)'
    if a.replicas:
        res['replicas'] = replica_scaling()
        res['machine']['threads'] = 1                                   # what replica_scaling runs on
        for R, v in res['replicas'].items():
            if isinstance(v, dict): print(f"R = {R}: {v['step_ms']:.3f} ms a step, {v['per_replica_ms']:.3f} ms per replica-step "
                  f"({v['per_replica_vs_one_model']:.2f}× one model's train_step, {v['per_replica_vs_floor']:.2f}× its GEMM floor)", flush=True)
        print(f"one model's train_step {res['replicas']['one_model_train_step_ms']:.3f} ms, GEMM floor {res['replicas']['floor_ms']:.3f} ms")
        Path(a.json or ROOT/'bench'/'replicas.json').write_text(json.dumps(res, indent=2))
        return
    x_train, _ = load_mnist('train', a.dataset, a.data)
    if a.breakdown:
        res['breakdown'] = b = step_breakdown(x_train)
        res['machine']['threads'] = 1                                   # what step_breakdown runs on
        for k, v in b.items(): print(f"Burda batch-20 step, {k.replace('_', ' ')}: {v:.3f}{'×' if 'vs' in k else ' ms'}"
                                     if not isinstance(v, bool) else f"FlatAdam: {v}", flush=True)
        Path(a.json or ROOT/'bench'/'breakdown.json').write_text(json.dumps(res, indent=2))
        return
    if a.busy:
        res['busy'] = busy_machine(x_train)
        for k, v in res['busy'].items(): print(f"step, {k}: {v:.2f}{'×' if '/' in k else ' ms'}", flush=True)
        res['burda_epoch'] = burda_epoch(a.dataset, a.data)
        print(f"Burda batch-20 epoch (fit, per-epoch work included): {res['burda_epoch']['epoch_s']:.2f} s, "
              f"{res['burda_epoch']['ratio']:.2f}× its GEMM floor ({res['burda_epoch']['floor_s']:.2f} s)", flush=True)
        Path(a.json or ROOT/'bench'/'busy.json').write_text(json.dumps(res, indent=2))
        return
    a.json = a.json or str(ROOT/'bench'/'results.json')
    x_test, _ = load_mnist('test', a.dataset, a.data)
    n, bs = len(x_train), 128
    steps = -(-n // bs)
    model = VAE()

    # 1. GEMM floor of one training epoch
    t_step, f_step = gemm_floor(linear_shapes(model, bs))
    res['gemm'] = dict(gflops_per_s=f_step / t_step / 1e9, floor_epoch_s=t_step * steps, epoch_gflop=f_step * steps / 1e9)
    print(f"GEMM floor: {res['gemm']['gflops_per_s']:.1f} GFLOP/s on the model's shapes → {res['gemm']['epoch_gflop']:.0f} GFLOP "
          f"per epoch = {res['gemm']['floor_epoch_s']:.2f} s", flush=True)

    # 2. our training loop: the real fit(), default config
    extras, real_end = [], R.end_epoch
    def timed_end(*args, **kw):                         # the per-epoch extras: test ELBO, history, checkpoint
        t0 = time.perf_counter(); real_end(*args, **kw); extras.append(time.perf_counter() - t0)
    R.end_epoch = timed_end
    try:
        with tempfile.TemporaryDirectory() as d:
            r = fit(TrainConfig(dataset=a.dataset, data=a.data, out=d, epochs=a.epochs), quiet=True, log=lambda s: None)
    finally: R.end_epoch = real_end
    secs = [h['seconds'] for h in r['history']]
    best = min(secs)
    res['train'] = dict(epoch_s=best, epochs_s=secs, images_per_s=n / best, ratio_to_floor=best / res['gemm']['floor_epoch_s'],
                        extras_s=extras, extras_share=min(extras) / best)
    print(f"our epoch: {best:.2f} s ({n / best:,.0f} images/s), {res['train']['ratio_to_floor']:.2f}× the GEMM floor; "
          f"per-epoch extras (test ELBO, history, checkpoint) {min(extras):.2f} s = {min(extras) / best:.1%} of the steps", flush=True)

    # 2b. one training step against its own GEMM floor: three cases, by hand and by autograd
    res['steps'] = {}
    for name, kw in STEP_CASES.items():
        s = step_times(x_train, **kw)
        res['steps'][name] = dict(s, ratio_by_hand=s['by_hand'] / s['floor'], ratio_autograd=s['autograd'] / s['floor'])
        print(f"step, {name}: floor {s['floor'] * 1e3:.3f} ms; by hand {s['by_hand'] * 1e3:.3f} ms "
              f"({s['by_hand'] / s['floor']:.2f}×); autograd {s['autograd'] * 1e3:.3f} ms ({s['autograd'] / s['floor']:.2f}×)", flush=True)

    # 3. the conventional per-item pipeline
    conv = conventional_epoch(x_train)
    res['conventional'] = dict(epoch_s=conv, images_per_s=n / conv, our_speedup=conv / best)
    print(f"conventional per-item pipeline: {conv:.2f} s per epoch; ours is {conv / best:.2f}× faster", flush=True)

    # 4. evaluation
    m = r['model'].eval()
    tb = fixed_batches(x_test, 'none')
    t = time.perf_counter(); mean_elbo(m, tb); t_elbo = time.perf_counter() - t
    xs = x_test[:a.nll_images].float().div(255).view(-1, 784)
    g = torch.Generator().manual_seed(0)
    log_likelihood(m, xs[:2], k=500, generator=g)                     # warm-up
    t = time.perf_counter(); log_likelihood(m, xs, k=5000, generator=g); t_nll = time.perf_counter() - t
    rows = inspect.signature(log_likelihood).parameters['max_rows'].default   # its chunk of decoder rows
    t_dec, f_dec = gemm_floor(linear_shapes(VAE().decoder, rows, backward=False), reps=5)
    nll_floor_per_image = t_dec * 5000 / rows
    res['eval'] = dict(elbo_10k_s=t_elbo, elbo_images_per_s=len(x_test) / t_elbo,
                       nll_k5000_images_per_s=a.nll_images / t_nll, nll_k5000_full_test_s=t_nll / a.nll_images * len(x_test),
                       nll_floor_full_test_s=nll_floor_per_image * len(x_test),
                       nll_ratio_to_floor=(t_nll / a.nll_images) / nll_floor_per_image)
    print(f"test ELBO: {t_elbo:.2f} s for 10k images; NLL k=5000: {a.nll_images / t_nll:.2f} images/s → "
          f"{res['eval']['nll_k5000_full_test_s'] / 60:.1f} min for 10k ({res['eval']['nll_ratio_to_floor']:.2f}× its GEMM floor)", flush=True)

    # 5. sampling and memory
    t_s = timeit(lambda: m.sample(10000), 3, warmup=1)
    res['sample'] = dict(images_per_s=10000 / t_s)
    rss, t_run = peak_rss_of_training(a.dataset, a.rss_epochs)
    res['memory'] = dict(train_peak_rss_mib=rss, run_epochs=a.rss_epochs, run_s=t_run)
    print(f"sampling: {10000 / t_s:,.0f} images/s; peak RSS of a {a.rss_epochs}-epoch scratch_vae_train run: {rss:.0f} MiB", flush=True)

    rows = [('GEMM floor, GFLOP/s (model shapes, batch 128)', f"{res['gemm']['gflops_per_s']:.1f}"),
            ('epoch floor (matmuls alone), s', f"{res['gemm']['floor_epoch_s']:.2f}"),
            ('our epoch, s', f"{best:.2f}"),
            ('our epoch / floor', f"{res['train']['ratio_to_floor']:.2f}×"),
            ('per-epoch extras (test ELBO, history, checkpoint) / steps', f"{res['train']['extras_share']:.1%}"),
            ('step / its GEMM floor, seed model, batch 128: by hand (autograd)', f"{res['steps']['seed model, batch 128']['ratio_by_hand']:.2f}× ({res['steps']['seed model, batch 128']['ratio_autograd']:.2f}×)"),
            ('step / its GEMM floor, seed model, batch 20: by hand (autograd)', f"{res['steps']['seed model, batch 20']['ratio_by_hand']:.2f}× ({res['steps']['seed model, batch 20']['ratio_autograd']:.2f}×)"),
            ('step / its GEMM floor, 784-200-200-50 tanh, batch 20: by hand (autograd)', f"{res['steps']['784-200-200-50 tanh, batch 20']['ratio_by_hand']:.2f}× ({res['steps']['784-200-200-50 tanh, batch 20']['ratio_autograd']:.2f}×)"),
            ('our training, images/s', f"{n / best:,.0f}"),
            ('conventional per-item pipeline epoch, s', f"{conv:.2f}"),
            ('speed-up over conventional', f"{conv / best:.2f}×"),
            ('test ELBO, 10k images, s', f"{t_elbo:.2f}"),
            ('NLL k=5000, images/s', f"{a.nll_images / t_nll:.2f}"),
            ('NLL k=5000, 10k images (projected), min', f"{res['eval']['nll_k5000_full_test_s'] / 60:.1f}"),
            ('NLL k=5000 / its GEMM floor', f"{res['eval']['nll_ratio_to_floor']:.2f}×"),
            ('sampling, images/s', f"{10000 / t_s:,.0f}"),
            (f'peak RSS, {a.rss_epochs}-epoch training run, MiB', f"{rss:.0f}")]
    w = max(len(k) for k, _ in rows)
    print('\n| measure | value |\n|---|---|')
    for k, v in rows: print(f"| {k:<{w}} | {v} |")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=2))
    print(f"\nwrote {a.json}")


if __name__ == '__main__':
    main()
