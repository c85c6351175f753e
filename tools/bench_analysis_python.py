"""The same two-model pre-read written the way a Python user would: pydicom (+pylibjpeg)
to read, SciPy to resample and post-process, Python onnxruntime to run LungDesk's bundled
models. A yardstick for `lungdesk analyze` in docs/BENCHMARKS.md, not part of LungDesk.

    python3 tools/bench_analysis_python.py ../shared/data/ct/ricord-1a-covid
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from scipy import ndimage as ndi

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
import data  # noqa: E402

MODELS = os.path.join(os.path.dirname(__file__), "..", "assets", "models")


def run_model(name, hu, spacing, roi=None):
    m = json.load(open(os.path.join(MODELS, f"{name}.json")))
    session = ort.InferenceSession(os.path.join(MODELS, m["file"]), providers=["CPUExecutionProvider"])
    lo, hi = m["input"]["hu_window"]
    t = m["input"]["spacing_mm"][0]
    mult = m["tiling"]["multiple_of"]
    out = np.zeros(hu.shape, np.uint8)
    for z in range(hu.shape[0]):
        if roi is not None and not roi[z].any():
            continue
        small = ndi.zoom(hu[z], (spacing[1] / t, spacing[0] / t), order=1)
        h, w = small.shape
        ph, pw = -h % mult, -w % mult
        x = np.pad(np.clip((small - lo) / (hi - lo), 0, 1), ((0, ph), (0, pw)))[None, None].astype(np.float32)
        logits = session.run(None, {m["input"]["name"]: x})[0][0, :, :h, :w]
        probs = np.exp(logits - logits.max(0))
        probs /= probs.sum(0)
        up = np.stack([ndi.zoom(p, (hu.shape[1] / h, hu.shape[2] / w), order=1) for p in probs])
        out[z] = up.argmax(0)
    # Output classes to LungDesk's labels (0 background, 1 lung, 2 ground glass, 3 consolidation).
    codes = {"background": 0, "lung": 1, "ground_glass": 2, "consolidation": 3}
    return np.array([codes[c] for c in m["output"]["classes"]], np.uint8)[out]


def main():
    started = time.perf_counter()
    hu, spacing = data.read_series(os.path.relpath(sys.argv[1], data.SHARED))
    read = time.perf_counter() - started
    lung = run_model("lungdesk-lung", hu, spacing) == 1
    comp, n = ndi.label(lung)
    sizes = ndi.sum(lung, comp, range(1, n + 1))
    keep = np.argsort(sizes)[::-1][:2] + 1
    lung = np.isin(comp, keep)
    lung = np.stack([ndi.binary_fill_holes(s) for s in lung])
    # Within 50 mm of those lungs, the lesion model's lung (any lung class) connected to them.
    near = np.stack([ndi.distance_transform_edt(~s, sampling=(spacing[1], spacing[0])) <= 50 for s in lung])
    lesion = run_model("lungdesk-lesion", hu, spacing, roi=near)
    comp, n = ndi.label((lesion > 0) & near)
    touching = np.unique(comp[lung & (comp > 0)])
    lung = np.stack([ndi.binary_fill_holes(s) for s in np.isin(comp, touching[touching > 0])])
    labels = np.where(lung, np.maximum(lesion, 1), 0)
    total = time.perf_counter() - started
    ml = np.prod(spacing) / 1000
    print(f"read {read:.1f} s, total {total:.1f} s; lung {lung.sum() * ml:.0f} mL, GGO {(labels == 2).sum() * ml:.0f} mL, consolidation {(labels == 3).sum() * ml:.0f} mL")


if __name__ == "__main__":
    main()
