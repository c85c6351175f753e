"""Trains LungDesk's two bundled models and writes them, with manifests, to assets/models.

    python3 training/train.py            # both models, about 20 min on 2 CPU cores
    python3 training/train.py --steps 50 # a quick smoke run

Reproducible: fixed seeds; the only inputs are ../shared/data (real CT backgrounds, see
data.py for which series) and a SYNTHETIC phantom written by `lungdesk phantom`. Lesion
masks are synthetic insertions, never ground truth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import nibabel as nib
import numpy as np
import onnxruntime as ort
import optax
from scipy import ndimage as ndi

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import unet  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

TASKS = {
    "lung": dict(
        name="lungdesk-lung",
        spacing_mm=3.0,
        hu_window=[-1024.0, 400.0],
        crop=128,
        tile=128,
        overlap=32,
        channels=(8, 16, 32, 64),
        classes=["background", "lung"],
        steps=1500,
        lr=3e-3,
    ),
    "lesion": dict(
        name="lungdesk-lesion",
        spacing_mm=1.5,
        hu_window=[-1024.0, 200.0],
        crop=128,
        tile=256,
        overlap=32,
        channels=(8, 16, 32),
        classes=["background", "ground_glass", "consolidation"],
        steps=2500,
        lr=3e-3,
    ),
}


def phantom_slices(seed: int, tmp: str):
    """A SYNTHETIC phantom series and its synthetic labels, through LungDesk's own CLI."""
    out = os.path.join(tmp, f"phantom{seed}")
    labels = os.path.join(tmp, f"phantom{seed}.nii.gz")
    built = [os.path.join(ROOT, "target", p, "lungdesk") for p in ("release", "debug")]
    built = [exe for exe in built if os.path.exists(exe)]
    cmd = built[:1] or ["cargo", "run", "-q", "--release", "-p", "lungdesk", "--"]
    subprocess.run(cmd + ["phantom", "--out", out, "--size", "256x256x60", "--seed", str(seed), "--labels", labels], check=True, cwd=ROOT)
    hu, spacing = data.read_series(out)
    lab = np.asarray(nib.load(labels).dataobj).transpose(2, 1, 0)
    assert lab.shape == hu.shape, (lab.shape, hu.shape)
    # The phantom's lungs must be air where its labels say lung: checks the slice order.
    assert (hu[lab == data.LUNG] < -400).mean() > 0.9
    return hu, lab, spacing


