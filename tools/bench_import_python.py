"""What a site would script instead of LungDesk's import: walk a folder tree, read every
file's header with pydicom (stop_before_pixels), group CT series by Series Instance UID and
insert one row per series into SQLite. Prints the seconds taken.

    python3 tools/bench_import_python.py TREE OUT.sqlite
"""

import os
import sqlite3
import sys
import time

import pydicom


def main(root, db):
    start = time.perf_counter()
    series = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue
            if getattr(ds, "Modality", "") != "CT":
                continue
            s = series.setdefault(ds.SeriesInstanceUID, {
                "study": ds.StudyInstanceUID,
                "date": getattr(ds, "StudyDate", None),
                "age": getattr(ds, "PatientAge", None),
                "sex": getattr(ds, "PatientSex", None),
                "files": [],
            })
            s["files"].append(path)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS series (uid TEXT PRIMARY KEY, study TEXT, date TEXT, age TEXT, sex TEXT, files TEXT)")
    for uid, s in series.items():
        with con:
            con.execute("INSERT OR IGNORE INTO series VALUES (?, ?, ?, ?, ?, ?)",
                        (uid, s["study"], s["date"], s["age"], s["sex"], "\n".join(s["files"])))
    con.close()
    print(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
