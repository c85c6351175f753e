"""How much of the lung the MedSeg lung target keeps: on each of the 50 MedSeg slices, the
area of `medseg.lung_target` (made here: threshold lung plus the radiologist's lesions) against
the area of lung the bundled lung model finds (never trained on MedSeg). A check of the target,
not a measurement of either against a reference.

    python3 training/medseg_lung_check.py
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import medseg  # noqa: E402
import medseg_cv  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def main():
    manifest = json.load(open(os.path.join(ROOT, "assets", "models", "lungdesk-lung.json")))
    session = ort.InferenceSession(os.path.join(ROOT, "assets", "models", manifest["file"]), providers=["CPUExecutionProvider"])
    spacing = manifest["input"]["spacing_mm"][0]
    lo, hi = manifest["input"]["hu_window"]
    ratios = []
    for name, hu, sp, lab in medseg.cases():
        r = data.resample_slice(hu, (sp, sp), spacing, order=1)
        x, (h, w) = medseg_cv._pad_to(np.clip((r - lo) / (hi - lo), 0, 1).astype(np.float32), 8, 0.0)
        model_lung = session.run(None, {"ct": x[None, None]})[0][0][:, :h, :w].argmax(0) == 1
        row = []
        for cropped in (False, True):
            row.append(medseg.lung_target(hu, lab, sp, cropped=cropped).mean() / max(model_lung.mean(), 1e-6))
        ratios.append(row)
        print(f"{name}: target / lung model area, border air dropped {row[0]:.2f}, kept {row[1]:.2f}")
    for k, how in enumerate(("border air dropped (recipes 2.0.0-2.2.0)", "border air kept (cropped images)")):
        r = np.array([row[k] for row in ratios])
        print(f"{how}: {len(r)} slices, median {np.median(r):.2f}, under 0.5 on {int((r < 0.5).sum())}, under 0.25 on {int((r < 0.25).sum())}, over 1.5 on {int((r > 1.5).sum())}")


if __name__ == "__main__":
    main()
