#!/usr/bin/env python3
"""Writes an uncompressed (explicit VR little endian) copy of a DICOM series, for the
"same series stored uncompressed" benchmark.

    python3 tools/make_uncompressed_copy.py ../shared/data/ct/ricord-1a-covid .bench-data/ricord-uncompressed
"""
import os
import sys

import pydicom
from pydicom.uid import ExplicitVRLittleEndian


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        ds = pydicom.dcmread(os.path.join(src, name))
        ds.decompress()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(os.path.join(dst, name), enforce_file_format=True)
    print(f"wrote {len(os.listdir(dst))} files to {dst}")


if __name__ == "__main__":
    main()
