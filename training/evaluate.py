"""Evaluates the bundled models and the HU baseline on data training never saw.

    python3 training/evaluate.py   # writes a Markdown table to stdout (about 3 min)

Held-out cases (other patients than every training slice):
- real CT slices from lungmask-slices (2 slices) and seg-3slice (3 slices), each repeated
  10x along z (1 mm apart) so that the volume rules of the pipeline apply, with SYNTHETIC
  lesions inserted by data.insert_lesions under seeds training never used; one set of
  variants has only dense consolidation against the chest wall;
- a SYNTHETIC phantom with a lesion layout (seed 5) training never saw.
Reference lungs of the real slices come from data.lung_mask_slice on the clean slice (SciPy,
independent of the Rust baseline); reference lesions are the inserted masks. Both are made
up here, not ground truth. Both methods run through `lungdesk analyze --mask`.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import pydicom
from pydicom.uid import generate_uid

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXE = os.path.join(ROOT, "target", "release", "lungdesk")
REPEAT = 10


def write_case(rel, out_dir, seed, wall_only):
    """A held-out case as a DICOM series; returns (hu, reference labels) in (z, y, x)."""
    path = os.path.join(data.SHARED, rel)
    files = sorted(os.path.join(path, f) for f in os.listdir(path))
    slices = [pydicom.dcmread(f) for f in files]
    iop = np.array(slices[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, float))))
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir)
    series_uid = generate_uid()
    hu_out, ref_out = [], []
    origin = np.array(slices[0].ImagePositionPatient, float)
    k = 0
    for s in slices:
        hu = s.pixel_array.astype(np.float32) * float(s.RescaleSlope) + float(s.RescaleIntercept)
        sp = tuple(float(v) for v in s.PixelSpacing)[::-1]
        lung = data.lung_mask_slice(hu, sp)
        n = rng.integers(1, 4)
        if wall_only:
            new_hu, lesion = hu.copy(), np.zeros(hu.shape, np.uint8)
            for _ in range(n):
                lesion_rng = np.random.default_rng(rng.integers(1 << 30))
                cand = None
                while cand is None or cand[1].max() != data.CONSOLIDATION:
                    cand = data.insert_lesions(new_hu, lung, sp, lesion_rng, n_lesions=1)
                    # insert_lesions picks the kind at random; keep only wall consolidation
                    # (its centre within 3 mm of the lung edge).
                    if cand[1].max() == data.CONSOLIDATION:
                        from scipy import ndimage as ndi
                        depth = ndi.distance_transform_edt(lung, sampling=sp[::-1])
                        ys, xs = np.nonzero(cand[1] == data.CONSOLIDATION)
                        if depth[ys, xs].min() > 1.5:
                            cand = None
                new_hu, add = cand
                lesion = np.where(add > 0, add, lesion)
        else:
            new_hu, lesion = data.insert_lesions(hu, lung, sp, rng, n_lesions=n)
        ref = np.where(lesion > 0, lesion, lung.astype(np.uint8))
        slope, intercept = float(s.RescaleSlope), float(s.RescaleIntercept)
        stored = np.round((new_hu - intercept) / slope)
        dtype = np.int16 if int(s.PixelRepresentation) == 1 else np.uint16
        info = np.iinfo(dtype)
        stored = np.clip(stored, info.min, info.max).astype(dtype)
        for _ in range(REPEAT):
            d = copy.deepcopy(s)
            d.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
            d.PixelData = stored.tobytes()
            d.BitsAllocated, d.BitsStored, d.HighBit = 16, 16, 15
            d.SeriesInstanceUID = series_uid
            d.SOPInstanceUID = generate_uid()
            d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
            d.ImagePositionPatient = [float(v) for v in origin + normal * k]
            d.SliceThickness = 1.0
            d.SpacingBetweenSlices = 1.0
            d.InstanceNumber = k + 1
            d.save_as(os.path.join(out_dir, f"{k:04d}.dcm"), enforce_file_format=True)
            hu_out.append(new_hu)
            ref_out.append(ref)
            k += 1
    return np.stack(hu_out), np.stack(ref_out)


def analyse(case_dir, baseline, tmp):
    mask = os.path.join(tmp, f"mask{'b' if baseline else 'm'}.nii.gz")
    cmd = [EXE, "analyze", case_dir, "--no-cache", "--mask", mask, "--json", os.path.join(tmp, "r.json")]
    if baseline:
        cmd.append("--baseline")
    subprocess.run(cmd, check=True, capture_output=True)
    return np.asarray(nib.load(mask).dataobj).transpose(2, 1, 0)


def dice(a, b):
    s = a.sum() + b.sum()
    return float("nan") if s == 0 else 2.0 * (a & b).sum() / s


def scores(pred, ref):
    return {
        "lung": dice(pred >= 1, ref >= 1),
        "ggo": dice(pred == 2, ref == 2),
        "cons": dice(pred == 3, ref == 3),
        "lesion": dice(pred >= 2, ref >= 2),
        # Share of the inserted consolidation that the lung mask keeps (any label but 0).
        "kept": float("nan") if (ref == 3).sum() == 0 else float(((pred >= 1) & (ref == 3)).sum() / (ref == 3).sum()),
    }


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for rel in data.HELD_OUT_SERIES:
            for seed in (101, 102, 103):
                cases.append((f"{rel} + insertions (seed {seed})", rel, seed, False))
            for seed in (201, 202):
                cases.append((f"{rel} + chest-wall consolidation (seed {seed})", rel, seed, True))
        for i, (name, rel, seed, wall) in enumerate(cases):
            case_dir = os.path.join(tmp, f"case{i}")
            _, ref = write_case(rel, case_dir, seed, wall)
            rows.append((name, scores(analyse(case_dir, False, tmp), ref), scores(analyse(case_dir, True, tmp), ref)))
        phantom = os.path.join(tmp, "phantom")
        labels = os.path.join(tmp, "phantom.nii.gz")
        subprocess.run([EXE, "phantom", "--out", phantom, "--seed", "5", "--size", "256x256x120", "--labels", labels], check=True, capture_output=True)
        ref = np.asarray(nib.load(labels).dataobj).transpose(2, 1, 0)
        rows.append(("SYNTHETIC phantom, seed 5 (unseen layout)", scores(analyse(phantom, False, tmp), ref), scores(analyse(phantom, True, tmp), ref)))
    f = lambda v: "–" if np.isnan(v) else f"{v:.3f}"
    print("| case | lung Dice model / baseline | GGO Dice model / baseline | consolidation Dice model / baseline | any-lesion Dice model / baseline | consolidation kept in lung, model / baseline |")
    print("|---|---|---|---|---|---|")
    for name, m, b in rows:
        print(f"| {name} | {f(m['lung'])} / {f(b['lung'])} | {f(m['ggo'])} / {f(b['ggo'])} | {f(m['cons'])} / {f(b['cons'])} | {f(m['lesion'])} / {f(b['lesion'])} | {f(m['kept'])} / {f(b['kept'])} |")
    for label, subset in [("insertions", [r for r in rows if "insertions" in r[0]]), ("chest-wall consolidation", [r for r in rows if "chest-wall" in r[0]])]:
        mean = lambda key, j: np.nanmean([r[j][key] for r in subset])
        print(f"| **mean, {label}** | {f(mean('lung', 1))} / {f(mean('lung', 2))} | {f(mean('ggo', 1))} / {f(mean('ggo', 2))} | {f(mean('cons', 1))} / {f(mean('cons', 2))} | {f(mean('lesion', 1))} / {f(mean('lesion', 2))} | {f(mean('kept', 1))} / {f(mean('kept', 2))} |")


if __name__ == "__main__":
    main()
