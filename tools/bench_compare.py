#!/usr/bin/env python3
"""DICOM series → HU volume: LungDesk beside pydicom + pylibjpeg and SimpleITK, in one run.

    python3 tools/bench_compare.py [../shared/data/ct/ricord-1a-covid]

Builds an uncompressed copy of the series once (tools/make_uncompressed_copy.py), runs the
LungDesk benchmark binary (`cargo bench -p lungdesk-volume --bench series_load`), then the
Python readers on the same folders, and prints a Markdown table of medians. The machine is
noisy: read the ratios, not single absolute times.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import pydicom
import SimpleITK as sitk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def pydicom_volume(folder):
    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
    row = np.array(slices[0].ImageOrientationPatient[:3], dtype=float)
    col = np.array(slices[0].ImageOrientationPatient[3:], dtype=float)
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(np.dot(np.array(s.ImagePositionPatient, dtype=float), normal)))
    return np.stack(
        [(s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept)).astype(np.int16) for s in slices]
    )


def sitk_volume(folder):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return sitk.GetArrayViewFromImage(reader.Execute())


def median_time(fn, folder):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn(folder)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def lungdesk(folders, runs):
    env = dict(os.environ, BENCH_RUNS=str(runs))
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "lungdesk-volume", "--bench", "series_load", "--", *folders],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    series = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data", "ct", "ricord-1a-covid")
    series = os.path.abspath(series)
    raw = os.path.join(ROOT, ".bench-data", os.path.basename(series) + "-uncompressed")
    if not os.path.isdir(raw):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_uncompressed_copy.py"), series, raw], check=True)
    folders = [series, raw]
    ours = {r["dir"]: r for r in lungdesk(folders, max(RUNS, 7))}
    memory = {r["dir"]: r for r in lungdesk(folders, 1)}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; date {time.strftime('%Y-%m-%d')}; "
          f"median of {RUNS} runs (LungDesk {max(RUNS, 7)})\n")
    print("| series | LungDesk | pydicom + pylibjpeg | SimpleITK | LungDesk peak RSS / volume |")
    print("|---|---|---|---|---|")
    for folder in folders:
        ld = ours[folder]["total_s"]
        py = median_time(pydicom_volume, folder)
        it = median_time(sitk_volume, folder)
        mem = memory[folder]
        ratio = mem["peak_rss_bytes"] / mem["volume_bytes"]
        print(f"| {os.path.basename(folder)} | {ld:.3f} s | {py:.2f} s ({py / ld:.1f}×) | {it:.2f} s ({it / ld:.1f}×) "
              f"| {mem['peak_rss_bytes'] / 2**20:.0f} MiB / {mem['volume_bytes'] / 2**20:.0f} MiB = {ratio:.2f} |")


if __name__ == "__main__":
    main()
