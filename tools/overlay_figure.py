"""docs/ricord-onnx-overlay.png: four RICORD slices, without and with the labels that
`lungdesk analyze --mask` wrote (lung blue, ground glass yellow, consolidation red).

    ./target/release/lungdesk analyze ../shared/data/ct/ricord-1a-covid --mask /tmp/ricord.nii.gz
    python3 tools/overlay_figure.py /tmp/ricord.nii.gz docs/ricord-onnx-overlay.png
"""

import os
import sys

import nibabel as nib
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
import data  # noqa: E402


def main():
    labels = np.asarray(nib.load(sys.argv[1]).dataobj).transpose(2, 1, 0)
    hu, _ = data.read_series("ct/ricord-1a-covid")
    rows = []
    for z in [160, 200, 60, 110]:
        grey = (np.clip((hu[z] + 1350) / 1500, 0, 1) * 255).astype(np.uint8)
        rgb = np.stack([grey] * 3, -1).astype(float)
        colour = np.zeros_like(rgb)
        colour[labels[z] == 1] = [0, 90, 255]
        colour[labels[z] == 2] = [255, 200, 0]
        colour[labels[z] == 3] = [255, 0, 0]
        lesion, lung = (labels[z] >= 2)[..., None], (labels[z] == 1)[..., None]
        over = np.where(lesion, 0.5 * rgb + 0.5 * colour, np.where(lung, 0.85 * rgb + 0.15 * colour, rgb))
        rows.append(np.concatenate([rgb, over], 1).astype(np.uint8))
    image = Image.fromarray(np.concatenate(rows, 0))
    image.resize((image.width // 2, image.height // 2)).save(sys.argv[2], optimize=True)


if __name__ == "__main__":
    main()
