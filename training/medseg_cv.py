"""Lesion model on real lesions: 5-fold cross-validation on the 50 real MedSeg slices, then the
shipped model on all 50.

    python3 training/medseg_cv.py --cv            # 5 folds, table for docs/MODELS.md
    python3 training/medseg_cv.py --cv --resume   # the same, folds already saved in --out scored, not trained
    python3 training/medseg_cv.py --rescore       # scores the saved fold models again
    python3 training/medseg_cv.py --final         # trains on all 50 and writes assets/models
    python3 training/medseg_cv.py --eval DIR      # scores the shipped models on DIR/images, DIR/labels

--cv and --rescore save beside --out each fold's model (OUT.foldK.npz) and what the models read
on its held-out slices (OUT.foldK.probs.npz: the lung model's lungs, the lesion model's class
probabilities as float16), so that lung and label rules can be tried offline
(`lung_and_labels`) without running the models again.

Training mixes up to four sources per batch: the real MedSeg slices (real texture, a
radiologist's labels, grey mapped to *estimated* HU by medseg.py), SYNTHETIC insertions into real
CT backgrounds (volume, chest-wall consolidation, true HU), the SYNTHETIC phantom and, from
recipe 2.5.0, hard negatives (real slices above and below the lungs, all background). Augmented
with noise, reconstruction kernel (blur or sharpen), spacing, window (HU scale and offset) and
orientation (flips, quarter turns), so that the model holds on real DICOM, not only on JPEGs.

The lesion model has four classes: background, lung, ground glass, consolidation. Its targets
call consolidated lung lung: on MedSeg slices the lung is the threshold lung with the
radiologist's lesions added (medseg.lung_target, made here, not a reference mask).

Evaluation runs what `lungdesk analyze` runs on a slice: the bundled lung model (never trained
on MedSeg) at 3 mm finds the lungs; the lesion model's lung (any of its three lung classes)
within LUNG_GROWTH_MM of them and inside the rib cage (inside_rib_cage), where connected, is the
lung at 1.5 mm; lesions count inside it
(inference/src/analysis.rs). The app's airway rule (inference/src/airway.rs) needs the slices
above: on one slice the trachea is a section apart from both lungs, which the lung model's two
largest components and the connectivity rule already leave out.
Dice is per slice, then averaged over the slices whose reference has that class (Inf-Net's
convention of a mean per slice); the estimated-HU caveat of medseg.py holds for every number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort
import optax
from scipy import ndimage as ndi

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import medseg  # noqa: E402
import train  # noqa: E402
import unet  # noqa: E402

ROOT = train.ROOT
LESION = dict(
    train.TASKS["lesion"],
    classes=["background", "lung", "ground_glass", "consolidation"],
    channels=(8, 16, 32, 64, 128),
    crop=160,
    steps=2000,
    lr=3e-3,
    version="2.0.0",
)
LUNG_GROWTH_MM = 100.0
FOLDS = 5
# Share of MedSeg slices among the crops that are not hard negatives; the rest is
# train.Pool's: insertions into real backgrounds, and a quarter of those the phantom.
MEDSEG_SHARE = 0.6
# Share of MedSeg crops centred on a consolidation pixel (when the slice has any).
CONSOLIDATION_CROPS = 0.0
# Cross-entropy weight per class (background, lung, ground glass, consolidation), and the weight
# of a second, binary cross-entropy on "any lung" (lung, ground glass or consolidation against
# background).
CLASS_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
ANY_LUNG_WEIGHT = 0.0
# The MedSeg lung target with air touching the image border kept as lung (the images are cropped
# to the thorax): False for 2.0.0-2.2.0 as they were made, which lost the aerated lung on most
# slices (docs/MODELS.md).
CROPPED_LUNG_TARGET = False
# Share of crops that are hard negatives: the training backgrounds' slices that train.Pool
# skips (under 20 cm^2 of threshold lung: A0002's thoracic inlet and upper abdomen, and the
# cornerstone3D slice, a neck), with everything background except the air inside the body
# (grown by 3 mm along the axes: two 4-connected dilations at 1.5 mm), which is left out of
# the loss (there the threshold lung is not trusted: it takes the stomach's gas for lung at
# A0002's base, and drops lung apices under 5 cm^2). 2.3.0 called the neck round A0002's
# trachea and tissue under RICORD's left lung base consolidation (docs/MODELS.md, sessions
# 17-19); RICORD is never trained on, so its base checks the hard negatives on an unseen series.
HARD_NEGATIVE_SHARE = 0.0
# The recipes: 2.0.0 is the values above (shipped until session 19); 2.5.0 the shipped model's
# (the default); 2.1.0 a candidate measured in
# docs/MODELS.md and not shipped (on RICORD it finds 129 mL of consolidation in mass-sized
# solid foci, and ground glass on the SYNTHETIC phantom falls to Dice 0.37-0.44). It weights
# consolidation, adds the any-lung term (consolidated lung called background is lost to the
# lung mask, and so to every lesion measure) and centres crops on consolidation.
RECIPES = {
    "2.0.0": {},
    "2.1.0": dict(MEDSEG_SHARE=0.7, CONSOLIDATION_CROPS=0.4, CLASS_WEIGHTS=(1.0, 1.0, 1.5, 3.0), ANY_LUNG_WEIGHT=1.0),
    # 2.2.0 keeps 2.1.0's any-lung term and MedSeg share but not its heavy consolidation
    # weight and crops (what bought false solid foci on RICORD).
    "2.2.0": dict(MEDSEG_SHARE=0.7, CONSOLIDATION_CROPS=0.2, CLASS_WEIGHTS=(1.0, 1.0, 1.2, 1.5), ANY_LUNG_WEIGHT=1.0),
    # 2.3.0 is 2.0.0 with the lung target fixed: nothing else changed, to see what it alone does.
    "2.3.0": dict(CROPPED_LUNG_TARGET=True),
    # 2.4.0 is 2.2.0 with 2.3.0's fixed lung target: the any-lung term and a mild consolidation
    # weight, now on a target that keeps the aerated lung.
    "2.4.0": dict(CROPPED_LUNG_TARGET=True, MEDSEG_SHARE=0.7, CONSOLIDATION_CROPS=0.2, CLASS_WEIGHTS=(1.0, 1.0, 1.2, 1.5), ANY_LUNG_WEIGHT=1.0),
    # 2.5.0, shipped, is 2.4.0 (not measured alone) with hard negatives at the thoracic inlet
    # and the upper abdomen.
    "2.5.0": dict(CROPPED_LUNG_TARGET=True, MEDSEG_SHARE=0.7, CONSOLIDATION_CROPS=0.2, CLASS_WEIGHTS=(1.0, 1.0, 1.2, 1.5), ANY_LUNG_WEIGHT=1.0,
                  HARD_NEGATIVE_SHARE=0.06),
}


class MixedPool(train.Pool):
    """train.Pool (real backgrounds with insertions, the phantom) plus MedSeg slices."""

    def __init__(self, task, tmp, medseg_cases):
        # The SYNTHETIC phantom comes from LungDesk's own CLI (train.phantom_slices); without a
        # built binary the phantom's share goes to the insertions.
        super().__init__(task, tmp, phantom=any(os.path.exists(os.path.join(ROOT, "target", p, "lungdesk")) for p in ("release", "debug")))
        self.medseg = []
        for _, hu, sp, lab in medseg_cases:
            lung = medseg.lung_target(hu, lab, sp, cropped=CROPPED_LUNG_TARGET)
            self.medseg.append(self._resample(hu, lung, lab, (sp, sp, sp)))
        self.hard = hard_negatives(task) if HARD_NEGATIVE_SHARE > 0 else []
        if self.hard:
            print(f"{task['name']}: {len(self.hard)} hard-negative slices", flush=True)

    def sample(self, rng, kind):
        # Drawn only when the recipe has hard negatives, so that older recipes draw the same
        # random numbers as when they were made.
        if self.hard and rng.random() < HARD_NEGATIVE_SHARE:
            return self.sample_hard(rng)
        if rng.random() >= MEDSEG_SHARE or not self.medseg:
            x, y = super().sample(rng, "lesion4")
            return augment(x, y, rng, self.task)
        crop, t = self.task["crop"], self.task["spacing_mm"]
        hu, lung, lab = self.medseg[rng.integers(len(self.medseg))]
        angle = np.deg2rad(rng.uniform(-15, 15))
        scale = rng.uniform(0.8, 1.25)
        c, s = np.cos(angle) / scale, np.sin(angle) / scale
        matrix = np.array([[c, -s], [s, c]])
        # Crops centred on the lungs: most of a MedSeg image is lung anyway.
        cons = lab == data.CONSOLIDATION
        # Checked first, so that recipe 2.0.0 draws the same random numbers as when it was made.
        if CONSOLIDATION_CROPS > 0 and cons.any() and rng.random() < CONSOLIDATION_CROPS:
            ys, xs = np.nonzero(cons)
        else:
            ys, xs = np.nonzero(lung) if lung.any() else (np.array([hu.shape[0] // 2]), np.array([hu.shape[1] // 2]))
        k = rng.integers(len(ys))
        centre_in = np.array([ys[k], xs[k]], float)
        offset = centre_in - matrix @ (np.array([crop, crop]) / 2)
        hu_c = ndi.affine_transform(hu, matrix, offset, output_shape=(crop, crop), order=1, cval=-1024.0)
        lab_c = ndi.affine_transform(lab, matrix, offset, output_shape=(crop, crop), order=0, cval=0)
        lung_c = ndi.affine_transform(lung.astype(np.float32), matrix, offset, output_shape=(crop, crop), order=1, cval=0.0) > 0.5
        lo, hi = self.task["hu_window"]
        x = np.clip((hu_c - lo) / (hi - lo), 0, 1).astype(np.float32)[None]
        y = np.select([lab_c == data.GGO, lab_c == data.CONSOLIDATION, lung_c], [2, 3, 1], 0).astype(np.int32)
        return augment(x, y, rng, self.task, spacing_mm=t * scale)


    def sample_hard(self, rng):
        """A crop of a hard-negative slice: background, with its air left out of the loss."""
        crop = self.task["crop"]
        hu, unknown = self.hard[rng.integers(len(self.hard))]
        angle = np.deg2rad(rng.uniform(-12, 12))
        scale = rng.uniform(0.88, 1.12)
        c, s = np.cos(angle) / scale, np.sin(angle) / scale
        matrix = np.array([[c, -s], [s, c]])
        centre_in = np.array(hu.shape) / 2 + rng.uniform(-0.15, 0.15, 2) * np.array(hu.shape)
        offset = centre_in - matrix @ (np.array([crop, crop]) / 2)
        hu_c = ndi.affine_transform(hu, matrix, offset, output_shape=(crop, crop), order=1, cval=-1024.0)
        unknown_c = ndi.affine_transform(unknown.astype(np.float32), matrix, offset, output_shape=(crop, crop), order=1, cval=0.0) > 0.01
        lo, hi = self.task["hu_window"]
        x = np.clip((hu_c - lo) / (hi - lo), 0, 1).astype(np.float32)[None]
        y = np.where(unknown_c, -1, 0).astype(np.int32)
        return augment(x, y, rng, self.task)


def hard_negatives(task):
    """(HU, unknown) at the task's spacing for every training-background slice that train.Pool
    skips for too little lung; unknown is the air inside the body grown by 3 mm."""
    out = []
    t = task["spacing_mm"]
    for rel in data.TRAIN_SERIES:
        hu, sp = data.read_series(rel)
        for z in range(hu.shape[0]):
            lung = data.lung_mask_slice(hu[z], sp[:2])
            if lung.sum() * sp[0] * sp[1] >= 20 * 100:
                continue  # train.Pool uses it
            r_hu = data.resample_slice(hu[z], sp[:2], t, order=1).astype(np.float32)
            air = r_hu < -400
            labels, _ = ndi.label(air)
            border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
            inner = air & ~np.isin(labels, border[border > 0])
            out.append((r_hu, ndi.binary_dilation(inner, iterations=max(1, int(round(3.0 / t))))))
    return out


def augment(x, y, rng, task, spacing_mm=None):
    """Window, kernel, noise and orientation, on a 0..1 input in the task's HU window."""
    lo, hi = task["hu_window"]
    hu = x[0] * (hi - lo) + lo
    # Window / calibration: scale about -400 HU and shift.
    hu = (hu + 400) * rng.uniform(0.9, 1.1) - 400 + rng.uniform(-40, 40)
    # Reconstruction kernel: soft (blur) or sharp (unsharp mask).
    r = rng.random()
    if r < 0.3:
        hu = ndi.gaussian_filter(hu, rng.uniform(0.4, 1.0))
    elif r < 0.55:
        hu = hu + rng.uniform(0.3, 1.0) * (hu - ndi.gaussian_filter(hu, 1.0))
    hu = hu + rng.normal(0, rng.uniform(0, 30), hu.shape)
    x = np.clip((hu - lo) / (hi - lo), 0, 1).astype(np.float32)
    turns = rng.integers(4)
    x, y = np.rot90(x, turns), np.rot90(y, turns)
    if rng.random() < 0.5:
        x, y = x[::-1], y[::-1]
    return np.ascontiguousarray(x)[None], np.ascontiguousarray(y)