class Pool:
    """Slices resampled to one task's spacing: HU, lung mask, optional fixed lesion labels."""

    def __init__(self, task, tmp, phantom=True):
        self.task = task
        self.real, self.synthetic = [], []
        for rel in data.TRAIN_SERIES:
            hu, sp = data.read_series(rel)
            for z in range(hu.shape[0]):
                lung = data.lung_mask_slice(hu[z], sp[:2])
                if lung.sum() * sp[0] * sp[1] < 20 * 100:  # under 20 cm^2 of lung: skip
                    continue
                self.real.append(self._resample(hu[z], lung, None, sp))
        hu, lab, sp = phantom_slices(seed=11, tmp=tmp) if phantom else (np.zeros((0, 1, 1)), None, None)
        for z in range(hu.shape[0]):
            if (lab[z] >= data.LUNG).sum() < 500:
                continue
            self.synthetic.append(self._resample(hu[z], lab[z] >= data.LUNG, lab[z], sp))
        print(f"{task['name']}: {len(self.real)} real slices, {len(self.synthetic)} phantom slices", flush=True)

    def _resample(self, hu, lung, lab, sp):
        t = self.task["spacing_mm"]
        r_hu = data.resample_slice(hu, sp[:2], t, order=1)
        r_lung = data.resample_slice(lung.astype(np.float32), sp[:2], t, order=1) > 0.5
        r_lab = None if lab is None else data.resample_slice(lab, sp[:2], t, order=0)
        return r_hu.astype(np.float32), r_lung, r_lab

    def sample(self, rng, kind):
        crop = self.task["crop"]
        t = self.task["spacing_mm"]
        synthetic = bool(self.synthetic) and rng.random() < 0.25
        hu, lung, lab = (self.synthetic if synthetic else self.real)[rng.integers(len(self.synthetic if synthetic else self.real))]
        # Augment: rotation, scale, flip, then a crop (padded with air).
        angle = np.deg2rad(rng.uniform(-12, 12))
        scale = rng.uniform(0.88, 1.12)
        c, s = np.cos(angle) / scale, np.sin(angle) / scale
        matrix = np.array([[c, -s], [s, c]])
        centre_in = np.array(hu.shape) / 2 + rng.uniform(-0.15, 0.15, 2) * np.array(hu.shape)
        centre_out = np.array([crop, crop]) / 2
        offset = centre_in - matrix @ centre_out
        warp = lambda a, order, cval: ndi.affine_transform(a, matrix, offset, output_shape=(crop, crop), order=order, cval=cval)
        hu_c = warp(hu, 1, -1024.0)
        lung_c = warp(lung.astype(np.float32), 1, 0.0) > 0.5
        lab_c = None if lab is None else warp(lab, 0, 0)
        if rng.random() < 0.5:
            hu_c, lung_c = hu_c[:, ::-1], lung_c[:, ::-1]
            lab_c = None if lab_c is None else lab_c[:, ::-1]
        spacing = (t * scale, t * scale)
        if synthetic:
            lesion = np.where(lab_c >= data.GGO, lab_c, 0).astype(np.uint8)
            ignore = np.zeros_like(lung_c)
            new_hu = hu_c
        else:
            ignore = data.background_lesion_candidates(hu_c, lung_c, spacing)
            new_hu, lesion = data.insert_lesions(hu_c, lung_c, spacing, rng)
            ignore &= lesion == 0
        new_hu = new_hu + rng.normal(0, rng.uniform(0, 25), new_hu.shape) + rng.uniform(-20, 20)
        lo, hi = self.task["hu_window"]
        x = np.clip((new_hu - lo) / (hi - lo), 0, 1).astype(np.float32)
        if kind == "lung":
            y = lung_c.astype(np.int32)
        elif kind == "lesion4":
            # Lung, ground glass, consolidation: consolidated lung is lung too.
            y = np.select([lesion == data.GGO, lesion == data.CONSOLIDATION, lung_c | (lesion > 0)], [2, 3, 1], 0).astype(np.int32)
            y[ignore & (y != 0)] = -1
        else:
            y = np.select([lesion == data.GGO, lesion == data.CONSOLIDATION], [1, 2], 0).astype(np.int32)
            y[ignore] = -1
        return x[None], y


def loss_fn(params, x, y, levels, n_classes):
    logits = unet.forward(params, x, levels)
    valid = (y >= 0).astype(jnp.float32)
    y0 = jnp.maximum(y, 0)
    logp = jax.nn.log_softmax(logits, axis=1)
    onehot = jax.nn.one_hot(y0, n_classes, axis=1)
    ce = -(onehot * logp).sum(axis=1)
    ce = (ce * valid).sum() / jnp.maximum(valid.sum(), 1)
    p = jnp.exp(logp) * valid[:, None]
    t = onehot * valid[:, None]
    inter = (p * t).sum(axis=(0, 2, 3))
    denom = p.sum(axis=(0, 2, 3)) + t.sum(axis=(0, 2, 3))
    dice = 1 - (2 * inter[1:] + 1) / (denom[1:] + 1)
    return ce + dice.mean()


