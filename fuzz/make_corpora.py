#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/seeds/TARGET/) and one regression input per crash class
found in #14 (fuzz/regressions/TARGET/CLASS). Inputs come from ../shared/data (licences in
docs/ROBUSTNESS.md) and from a SYNTHETIC phantom written by `lungdesk phantom`.

    python3 fuzz/make_corpora.py [path/to/lungdesk]

Deterministic: running it again writes the same bytes. Needs pydicom.
"""
import copy, io, json, os, shutil, struct, subprocess, sys, tempfile
from pathlib import Path

import pydicom
from pydicom.encaps import encapsulate

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SEEDS = ROOT / "fuzz" / "seeds"
REGRESSIONS = ROOT / "fuzz" / "regressions"
TS = DATA / "dicom" / "transfer-syntaxes"
RICORD = DATA / "ct" / "ricord-1a-covid"


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def dcm_bytes(ds):
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def fragments(ds):
    # The first item is the Basic Offset Table.
    return list(pydicom.encaps.generate_fragments(ds.PixelData))[1:]


def with_fragments(ds, frags, bot=None):
    ds = copy.deepcopy(ds)
    if bot is None:
        ds.PixelData = encapsulate(frags, has_bot=False)
    else:
        # encapsulate() writes a consistent table; this one is written by hand.
        body = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(f)) + f for f in frags)
        table = struct.pack("<HHI", 0xFFFE, 0xE000, 4 * len(bot)) + b"".join(struct.pack("<I", o) for o in bot)
        ds.PixelData = table + body + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    ds["PixelData"].is_undefined_length = True
    return ds


def phantom_slices(lungdesk):
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([lungdesk, "phantom", "--out", str(tmp / "p"), "--size", "32x24x4"], check=True, capture_output=True)
    files = sorted((tmp / "p").rglob("*.dcm"))
    return [pydicom.dcmread(f) for f in files], tmp


def plan_record(rows, cols, position, orientation, spacing, thickness, flags=0):
    return struct.pack("<HHBB", rows, cols, 1, flags) + struct.pack("<3d", *position) + struct.pack(
        "<6d", *orientation) + struct.pack("<2d", *spacing) + struct.pack("<d", thickness)


def main():
    lungdesk = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "lungdesk")
    # Files are overwritten, never deleted: inputs the fuzzer found (found-*) stay beside them.
    slices, tmp = phantom_slices(lungdesk)
    axial = [1, 0, 0, 0, 1, 0]

    # --- lossless_jpeg: raw streams.
    ricord = pydicom.dcmread(sorted(RICORD.glob("*.dcm"))[0])
    stream = b"".join(fragments(ricord))
    sv1 = pydicom.dcmread(TS / "CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm")
    write(SEEDS / "lossless_jpeg", "ricord-1-001.jpg", stream)
    write(SEEDS / "lossless_jpeg", "ctimage-sv1.jpg", b"".join(fragments(sv1)))
    at = stream.index(b"\xff\xc4")
    seg_len = struct.unpack(">H", stream[at + 2:at + 4])[0]
    def with_dht(counts, symbols):
        seg = b"\xff\xc4" + struct.pack(">H", 2 + 17 + len(symbols)) + b"\x00" + bytes(counts) + bytes(symbols)
        return stream[:at] + seg + stream[at + 2 + seg_len:]
    write(REGRESSIONS / "lossless_jpeg", "huffman-three-1-bit-codes.jpg", with_dht([3] + [0] * 15, [0, 1, 2]))
    write(REGRESSIONS / "lossless_jpeg", "huffman-12-bit-code-past-full.jpg", with_dht([2] + [0] * 10 + [1] + [0] * 4, [0, 1, 0]))
    write(REGRESSIONS / "lossless_jpeg", "truncated-stream.jpg", stream[: len(stream) * 2 // 3])

    # --- one_file: whole files.
    for name in ["CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm",
                 "CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm",
                 "CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm"]:
        write(SEEDS / "one_file", name, (TS / name).read_bytes())
    write(SEEDS / "one_file", "phantom-slice.dcm", dcm_bytes(slices[0]))
    out = REGRESSIONS / "one_file"
    def edited(ds, **values):
        ds = copy.deepcopy(ds)
        for k, v in values.items():
            setattr(ds, k, v)
        return dcm_bytes(ds)
    write(out, "rows-0.dcm", edited(slices[0], Rows=0))
    write(out, "rows-columns-65535.dcm", edited(slices[0], Rows=65535, Columns=65535))
    write(out, "bits-stored-0.dcm", edited(slices[0], BitsStored=0))
    write(out, "bits-stored-over-allocated.dcm", edited(slices[0], BitsStored=17))
    write(out, "rescale-slope-0.dcm", edited(slices[0], RescaleSlope="0"))
    write(out, "rescale-slope-1e30.dcm", edited(slices[0], RescaleSlope="1e30"))
    # Patient's Age "61歳" in UTF-8 (6 bytes with the pad), patched into the written bytes.
    aged = copy.deepcopy(slices[0])
    aged.SpecificCharacterSet = "ISO_IR 192"
    aged.PatientAge = "QQQQQQ"
    write(out, "patient-age-multibyte.dcm", dcm_bytes(aged).replace(b"QQQQQQ", "61歳 ".encode("utf-8")))
    write(out, "zero-orientation.dcm", edited(slices[0], ImageOrientationPatient=[0] * 6))
    write(out, "pixel-spacing-1e-308.dcm", edited(slices[0], PixelSpacing=["1e-308", "1e-308"]))
    frag = fragments(ricord)[0]
    bot = with_fragments(ricord, [frag, frag], bot=[8 + len(frag), 0])
    bot.NumberOfFrames = 2
    write(out, "basic-offset-table-decreasing.dcm", dcm_bytes(bot))
    write(out, "lossless-jpeg-cut-short.dcm", dcm_bytes(with_fragments(ricord, [frag[: len(frag) * 2 // 3 & ~1]])))
    rle = pydicom.dcmread(TS / "CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm")
    rle_frag = fragments(rle)[0]
    write(out, "rle-cut-short.dcm", dcm_bytes(with_fragments(rle, [rle_frag[: len(rle_frag) // 3 & ~1]])))
    huge = bytearray(rle_frag)
    huge[0:4] = struct.pack("<I", 15)
    for s in range(1, 16):
        huge[4 * s:4 * s + 4] = struct.pack("<I", 0x7FFF_FFF0 + s)
    write(out, "rle-header-segments-past-end.dcm", dcm_bytes(with_fragments(rle, [bytes(huge)])))
    for name, tag in [("CTImage.dcm_JPEGProcess1TransferSyntax_1.2.840.10008.1.2.4.50.dcm", "jpeg"),
                      ("CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm", "jpeg2000"),
                      ("CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm", "jpeg-ls")]:
        ds = pydicom.dcmread(TS / name)
        write(out, f"{tag}-rows-columns-disagree-with-codestream.dcm", edited(ds, Rows=64, Columns=64))
    # One tampered 32-bit length: Pixel Data declares ~4 GB in a small file.
    raw = bytearray(dcm_bytes(slices[0]))
    at = raw.rindex(b"\xe0\x7f\x10\x00")
    raw[at + 8:at + 12] = struct.pack("<I", 0xFFFF_FFF0)
    write(out, "pixel-data-length-4-gb.dcm", bytes(raw))

    # --- plan: 100-byte records (see lungdesk_volume::fuzzing::plan).
    def records(zs, orientation=axial, spacing=(0.7, 0.7)):
        return b"".join(plan_record(24, 32, (0.0, 0.0, z), orientation, spacing, 1.0) for z in zs)
    write(SEEDS / "plan", "axial-10.bin", records([float(z) for z in range(10)]))
    write(SEEDS / "plan", "gap.bin", records([0.0, 1.0, 2.0, 4.0, 5.0]))
    out = REGRESSIONS / "plan"
    write(out, "position-1e308.bin", records([0.0, 1.0, 2.0, 3.0, 1e308]))
    write(out, "slice-100-m-away.bin", records([0.0, 1.0, 2.0, 3.0, 100_000.0]))
    write(out, "slice-10-m-away.bin", records([0.0, 1.0, 2.0, 3.0, 10_000.0]))
    write(out, "zero-orientation.bin", records([0.0, 1.0, 2.0], orientation=[0.0] * 6))
    write(out, "parallel-orientation.bin", records([0.0, 1.0, 2.0], orientation=[1.0, 0, 0, 1.0, 0, 0]))
    write(out, "spacing-1e-308.bin", records([0.0, 1.0, 2.0], spacing=(1e-308, 1e-308)))
    write(out, "nan-positions.bin", records([0.0, float("nan"), float("inf")]))

    # --- folder: files joined by LDFUZZ/.
    join = lambda parts: b"LDFUZZ/".join(parts)
    write(SEEDS / "folder", "phantom-4-slices.bin", join([dcm_bytes(s) for s in slices]))
    out = REGRESSIONS / "folder"
    write(out, "pixel-spacing-1e-308.bin", join([edited(s, PixelSpacing=["1e-308", "1e-308"]) for s in slices]))
    write(out, "slice-thickness-1e-308-single.bin", edited(slices[0], SliceThickness="1e-308"))
    write(out, "blank-series-uid.bin", join([edited(s, SeriesInstanceUID="") for s in slices]))
    far = copy.deepcopy(slices[3])
    far.ImagePositionPatient = [0, 0, 100000]
    write(out, "slice-100-m-away.bin", join([dcm_bytes(s) for s in slices[:3]] + [dcm_bytes(far)]))
    rows0 = [edited(slices[0], Rows=0)] + [dcm_bytes(s) for s in slices[1:]]
    write(out, "rows-0-in-a-series.bin", join(rows0))

    # --- sync_payload: JSON.
    label = {"schema": "lungdesk-label/1", "case_key": "0123456789abcdef", "site_code": "NAGOYA-U",
             "facility_postal_code": "466-8550", "exam_date": "2026-03-01", "age_years": 60, "sex": "M",
             "reader_id": "R-0042", "grade": 1, "pcr": "positive", "findings": ["crazy_paving"], "ai_grade": 1,
             "ai_models": ["lungdesk-lung 1.0.0"], "revision": 1, "confirmed_at": "2026-03-02T10:00:00Z"}
    write(SEEDS / "sync_payload", "one.json", json.dumps(label).encode())
    write(SEEDS / "sync_payload", "batch.json", json.dumps([label, dict(label, revision=2, grade=2)]).encode())
    write(REGRESSIONS / "sync_payload", "multibyte-fields.json",
          json.dumps(dict(label, reader_id="読影医" * 30, site_code="名大")).encode())
    shutil.rmtree(tmp)
    total = sum(f.stat().st_size for d in (SEEDS, REGRESSIONS) for f in d.rglob("*") if f.is_file())
    print(f"seeds and regressions: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