def loss_fn(params, x, y, levels, n_classes):
    """train.loss_fn (cross-entropy plus soft Dice per class) with CLASS_WEIGHTS on the
    cross-entropy and the ANY_LUNG_WEIGHT term; labels below 0 are ignored."""
    logits = unet.forward(params, x, levels)
    valid = (y >= 0).astype(jnp.float32)
    y0 = jnp.maximum(y, 0)
    logp = jax.nn.log_softmax(logits, axis=1)
    onehot = jax.nn.one_hot(y0, n_classes, axis=1)
    w = jnp.asarray(CLASS_WEIGHTS)[y0] * valid
    ce = (-(onehot * logp).sum(axis=1) * w).sum() / jnp.maximum(w.sum(), 1)
    # log P(any lung) = log(1 - P(background)), computed stably from the lung classes' logits.
    log_any = jax.nn.logsumexp(logp[:, 1:], axis=1)
    is_lung = (y0 > 0).astype(jnp.float32)
    any_ce = -((is_lung * log_any + (1 - is_lung) * logp[:, 0]) * valid).sum() / jnp.maximum(valid.sum(), 1)
    p = jnp.exp(logp) * valid[:, None]
    t = onehot * valid[:, None]
    inter = (p * t).sum(axis=(0, 2, 3))
    denom = p.sum(axis=(0, 2, 3)) + t.sum(axis=(0, 2, 3))
    dice = 1 - (2 * inter[1:] + 1) / (denom[1:] + 1)
    return ce + ANY_LUNG_WEIGHT * any_ce + dice.mean()


