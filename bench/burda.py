"""Burda et al.'s table, our rows: the NLL of each seed's run of their VAE recipe, at each stage end and at the end.

For each run directory (one seed of `scratch_vae_train ... --lr-schedule iwae`, or `<out>/seed-<s>` of `--seeds`):
  * every `stage-EEEE.safetensors` (the model at the end of a stage of the schedule, which the run keeps:
    `scratch_vae.train.stage_path`) is evaluated with k = 500 importance samples on the first 2,000 test images: the NLL-vs-epoch curve;
  * the run's latest model (its checkpoint) with k = --k (5000, the literature's) on --images test images, or, when the
    run's own evaluation.json (scratch_vae_evaluate) already scored that model so, its numbers (`nll_from` says which);
    with --at EPOCH, the model of the stage ending there (`stage-EEEE.safetensors`) instead, so that seeds at
    different places are compared at one epoch; an `evaluation*.json` of the run that scored those same tensors
    (found by SHA-256 among the run's files) with the same k, images and binarization supplies its numbers.
The test set is binarized once, with seed 0 (`fixed_batches`), the same images for every seed and every stage.
Prints a table, writes JSON and a picture of the curves.  Usage: python bench/burda.py RUN_DIR [RUN_DIR ...]
(or, to evaluate the seeds in parallel: one process per RUN_DIR with its own --json, then --combine A.json B.json ...)
"""
import argparse, hashlib, json, statistics, time
from pathlib import Path
from scratch_vae.data import load_mnist
from scratch_vae.weights import load_model_and_meta
from scratch_vae.rundir import read_history
from scratch_vae.evaluate import evaluate
from scratch_vae.spec import DataSpec

PAPER = {'VAE (k = 1)': 86.76, 'IWAE (k = 5)': 85.54, 'IWAE (k = 50)': 84.78}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('runs', nargs='*', help='run directories, one per seed')
    ap.add_argument('--combine', nargs='+', default=None, help="JSON files of earlier runs of this script: merge them (no evaluation)")
    ap.add_argument('--k', type=int, default=5000, help='importance samples for the final NLL')
    ap.add_argument('--images', type=int, default=10000, help='test images for the final NLL (10,000: the whole test set)')
    ap.add_argument('--curve-k', type=int, default=500); ap.add_argument('--curve-images', type=int, default=2000)
    ap.add_argument('--data', default=None); ap.add_argument('--json', default='bench/burda.json')
    ap.add_argument('--png', default='bench/burda-nll.png')
    ap.add_argument('--at', type=int, default=None, help='score the model of the stage ending at this epoch, not the latest')
    a = ap.parse_args()
    if a.combine:
        parts = [json.loads(Path(p).read_text()) for p in a.combine]
        res = parts[0] | dict(runs={k: v for p in parts for k, v in p['runs'].items()})
        return report(res, a)
    x, _ = load_mnist('test', 'mnist', a.data)
    res = dict(paper=PAPER, k=a.k, images=a.images, curve=dict(k=a.curve_k, images=a.curve_images), binarized='once, seed 0', runs={})
    for d in map(Path, a.runs):
        hist = read_history(d/'history.jsonl')
        curve = {}
        for p in sorted(d.glob('stage-*.safetensors')):
            m, meta = load_model_and_meta(p)
            curve[meta['epoch']] = evaluate(m, x[:a.curve_images], a.curve_k, DataSpec.of(meta).binarize, seed=0)['nll']
        target = d/'checkpoint.safetensors' if a.at is None else d/f'stage-{a.at:04d}.safetensors'
        m, meta = load_model_and_meta(target)
        t = time.perf_counter()
        ev, source = (done_evaluation(d, meta['epoch'], a), 'evaluation.json') if a.at is None else scored(d, target, a)
        if ev is None: ev, source = evaluate(m, x[:a.images], a.k, DataSpec.of(meta).binarize, seed=0), 'bench/burda.py'
        seed = (meta.get('config') or json.loads((d/'config.json').read_text()))['seed']
        res['runs'][str(d)] = dict(seed=seed, epochs=meta['epoch'], nll=ev['nll'], nll_sem=ev['nll_sem'], elbo=ev['elbo'], nll_from=source,
                                   train_seconds=round(sum(h['seconds'] for h in hist), 1), eval_seconds=round(time.perf_counter() - t, 1),
                                   curve={str(k): v for k, v in sorted(curve.items())})
        r = res['runs'][str(d)]
        print(f"seed {seed}: {r['epochs']} epochs, NLL (k={a.k}, {a.images} images) {r['nll']:.2f} ± {r['nll_sem']:.2f}, "
              f"-ELBO {-r['elbo']:.2f}, {r['train_seconds'] / 3600:.2f} h of steps; curve {r['curve']}", flush=True)
    report(res, a)


