"""The 50 real MedSeg COVID-19 slices with a radiologist's labels, mapped to Hounsfield units.

The images are 8-bit JPEGs in a lung window of unknown width and level, cropped to the thorax,
resized (no pixel spacing) and rotated 90 degrees (spine at the right edge). LungDesk's models
work on HU, so each image gets its own linear grey -> HU map from two tissues that every chest
slice shows (see `grey_to_hu`):

- aerated lung, the lowest large mode of the grey histogram inside the thorax, is set to
  LUNG_HU (-850 HU: the textbook density of normally aerated adult lung at end inspiration);
- soft tissue (muscle and mediastinum, mixed with fat), the highest large mode, is set to
  TISSUE_HU (+20 HU).

A lung window is linear between its bounds, so two anchors fix it; grey values of 0 and 255
were clipped by the window and stay at its bounds. The caveat, said next to every number
measured here: these are *estimated* HU. The true window is unknown, so the map can be off by
tens of HU, most of all on slices whose lungs are mostly diseased (the lung mode then shifts
upwards). The map never looks at the labels.

Spacing is estimated the same way: the thorax is taken as THORAX_WIDTH_MM wide from left to
right (adult chests are 280-360 mm), measured on the body's extent in the image.
"""

from __future__ import annotations

import glob
import os

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

import data

FOLDER = os.path.join(data.SHARED, "lesions", "medseg-covid-train")
LUNG_HU = -850.0
TISSUE_HU = 20.0
THORAX_WIDTH_MM = 320.0
# The labels' classes (palette PNG): 0 background, 1 ground glass, 2 consolidation.
LABEL_GGO, LABEL_CONSOLIDATION = 1, 2


# The median HU-per-grey slope of the 50 training slices whose lungs show a clear aerated
# mode (27 of them; printed by `python3 training/medseg.py`). It stands in on slices where the
# aerated-lung anchor cannot be found.
DEFAULT_SLOPE_HU_PER_GREY = 5.2


def anchors(grey: np.ndarray) -> tuple[float, float, float]:
    """(lung grey, tissue grey, prominence) from the smoothed histogram: aerated lung is the
    highest peak below grey 100, soft tissue the highest at or above it; the prominence is the
    lung peak's height over the tissue peak's."""
    hist = np.bincount(grey.ravel(), minlength=256).astype(float)
    hist[0] = hist[255] = 0  # clipped by the window
    smooth = ndi.gaussian_filter1d(hist, 3)
    lung = int(np.argmax(smooth[:100]))
    tissue = 100 + int(np.argmax(smooth[100:]))
    return float(lung), float(tissue), float(smooth[lung] / max(smooth[tissue], 1e-9))


def grey_to_hu(grey: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Estimated HU of an 8-bit lung-window image, the slope (HU per grey level) and which
    anchors set it.

    - Both anchors, when the slice shows aerated lung as a clear peak (at least half as high as
      the tissue peak) and tissue below the window's top: lung -> LUNG_HU, tissue -> TISSUE_HU.
    - Otherwise the tissue anchor with DEFAULT_SLOPE_HU_PER_GREY (a slice mostly diseased, or
      a lung base, has too little aerated lung to show its mode);
    - when tissue is clipped at the window's top too, the lung anchor with the default slope.
    """
    lung, tissue, prominence = anchors(grey)
    tissue_clipped = tissue >= 250
    if prominence >= 0.5 and not tissue_clipped and tissue - lung > 60:
        slope, origin_grey, origin_hu, how = (TISSUE_HU - LUNG_HU) / (tissue - lung), lung, LUNG_HU, "lung+tissue"
    elif not tissue_clipped:
        slope, origin_grey, origin_hu, how = DEFAULT_SLOPE_HU_PER_GREY, tissue, TISSUE_HU, "tissue"
    else:
        slope, origin_grey, origin_hu, how = DEFAULT_SLOPE_HU_PER_GREY, lung, LUNG_HU, "lung"
    hu = origin_hu + (grey.astype(np.float32) - origin_grey) * slope
    return np.clip(hu, -1024, 3071).astype(np.float32), slope, how


def spacing_mm(hu: np.ndarray) -> float:
    """Estimated pixel spacing: the body's left-right extent is THORAX_WIDTH_MM."""
    body = ndi.binary_fill_holes(ndi.binary_opening(hu > -500, iterations=2))
    cols = np.flatnonzero(body.any(axis=0))
    width_px = (cols[-1] - cols[0] + 1) if len(cols) else hu.shape[1]
    return THORAX_WIDTH_MM / max(width_px, 1)


def load_image(image_path: str):
    """(HU in the usual axial view, spacing mm, anchors) of one MedSeg JPEG."""
    grey = np.asarray(Image.open(image_path).convert("L"))
    grey = np.rot90(grey, k=-1)  # spine from the right edge to the bottom
    hu, slope, how = grey_to_hu(grey)
    return hu, spacing_mm(hu), (slope, how)


def load_label(label_path: str) -> np.ndarray:
    """Labels in data.py's classes (0, data.GGO, data.CONSOLIDATION), in the usual view."""
    lab = np.rot90(np.asarray(Image.open(label_path)), k=-1)
    return np.select([lab == LABEL_GGO, lab == LABEL_CONSOLIDATION], [data.GGO, data.CONSOLIDATION], 0).astype(np.uint8)


def lung_target(hu: np.ndarray, lesion: np.ndarray, sp: float, cropped: bool = True) -> np.ndarray:
    """The lung a model should learn on a real diseased slice: the threshold lung mask with the
    radiologist's lesions added (consolidated lung is lung), holes filled. Made here, not a
    reference mask. MedSeg's images are cropped to the thorax, so air touching the border is
    lung (`cropped`); recipes 2.0.0-2.2.0 were trained with `cropped=False`, which loses the
    aerated lung on 30 of the 50 slices (training/medseg_lung_check.py)."""
    lung = data.lung_mask_slice(hu, (sp, sp), cropped=cropped) | (lesion > 0)
    return ndi.binary_fill_holes(ndi.binary_closing(lung, iterations=2))


def cases(folder: str = FOLDER):
    """Every (name, HU, spacing mm, lesion labels) in `folder` (images/N.jpg, labels/N.png)."""
    images = sorted(glob.glob(os.path.join(folder, "images", "*.jpg")), key=lambda p: int(os.path.basename(p)[:-4]))
    if not images:
        raise SystemExit(f"no MedSeg slices in {folder}: the shared data folder is missing (see ../shared/data/README.md)")
    out = []
    for path in images:
        name = os.path.basename(path)[:-4]
        hu, sp, _ = load_image(path)
        lab = load_label(os.path.join(folder, "labels", f"{name}.png"))
        assert lab.shape == hu.shape, (name, lab.shape, hu.shape)
        out.append((name, hu, sp, lab))
    return out


if __name__ == "__main__":
    slopes = []
    for path in sorted(glob.glob(os.path.join(FOLDER, "images", "*.jpg"))):
        _, slope, how = grey_to_hu(np.rot90(np.asarray(Image.open(path).convert("L")), k=-1))
        print(os.path.basename(path), how, f"{slope:.2f} HU/grey")
        if how == "lung+tissue":
            slopes.append(slope)
    print(f"{len(slopes)} slices with both anchors; median slope {np.median(slopes):.2f} HU per grey level")