def train_lesion(tmp, medseg_cases, steps, seed=0, batch=8, log=""):
    task = LESION
    levels, n_classes = len(task["channels"]), len(task["classes"])
    pool = MixedPool(task, tmp, medseg_cases)
    rng = np.random.default_rng(seed)
    params = unet.init_params(jax.random.PRNGKey(seed), task["channels"], 1, n_classes)
    opt = optax.adam(optax.cosine_decay_schedule(task["lr"], steps, alpha=0.05))
    state = opt.init(params)

    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, levels, n_classes)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    t0 = time.time()
    for i in range(steps):
        xs, ys = zip(*(pool.sample(rng, "lesion4") for _ in range(batch)))
        params, state, loss = step(params, state, jnp.stack(xs), jnp.stack(ys))
        if i % 100 == 0 or i == steps - 1:
            print(f"{log}step {i}/{steps} loss {float(loss):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return params


def _pad_to(a, multiple, value):
    h, w = a.shape
    H, W = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    return np.pad(a, ((0, H - h), (0, W - w)), constant_values=value), (h, w)


def _resample_to(img, shape, order):
    zoom = (shape[0] / img.shape[0], shape[1] / img.shape[1])
    out = ndi.zoom(img, zoom, order=order, mode="nearest")
    return out[: shape[0], : shape[1]]


# inference/src/rib_cage.rs: bone, and the share of the lung model's lung a slice's bone hull
# must hold to bound the lung.
BONE_HU = 250
BODY_HU = -500
MIN_LUNG_INSIDE_SHARE = 0.98


def inside_rib_cage(hu, coarse):
    """Where the lesion model may add lung by the rib cage: an approximation of
    inference/src/rib_cage.rs on one slice (the app takes the bone of a +-10 mm slab, which a
    single slice does not have, so this is stricter): where the convex hull of the body's bone
    (> BONE_HU, in the largest region > BODY_HU) holds at least MIN_LUNG_INSIDE_SHARE of the lung
    model's lung, inside the hull of that bone and that lung, and not bone; else everywhere but
    bone. MedSeg's 8-bit lung
    window saturates near +150..+440 estimated HU and its crops cut the chest wall, so on most
    of its slices there is no hull that holds the lung and this bounds only bone."""
    body, n = ndi.label(hu > BODY_HU)
    if n:
        body = body == 1 + int(np.argmax(ndi.sum(np.ones_like(hu), body, range(1, n + 1))))
    bone = (hu > BONE_HU) & (body > 0)
    allowed = ~(hu > BONE_HU)
    if not coarse.any():
        return allowed
    rows = np.nonzero(bone.any(1))[0]
    if len(rows) == 0:
        return allowed
    pts = []
    for y in rows:
        xs = np.nonzero(bone[y])[0]
        pts += [(xs[0], y), (xs[-1], y)]
    pts = sorted(set(pts))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(points):
        c = []
        for p in points:
            while len(c) >= 2 and cross(c[-2], c[-1], p) <= 0:
                c.pop()
            c.append(p)
        return c[:-1]

    hull = chain(pts) + chain(pts[::-1])
    if len(hull) < 3:
        return allowed
    v = np.array(hull, float)
    yy, xx = np.mgrid[: hu.shape[0], : hu.shape[1]].astype(float)
    inside = np.ones(hu.shape, bool)
    for a, b in zip(v, np.roll(v, -1, 0)):
        inside &= (b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0]) >= -1e-9 * np.hypot(*(b - a))
    if not inside.any() or (coarse & inside).sum() < MIN_LUNG_INSIDE_SHARE * coarse.sum():
        return allowed
    # The hull of the bone and the lung model's lung together bounds.
    for y in np.nonzero(coarse.any(1))[0]:
        xs = np.nonzero(coarse[y])[0]
        pts += [(xs[0], y), (xs[-1], y)]
    pts = sorted(set(pts))
    v = np.array(chain(pts) + chain(pts[::-1]), float)
    inside = np.ones(hu.shape, bool)
    for a, b in zip(v, np.roll(v, -1, 0)):
        inside &= (b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0]) >= -1e-9 * np.hypot(*(b - a))
    return allowed & inside