def train(kind, steps, tmp, seed=0, batch=12):
    task = TASKS[kind]
    levels = len(task["channels"])
    n_classes = len(task["classes"])
    pool = Pool(task, tmp)
    rng = np.random.default_rng(seed)
    params = unet.init_params(jax.random.PRNGKey(seed), task["channels"], 1, n_classes)
    schedule = optax.cosine_decay_schedule(task["lr"], steps, alpha=0.05)
    opt = optax.adam(schedule)
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, levels, n_classes)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    t0 = time.time()
    for i in range(steps):
        xs, ys = zip(*(pool.sample(rng, kind) for _ in range(batch)))
        params, state, loss = step(params, state, jnp.stack(xs), jnp.stack(ys))
        if i % 100 == 0 or i == steps - 1:
            print(f"{task['name']} step {i}/{steps} loss {float(loss):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return task, params, levels, n_classes


def export(task, params, levels, n_classes, steps, out_dir, version="1.0.0", training_data=None, intended_use=None):
    stem = task["name"]
    doc = f"{stem} {version}: 2D U-Net, see {stem}.md"
    model = unet.to_onnx(params, levels, 1, n_classes, doc=doc)
    onnx_path = os.path.join(out_dir, f"{stem}.onnx")
    with open(onnx_path, "wb") as f:
        f.write(model.SerializeToString())
    # Check the exported graph against the JAX forward pass.
    x = np.random.default_rng(1).random((2, 1, 64, 64), dtype=np.float32)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"ct": x})[0]
    want = np.asarray(unet.forward(params, jnp.asarray(x), levels))
    err = float(np.abs(got - want).max())
    assert err < 1e-3, f"ONNX and JAX disagree by {err}"
    digest = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    manifest = {
        "format": "lungdesk-model/1",
        "name": stem,
        "version": version,
        "task": "lesion" if "ground_glass" in task["classes"] else "lung",
        "file": f"{stem}.onnx",
        "sha256": digest,
        "input": {
            "name": "ct",
            "shape": ["batch", 1, task["tile"], task["tile"]],
            "spacing_mm": [task["spacing_mm"], task["spacing_mm"]],
            "hu_window": task["hu_window"],
            "normalisation": "clip to hu_window, then scale to 0..1",
        },
        "output": {"name": "logits", "shape": ["batch", n_classes, task["tile"], task["tile"]], "classes": task["classes"]},
        "tiling": {"tile": [task["tile"], task["tile"]], "overlap": task["overlap"], "batch": 4, "multiple_of": 2 ** (levels - 1)},
        "training_data": training_data or (
            "Real chest CT backgrounds (TCIA Lung-PET-CT-Dx A0002, 30 slices; one cornerstone3D CT slice) with "
            "SYNTHETIC inserted GGO, crazy-paving and consolidation, plus a SYNTHETIC phantom. No real lesion "
            f"ground truth. {steps} steps of Adam, batch 12, seed 0: python3 training/train.py"
        ),
        "intended_use": intended_use or (
            "Pre-read of adult chest CT for COVID-19 pneumonia review in LungDesk; a specialist confirms every "
            "result. Not a diagnostic device. Trained on synthetic lesions only."
        ),
        "card": f"{stem}.md",
    }
    with open(os.path.join(out_dir, f"{stem}.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} (ONNX vs JAX max diff {err:.2e})")
    return onnx_path


def write_fixture(onnx_path, fixture_dir):
    """Input and Python-onnxruntime output of the lesion model on a small real crop, for the
    Rust test that compares ort with Python onnxruntime."""
    os.makedirs(fixture_dir, exist_ok=True)
    hu, sp = data.read_series("dicom/lungmask-slices")
    t = TASKS["lesion"]
    crop = data.resample_slice(hu[0], sp[:2], t["spacing_mm"])[60:124, 40:104]
    lo, hi = t["hu_window"]
    x = np.clip((crop - lo) / (hi - lo), 0, 1).astype(np.float32)[None, None]
    y = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"ct": x})[0]
    x.astype("<f4").tofile(os.path.join(fixture_dir, "input.f32"))
    y.astype("<f4").tofile(os.path.join(fixture_dir, "logits.f32"))
    with open(os.path.join(fixture_dir, "fixture.json"), "w") as f:
        json.dump({"model": os.path.basename(onnx_path), "input_shape": list(x.shape), "output_shape": list(y.shape),
                   "produced_by": f"Python onnxruntime {ort.__version__}", "source": "lungmask-slices/0.dcm crop"}, f, indent=2)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--only", choices=list(TASKS), default=None)
    ap.add_argument("--out", default=os.path.join(ROOT, "assets", "models"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [args.only] if args.only else list(TASKS):
            steps = args.steps or TASKS[kind]["steps"]
            task, params, levels, n_classes = train(kind, steps, tmp)
            path = export(task, params, levels, n_classes, steps, args.out)
            if kind == "lesion":
                write_fixture(path, os.path.join(ROOT, "inference", "tests", "fixtures", "onnx"))


if __name__ == "__main__":
    main()
