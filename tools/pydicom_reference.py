#!/usr/bin/env python3
"""Independent reference numbers for LungDesk's DICOM decoder, computed with pydicom.

pydicom (with the pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg and pylibjpeg-rle
plugins) decodes each file; HU = stored * RescaleSlope + RescaleIntercept, rounded and
clamped to int16 as LungDesk does. Series are sorted by ImagePositionPatient projected on
the slice normal. Nothing here shares code with the Rust decoder.

    python3 tools/pydicom_reference.py ../shared/data tests/reference

writes tests/reference/series.json and tests/reference/single-files.json.
"""
import hashlib
import json
import os
import sys
import warnings

import numpy as np
import pydicom

warnings.filterwarnings("ignore")

SERIES = ["ct/ricord-1a-covid", "ct/lung-pet-ct-dx-a0002", "dicom/seg-3slice/ct-3slice", "dicom/lungmask-slices"]
SINGLE_DIRS = ["dicom/transfer-syntaxes", "dicom/codec-edge-cases"]


def to_hu(ds, frame_pixels):
    arr = frame_pixels.astype(np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    hu = np.rint(arr * slope + intercept)
    return np.clip(hu, -32768, 32767).astype("<i2")


def digest(hu):
    return {
        "sha256": hashlib.sha256(np.ascontiguousarray(hu).tobytes()).hexdigest(),
        "sum": int(hu.astype(np.int64).sum()),
        "min": int(hu.min()),
        "max": int(hu.max()),
    }


def series_reference(folder):
    files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    slices = [pydicom.dcmread(f) for f in files]
    slices = [s for s in slices if "PixelData" in s]
    row = np.array(slices[0].ImageOrientationPatient[:3], dtype=float)
    col = np.array(slices[0].ImageOrientationPatient[3:], dtype=float)
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(np.dot(np.array(s.ImagePositionPatient, dtype=float), normal)))
    volume = np.stack([to_hu(s, s.pixel_array) for s in slices])
    positions = np.array([np.array(s.ImagePositionPatient, dtype=float) for s in slices])
    steps = np.diff(positions @ normal)
    ps = [float(v) for v in slices[0].PixelSpacing]
    slice_step = (positions[-1] - positions[0]) / (len(slices) - 1)
    affine = np.eye(4)
    affine[:3, 0] = row * ps[1]
    affine[:3, 1] = col * ps[0]
    affine[:3, 2] = slice_step
    affine[:3, 3] = positions[0]
    out = {
        "dims": [int(volume.shape[2]), int(volume.shape[1]), int(volume.shape[0])],
        "spacing_mm": [ps[1], ps[0], float(np.linalg.norm(slice_step))],
        "slice_step_min_mm": float(steps.min()),
        "slice_step_max_mm": float(steps.max()),
        "patient_from_voxel": affine.tolist(),
        "transfer_syntaxes": sorted({str(s.file_meta.TransferSyntaxUID) for s in slices}),
    }
    out.update(digest(volume))
    return out


def single_reference(path):
    try:
        ds = pydicom.dcmread(path)
    except Exception as e:  # noqa: BLE001 - recorded, not hidden
        return {"status": "unreadable", "error": str(e)[:200]}
    info = {
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in ds.file_meta else None,
        "samples_per_pixel": int(getattr(ds, "SamplesPerPixel", 0) or 0),
        "frames": int(getattr(ds, "NumberOfFrames", 1) or 1),
    }
    if "PixelData" not in ds:
        info["status"] = "no-pixel-data"
        return info
    if info["samples_per_pixel"] != 1:
        info["status"] = "colour"
        return info
    try:
        pixels = ds.pixel_array
    except Exception as e:  # noqa: BLE001
        info["status"] = "pydicom-cannot-decode"
        info["error"] = str(e)[:200]
        return info
    frame = pixels[0] if info["frames"] > 1 else pixels
    info["status"] = "decoded"
    info.update(digest(to_hu(ds, frame)))
    return info


def main():
    data, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    series = {}
    for rel in SERIES:
        series[rel] = series_reference(os.path.join(data, rel))
        print(rel, series[rel]["dims"], series[rel]["sha256"][:16])
    singles = {}
    for rel_dir in SINGLE_DIRS:
        for root, _, names in os.walk(os.path.join(data, rel_dir)):
            for name in sorted(names):
                if name.endswith((".rst", ".head", ".md")) or "wadors" in root:
                    continue
                rel = os.path.relpath(os.path.join(root, name), data)
                singles[rel] = single_reference(os.path.join(root, name))
    meta = {"generated_with": f"pydicom {pydicom.__version__}, numpy {np.__version__}"}
    with open(os.path.join(out_dir, "series.json"), "w") as f:
        json.dump({"_meta": meta, **series}, f, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "single-files.json"), "w") as f:
        json.dump({"_meta": meta, **singles}, f, indent=1, sort_keys=True)
    counts = {}
    for v in singles.values():
        counts[v["status"]] = counts.get(v["status"], 0) + 1
    print("single files:", counts)


if __name__ == "__main__":
    main()