def read_slice(hu, sp, lung_session, lung_task, lesion_fn, lesion_task, tta=False):
    """(the lung model's two largest lungs, the lesion model's class probabilities) of one
    slice, at its own resolution."""
    def run(fn, task, levels):
        t = task["spacing_mm"]
        r = data.resample_slice(hu, (sp, sp), t, order=1)
        lo, hi = task["hu_window"]
        x, (h, w) = _pad_to(np.clip((r - lo) / (hi - lo), 0, 1).astype(np.float32), 2 ** (levels - 1), 0.0)
        logits = fn(x[None, None])[0][:, :h, :w]
        if tta:
            # Test-time flips: the logits of the flipped slice (left-right, and up-down unless
            # tta is "lr"), flipped back, averaged with the plain ones.
            axes = (-1,) if tta == "lr" else (-1, -2)
            for axis in axes:
                logits = logits + np.flip(fn(np.ascontiguousarray(np.flip(x, axis))[None, None])[0], axis)[:, :h, :w]
            logits = logits / (1 + len(axes))
        p = np.exp(logits - logits.max(0))
        p /= p.sum(0)
        return np.stack([_resample_to(c, hu.shape, 1) for c in p])

    lung_levels = 4
    coarse = largest_lungs(run(lambda x: lung_session.run(None, {"ct": x})[0], lung_task, lung_levels).argmax(0) == 1)
    return coarse, run(lesion_fn, lesion_task, len(lesion_task["channels"]))