def done_evaluation(d, epoch, a):
    """The run's own `scratch_vae_evaluate` result (its evaluation.json), if it scored this run's latest model
    (model.safetensors, same SHA-256, same epoch as the checkpoint) with the same k on the same number of images: the
    same function, seed and binarization as here, so no need to spend another k = 5000 pass on it."""
    f, w = d/'evaluation.json', d/'model.safetensors'
    if not (f.exists() and w.exists()): return None
    ev = json.loads(f.read_text())
    same = (ev.get('k'), ev.get('n_images'), ev.get('binarize'), ev.get('weights', {}).get('sha256')) == \
           (a.k, a.images, DataSpec.of(load_model_and_meta(w)[1]).binarize, hashlib.sha256(w.read_bytes()).hexdigest())
    return ev if same and load_model_and_meta(w)[1].get('epochs') == epoch else None


def scored(d, target, a):
    """`(evaluation, its file name)` of an `evaluation*.json` in run directory `d` that scored the same tensors as
    `target` (a file of `d` with the same SHA-256 and epoch, e.g. model.safetensors of a run that stopped at a stage
    end) with --k samples on --images images and the same binarization; `(None, None)` if none did."""
    import torch
    from safetensors.torch import load_file
    want, epoch = load_file(target), load_model_and_meta(target)[1].get('epoch')
    sha = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in d.glob('*.safetensors')}
    for f in sorted(d.glob('evaluation*.json')):
        ev = json.loads(f.read_text())
        p = sha.get(ev.get('weights', {}).get('sha256'))
        if p is None or (ev.get('k'), ev.get('n_images')) != (a.k, a.images): continue
        meta = load_model_and_meta(p)[1]
        same = (meta.get('epoch', meta.get('epochs')) == epoch and ev.get('binarize') == DataSpec.of(meta).binarize
                and (other := load_file(p)).keys() == want.keys() and all(torch.equal(other[n], want[n]) for n in want))
        if same: return ev, f.name
    return None, None


def report(res, a):
    "Mean ± sd over the seeds, the JSON, and the picture of the curves."
    nlls = [r['nll'] for r in res['runs'].values()]
    if len(nlls) > 1: res['mean'], res['sd'] = statistics.mean(nlls), statistics.stdev(nlls)
    if 'mean' in res: print(f"mean ± sd over {len(nlls)} seeds: {res['mean']:.2f} ± {res['sd']:.2f} (paper's VAE: 86.76)")
    Path(a.json).write_text(json.dumps(res, indent=2))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    plt.rcParams['font.size'] = 11                 # the book's figures: 6.5 in wide, 11 pt, 200 dpi (sharp on a phone)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in res['runs'].values():
        if r['curve']: ax.plot([int(e) for e in r['curve']], list(r['curve'].values()), 'o-', label=f"seed {r['seed']}")
    ax.axhline(86.76, ls='--', c='k', lw=1, label='Burda et al. 2016, VAE (3,280 epochs)')
    ax.set(xscale='log', xlabel='epoch (stage ends of the schedule)',
           ylabel=f"test NLL (nats)\nk = {res['curve']['k']}, first {res['curve']['images']:,} images",
           title="Burda et al.'s VAE recipe, binarized MNIST")
    ends = sorted({int(e) for r in res['runs'].values() for e in r['curve']})
    ax.set_xticks(ends, [str(e) for e in ends]); ax.minorticks_off()
    ax.legend(); fig.tight_layout(); fig.savefig(a.png, dpi=200)
    print(f"wrote {a.json} and {a.png}")


if __name__ == '__main__':
    main()
