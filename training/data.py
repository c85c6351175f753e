"""Training and evaluation data for LungDesk's bundled models.

Everything here is SYNTHETIC where it says lesion: real CT slices are the background, and
ground-glass opacity (GGO), crazy-paving and consolidation are inserted with realistic HU,
shape and distribution. The inserted masks are what the model learns and what evaluation
scores against; they are made up, not ground truth of real disease.

Lung masks of the real backgrounds come from a threshold pipeline written here with SciPy
(air < -400 HU, not connected to the slice border, the largest components, holes filled),
independent of the Rust baseline in `inference/src/baseline.rs`.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pydicom
from scipy import ndimage as ndi

SHARED = os.environ.get("LUNGDESK_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))

# Real series used for training backgrounds. RICORD (COVID, real unlabelled GGO) is never
# used: it is the held-out real case. lungmask-slices and seg-3slice are held out for the
# insertion evaluation (other patients than any training slice).
TRAIN_SERIES = ["ct/lung-pet-ct-dx-a0002", "dicom/transfer-syntaxes/CTImage.dcm_LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm"]
HELD_OUT_SERIES = ["dicom/lungmask-slices", "dicom/seg-3slice/ct-3slice"]

BACKGROUND, LUNG, GGO, CONSOLIDATION = 0, 1, 2, 3
IGNORE = 255


def read_series(rel: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """HU volume (z, y, x) sorted along the slice normal, and spacing (x, y, z) in mm."""
    path = os.path.join(SHARED, rel)
    files = [path] if os.path.isfile(path) else sorted(glob.glob(os.path.join(path, "*")))
    slices = [pydicom.dcmread(f) for f in files]
    slices = [s for s in slices if "PixelData" in s and getattr(s, "Modality", "CT") == "CT"]
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, dtype=float))))
    hu = np.stack([s.pixel_array.astype(np.float32) * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in slices])
    sy, sx = (float(v) for v in slices[0].PixelSpacing)
    if len(slices) > 1:
        p = [float(np.dot(normal, np.array(s.ImagePositionPatient, dtype=float))) for s in slices]
        sz = float(np.median(np.diff(p)))
    else:
        sz = float(getattr(slices[0], "SliceThickness", 1.0))
    return hu, (sx, sy, sz)


def lung_mask_slice(hu: np.ndarray, spacing_mm: tuple[float, float], cropped: bool = False) -> np.ndarray:
    """Threshold lung mask of one axial slice: air inside the body, largest two components
    (each at least 5 % of the largest and 5 cm^2), holes filled. Air connected to the border is
    taken for outside the body unless `cropped`: an image cropped to the thorax (MedSeg's) has
    its lungs touching the border, and the little air outside the body it keeps is smaller than
    either lung."""
    air = hu < -400
    if cropped:
        inner = air
    else:
        # Air connected to the border is outside the body.
        outside_labels, _ = ndi.label(air)
        border = np.unique(np.concatenate([outside_labels[0], outside_labels[-1], outside_labels[:, 0], outside_labels[:, -1]]))
        inner = air & ~np.isin(outside_labels, border[border > 0])
    comp, n = ndi.label(inner)
    if n == 0:
        return np.zeros_like(air)
    sizes = ndi.sum(inner, comp, range(1, n + 1))
    order = np.argsort(sizes)[::-1][:2]
    px_cm2 = spacing_mm[0] * spacing_mm[1] / 100.0
    keep = [i + 1 for i in order if sizes[i] >= 0.05 * sizes[order[0]] and sizes[i] * px_cm2 >= 5.0]
    lung = np.isin(comp, keep)
    return ndi.binary_fill_holes(lung)


def resample_slice(img: np.ndarray, spacing_mm: tuple[float, float], target_mm: float, order: int = 1) -> np.ndarray:
    zoom = (spacing_mm[1] / target_mm, spacing_mm[0] / target_mm)
    return ndi.zoom(img, zoom, order=order, mode="nearest")


def smooth_noise(shape, rng, sigma_px):
    return ndi.gaussian_filter(rng.standard_normal(shape), sigma_px)


def blob(shape, centre, radii_px, angle, rng, roughness=0.35):
    """A soft, rounded, irregular blob: an ellipse with a noise-perturbed border. Returns
    alpha in [0, 1]."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xx - centre[1], yy - centre[0]
    u = (c * dx + s * dy) / radii_px[0]
    v = (-s * dx + c * dy) / radii_px[1]
    r = np.sqrt(u * u + v * v)
    noise = smooth_noise(shape, rng, max(radii_px) / 3)
    noise /= noise.std() + 1e-6
    r = r + roughness * noise * np.clip(r, 0, 1.5)
    edge = max(0.15, 1.5 / max(radii_px))
    return np.clip((1.0 - r) / edge + 0.5, 0, 1)


def insert_lesions(hu, lung, spacing_mm, rng, n_lesions=None):
    """Inserts SYNTHETIC lesions into one axial slice inside `lung`.

    Returns (new HU, lesion labels: 0 none, GGO, CONSOLIDATION). Kinds: rounded GGO (vessels
    stay visible through it), crazy-paving (GGO with a reticular overlay), consolidation
    (uniform soft tissue density that hides vessels), often against the chest wall. Most are
    peripheral, as in COVID-19 pneumonia."""
    out = hu.copy()
    lesion = np.zeros(hu.shape, np.uint8)
    if lung.sum() < 200:
        return out, lesion
    depth_mm = ndi.distance_transform_edt(lung, sampling=(spacing_mm[1], spacing_mm[0]))
    if n_lesions is None:
        n_lesions = rng.choice([0, 1, 2, 3, 4], p=[0.15, 0.3, 0.25, 0.2, 0.1])
    for _ in range(n_lesions):
        kind = rng.choice(["ggo", "crazy", "cons", "cons_wall"], p=[0.5, 0.12, 0.18, 0.2])
        if kind == "cons_wall":
            candidates = np.argwhere(lung & (depth_mm < 3))
        elif rng.random() < 0.75:
            candidates = np.argwhere(lung & (depth_mm < 15))
        else:
            candidates = np.argwhere(lung)
        if len(candidates) == 0:
            continue
        cy, cx = candidates[rng.integers(len(candidates))]
        r_mm = rng.uniform(5, 28) if kind in ("ggo", "crazy") else rng.uniform(5, 22)
        radii = (r_mm / spacing_mm[0] * rng.uniform(0.7, 1.3), r_mm / spacing_mm[0] * rng.uniform(0.6, 1.0))
        alpha = blob(hu.shape, (cy, cx), radii, rng.uniform(0, np.pi), rng) * lung
        if kind in ("ggo", "crazy"):
            target = rng.uniform(-720, -420) + smooth_noise(hu.shape, rng, 1.0) * rng.uniform(20, 60)
            if kind == "crazy":
                field = smooth_noise(hu.shape, rng, rng.uniform(2.0, 3.5) / spacing_mm[0] * 1.0)
                field /= field.std() + 1e-6
                lines = np.abs(field) < 0.25
                target = np.where(lines, target + rng.uniform(120, 250), target)
            raised = (1 - alpha) * out + alpha * target
            out = np.where(alpha > 0, np.maximum(out, raised), out)
            lesion[(alpha > 0.5) & (lesion == 0)] = GGO
        else:
            target = rng.uniform(-80, 60) + rng.standard_normal(hu.shape) * rng.uniform(8, 25)
            out = (1 - alpha) * out + alpha * target
            lesion[alpha > 0.5] = CONSOLIDATION
    return out.astype(np.float32), lesion


def background_lesion_candidates(hu, lung, spacing_mm):
    """Voxels of a real background that could themselves be lesions (the HU bands of the
    baseline, opened to drop vessel rims). They are left out of the lesion loss: the real
    backgrounds have unlabelled disease, and calling it background would teach the model
    to ignore opacities."""
    band = lung & (hu >= -750) & (hu <= 100)
    r = max(1, int(round(1.5 / spacing_mm[0])))
    return ndi.binary_opening(band, structure=np.ones((2 * r + 1, 2 * r + 1), bool))