def lung_and_labels(hu, sp, coarse, p_lesion, lung_bg=None, rib_cage=True, dense_hu=None):
    """The lung and the lesion labels from `read_slice`'s output, by the app's rules.

    - `lung_bg`: the lung is where P(background) < lung_bg (not in the app);
    - `dense_hu`: the lesion model's lung plus what is at least `dense_hu` and has
      P(background) < 0.9 (dense lung the model is unsure of), labelled by its most probable
      lung class (measured, not in the app)."""
    lesion = class_of(p_lesion)
    if dense_hu is not None:
        dense = (lesion == 0) & (p_lesion[0] < 0.9) & (hu >= dense_hu)
        lesion = np.where(dense, 1 + p_lesion[1:].argmax(0), lesion)
    # The lesion model's lung (lung, ground glass or consolidation: consolidated lung is lung;
    # where P(background) < lung_bg) within LUNG_GROWTH_MM of the lung model's, where connected
    # to it, is the lung.
    near = ndi.distance_transform_edt(~coarse, sampling=(sp, sp)) <= LUNG_GROWTH_MM
    if rib_cage:
        near &= coarse | inside_rib_cage(hu, coarse)
    candidate = (lesion > 0) if lung_bg is None else (p_lesion[0] < lung_bg)
    comp, n = ndi.label(candidate & near)
    lung = np.zeros_like(coarse)
    if n:
        touching = np.unique(comp[coarse & (comp > 0)])
        lung = np.isin(comp, touching[touching > 0])
    lung = ndi.binary_fill_holes(lung)
    labels = np.select([lung & (lesion == 2), lung & (lesion == 3)], [data.GGO, data.CONSOLIDATION], 0)
    return lung, labels


# How a pixel's class is read from the probabilities: "argmax" (what inference/src/model.rs
# does), or "any-lung" (background only where its probability is at least one half, else the
# most probable other class; measured for the 2.1.0 candidate, not in the app).
CLASS_RULE = "argmax"


def class_of(p):
    """The class of each pixel from class probabilities `p` ([classes, h, w]), by CLASS_RULE."""
    return np.where(p[0] >= 0.5, 0, 1 + p[1:].argmax(0)) if CLASS_RULE == "any-lung" else p.argmax(0)


def largest_lungs(lung):
    comp, n = ndi.label(lung)
    if n == 0:
        return lung
    sizes = ndi.sum(lung, comp, range(1, n + 1))
    order = np.argsort(sizes)[::-1][:2]
    return np.isin(comp, [i + 1 for i in order if sizes[i] >= 0.05 * sizes[order[0]]])


def dice(a, b):
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else float("nan")


def read_all(cases, lesion_fn, lesion_task, tta=False):
    """`read_slice`'s output for every slice of `cases`, by name: what the models read once,
    for every lung and label rule to be scored on."""
    lung_session, lung_task = lung_model()
    return {name: read_slice(hu, sp, lung_session, lung_task, lesion_fn, lesion_task, tta) for name, hu, sp, _ in cases}


def score(cases, reads, lung_bg=None, rib_cage=True, dense_hu=None):
    """Per-slice scores of `cases` from their `reads` (`read_all`) by `lung_and_labels`'s rules."""
    rows = []
    for name, hu, sp, lab in cases:
        lung, pred = lung_and_labels(hu, sp, *reads[name], lung_bg, rib_cage, dense_hu)
        ref_cons = lab == data.CONSOLIDATION
        rows.append(dict(
            name=name,
            infection=dice(pred > 0, lab > 0) if (lab > 0).any() else float("nan"),
            ggo=dice(pred == data.GGO, lab == data.GGO) if (lab == data.GGO).any() else float("nan"),
            consolidation=dice(pred == data.CONSOLIDATION, ref_cons) if ref_cons.any() else float("nan"),
            cons_px=int(ref_cons.sum()),
            cons_in_lung=int((ref_cons & lung).sum()),
            # Against the lung target made here (threshold lung plus the radiologist's lesions,
            # medseg.lung_target): not a reference mask, a check that a looser lung rule does
            # not simply grow the lung.
            lung_vs_target=dice(lung, medseg.lung_target(hu, lab, sp)),
            lung_px=int(lung.sum()),
        ))
    return rows


def dump_probabilities(reads, path):
    """`read_all`'s output (the lung model's lungs, the lesion model's probabilities as
    float16), so that lung and label rules can be tried offline."""
    out = {}
    for name, (coarse, p) in reads.items():
        out[f"{name}.coarse"], out[f"{name}.p"] = coarse, p.astype(np.float16)
    np.savez_compressed(path, **out)


def score_variants(test, fn, dump_path):
    """{variant: rows} of the held-out `test` slices under every VARIANTS entry, the models
    run once per flip setting; the plain reads are saved to `dump_path`."""
    reads = {}
    for kw in VARIANTS.values():
        tta = kw.get("tta", False)
        if tta not in reads:
            reads[tta] = read_all(test, fn, LESION, tta)
    dump_probabilities(reads[False], dump_path)
    return {name: score(test, reads[kw.get("tta", False)], **{k: v for k, v in kw.items() if k != "tta"})
            for name, kw in VARIANTS.items()}


def lung_model():
    """(ONNX session, task) of the bundled lung model."""
    lung_manifest = json.load(open(os.path.join(ROOT, "assets", "models", "lungdesk-lung.json")))
    lung_session = ort.InferenceSession(os.path.join(ROOT, "assets", "models", lung_manifest["file"]), providers=["CPUExecutionProvider"])
    return lung_session, {"spacing_mm": lung_manifest["input"]["spacing_mm"][0], "hu_window": lung_manifest["input"]["hu_window"]}


def jax_fn(params, levels):
    f = jax.jit(lambda x: unet.forward(params, x, levels))
    return lambda x: np.asarray(f(jnp.asarray(x)))


def summary(rows):
    out = {}
    for k in ("infection", "ggo", "consolidation"):
        v = np.array([r[k] for r in rows], float)
        v = v[~np.isnan(v)]
        out[k] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v))
    cons = sum(r["cons_px"] for r in rows)
    out["cons_in_lung"] = sum(r["cons_in_lung"] for r in rows) / max(cons, 1)
    if all("lung_vs_target" in r for r in rows):
        out["lung_vs_target"] = float(np.mean([r["lung_vs_target"] for r in rows]))
    return out


def load_fold(path):
    """The parameters a --cv run saved for one fold (OUT.foldK.npz)."""
    saved = np.load(path)
    arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    return [(jnp.asarray(arrays[2 * i]), jnp.asarray(arrays[2 * i + 1])) for i in range(len(arrays) // 2)]


def cross_validate(steps, out_json, resume=False):
    cases = medseg.cases()
    order = np.random.default_rng(2026).permutation(len(cases))
    folds = [order[i::FOLDS] for i in range(FOLDS)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, test_idx in enumerate(folds):
            test = [cases[i] for i in sorted(test_idx)]
            train_cases = [c for i, c in enumerate(cases) if i not in set(test_idx)]
            saved = f"{out_json}.fold{k + 1}.npz"
            if resume and os.path.exists(saved):
                params = load_fold(saved)
                print(f"fold {k + 1}/{FOLDS}: the model saved in {saved}", flush=True)
            else:
                params = train_lesion(tmp, train_cases, steps, seed=k, log=f"fold {k + 1}/{FOLDS} ")
                np.savez(saved, *[a for wb in params for a in (np.asarray(wb[0]), np.asarray(wb[1]))])
            fn = jax_fn(params, len(LESION["channels"]))
            for name, rows in score_variants(test, fn, f"{out_json}.fold{k + 1}.probs.npz").items():
                s = summary(rows)
                print(f"fold {k + 1} ({name}): " + json.dumps(s), flush=True)
                results.setdefault(name, []).append(dict(fold=k + 1, test=[r["name"] for r in rows], rows=rows, summary=s))
            with open(out_json, "w") as f:
                json.dump(dict(steps=steps, recipe=LESION["version"], variants=results), f, indent=1)
    for name, r in results.items():
        print(f"\n### {name}")
        print_table(r)


# How the fold models are scored: as the app reads them (arg-max, the rib cage bound, no
# flips); with test-time flips (left-right and up-down, or left-right only); with the lung taken
# where the lesion model's P(background) < 0.9 (not in the app: on RICORD it adds 301 mL of
# "lung", 221 mL of it soft tissue, docs/MODELS.md); with dense tissue the lesion model is
# unsure of taken as its most probable lung class (not in the app: on RICORD and A0002 it
# grows consolidation into the spleen, the stomach's wall and the chest wall beside real
# consolidation, docs/MODELS.md, session 20); and without the rib cage bound.
VARIANTS = {
    "as the app": {},
    "flips": dict(tta=True),
    "left-right flip": dict(tta="lr"),
    "lung where P(background) < 0.9": dict(lung_bg=0.9),
    "dense lung (>= -100 HU) where P(background) < 0.9": dict(dense_hu=-100.0),
    "dense lung (>= 0 HU) where P(background) < 0.9": dict(dense_hu=0.0),
    "no rib cage bound": dict(rib_cage=False),
}


def print_table(results):
    print("| fold | slices | infection Dice | GGO Dice | consolidation Dice | consolidation inside predicted lung |")
    print("|---|---|---|---|---|---|")
    for r in results:
        s = r["summary"]
        lung = f" (lung vs target {s['lung_vs_target']:.3f})" if "lung_vs_target" in s else ""
        print(f"| {r['fold']} | {len(r['test'])} | {s['infection'][0]:.3f} | {s['ggo'][0]:.3f} | {s['consolidation'][0]:.3f} | {100 * s['cons_in_lung']:.1f} %{lung} |")
    for k, label in (("infection", "infection"), ("ggo", "GGO"), ("consolidation", "consolidation")):
        v = np.array([r["summary"][k][0] for r in results])
        print(f"{label}: mean of folds {v.mean():.3f} ± {v.std(ddof=1):.3f} (sd)")
    allrows = [row for r in results for row in r["rows"]]
    s = summary(allrows)
    print("all slices pooled: " + json.dumps(s))


def rescore(out_json):
    """Scores the fold models a --cv run saved (OUT.foldK.npz) again, with the evaluation as it
    is now, on the same folds."""
    cases = medseg.cases()
    order = np.random.default_rng(2026).permutation(len(cases))
    results = {}
    for k in range(FOLDS):
        params = load_fold(f"{out_json}.fold{k + 1}.npz")
        test = [cases[i] for i in sorted(order[k::FOLDS])]
        fn = jax_fn(params, len(LESION["channels"]))
        for name, rows in score_variants(test, fn, f"{out_json}.fold{k + 1}.probs.npz").items():
            results.setdefault(name, []).append(dict(fold=k + 1, test=[r["name"] for r in rows], rows=rows, summary=summary(rows)))
    for name, r in results.items():
        print(f"\n### {name}")
        print_table(r)


def final(steps):
    cases = medseg.cases()
    with tempfile.TemporaryDirectory() as tmp:
        params = train_lesion(tmp, cases, steps, seed=0, log="final ")
    task = dict(LESION)
    levels, n_classes = len(task["channels"]), len(task["classes"])
    training_data = (
        "50 real axial COVID-19 CT slices with a radiologist's ground-glass and consolidation labels (MedSeg COVID-19 "
        "CT segmentation dataset as split by Inf-Net, training split; 8-bit JPEGs mapped to estimated HU per image, "
        "training/medseg.py; research use, no licence stated for the data) with lung targets made here (threshold lung "
        "plus the lesions); real chest CT backgrounds (TCIA Lung-PET-CT-Dx A0002, CC BY 4.0) with SYNTHETIC inserted "
        "GGO, crazy-paving and consolidation; a SYNTHETIC phantom"
        f"{'; hard negatives: the slices with under 20 cm2 of lung of A0002 (thoracic inlet, upper abdomen) and of one cornerstone3D CT slice (MIT; a neck), all background but the air inside the body and a 3 mm rim, which are left out of the loss' if HARD_NEGATIVE_SHARE else ''}. "
        f"Recipe {task['version']}: {steps} steps of Adam, batch 8, seed 0, cross-entropy weighted by class "
        f"{tuple(CLASS_WEIGHTS)}{' plus a binary any-lung term' if ANY_LUNG_WEIGHT else ''} plus soft Dice, "
        f"{f'{round(100 * HARD_NEGATIVE_SHARE)} % hard-negative crops, then of the rest ' if HARD_NEGATIVE_SHARE else ''}"
        f"{round(100 * MEDSEG_SHARE)} % MedSeg crops"
        f"{f' ({round(100 * CONSOLIDATION_CROPS)} % of them centred on consolidation)' if CONSOLIDATION_CROPS else ''}, "
        f"MedSeg lung target {'keeping' if CROPPED_LUNG_TARGET else 'dropping'} air at the image border"
        f": python3 training/medseg_cv.py --final --recipe {task['version']}"
    )
    intended_use = (
        "Pre-read of adult chest CT for COVID-19 pneumonia review in LungDesk; a specialist confirms every result. "
        "Not a diagnostic device. Checked by 5-fold cross-validation on the 50 real slices (docs/MODELS.md); not "
        "checked on real 3D reference masks."
    )
    path = train.export(task, params, levels, n_classes, steps, os.path.join(ROOT, "assets", "models"),
                        version=task["version"], training_data=training_data, intended_use=intended_use)
    train.write_fixture(path, os.path.join(ROOT, "inference", "tests", "fixtures", "onnx"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", action="store_true")
    ap.add_argument("--final", action="store_true")
    ap.add_argument("--rescore", action="store_true", help="score the fold models of --out again")
    ap.add_argument("--resume", action="store_true", help="with --cv: folds whose model --out already holds are scored, not trained again")
    ap.add_argument("--eval", default=None, help="a folder with images/ and labels/ in MedSeg's layout")
    ap.add_argument("--steps", type=int, default=LESION["steps"])
    ap.add_argument("--recipe", default="2.5.0", choices=sorted(RECIPES), help="training recipe (default: the shipped model's)")
    ap.add_argument("--class-rule", default="argmax", choices=["argmax", "any-lung"])
    ap.add_argument("--out", default="/tmp/medseg_cv.json")
    args = ap.parse_args()
    globals().update(RECIPES[args.recipe])
    globals()["CLASS_RULE"] = args.class_rule
    LESION["version"] = args.recipe
    if args.cv:
        cross_validate(args.steps, args.out, resume=args.resume)
    if args.rescore:
        rescore(args.out)
    if args.final:
        final(args.steps)
    if args.eval:
        m = json.load(open(os.path.join(ROOT, "assets", "models", "lungdesk-lesion.json")))
        session = ort.InferenceSession(os.path.join(ROOT, "assets", "models", m["file"]), providers=["CPUExecutionProvider"])
        task = {"spacing_mm": m["input"]["spacing_mm"][0], "hu_window": m["input"]["hu_window"],
                "channels": [0] * (int(np.log2(m["tiling"]["multiple_of"])) + 1)}
        assert m["output"]["classes"] == LESION["classes"], m["output"]["classes"]
        cases = medseg.cases(args.eval)
        rows = score(cases, read_all(cases, lambda x: session.run(None, {"ct": x})[0], task))
        for r in rows:
            print(json.dumps(r))
        print(json.dumps(summary(rows)))


if __name__ == "__main__":
    main()
