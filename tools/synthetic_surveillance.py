"""Posts SYNTHETIC labels and AI reads to a running lungdesk-cloud, for pictures and demos of
the Surveillance tab. Nothing here is real: made-up cases over 60 exam days at two sites, a
wave of typical cases, and at NAGOYA-U a "new scanner" for ten days during which the AI
mostly disagrees with the readers (so the drift monitor withholds its counts there).

    python3 tools/synthetic_surveillance.py URL NAGOYA_READER_TOKEN OSAKA_READER_TOKEN

Standard library only. The tokens must be reader tokens of R-A at NAGOYA-U and R-O at OSAKA-U.
"""

import datetime
import json
import math
import random
import sys
import urllib.error
import urllib.request


def post(url, token, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"{path}: {e.code} {e.read().decode()}")


def main():
    url, nagoya, osaka = sys.argv[1:4]
    rng = random.Random(2026)
    start = datetime.date(2026, 9, 1)
    n = 0
    for site, token, reader, postal, scale, label_share in [("NAGOYA-U", nagoya, "R-A", "466-8560", 90, 0.5),
                                                            ("OSAKA-U", osaka, "R-O", "565-0871", 40, 0.02)]:
        labels, reads = [], []
        for d in range(60):
            day = (start + datetime.timedelta(days=d)).isoformat()
            wave = math.exp(-((d - 32) / 11.0) ** 2)
            for _ in range(rng.randint(scale // 2, scale)):
                n += 1
                truth = rng.choices([1, 2, 3, 4], weights=[0.1 + 0.7 * wave, 0.15, 0.1, 0.65 - 0.5 * wave])[0]
                scanner = site == "NAGOYA-U" and 38 <= d < 48
                agree = 0.25 if scanner else 0.85
                ai = truth if rng.random() < agree else rng.choice([g for g in (1, 2, 3, 4) if g != truth])
                cannot = scanner and rng.random() < 0.3
                key = f"{n:016x}"
                common = {"case_key": key, "site_code": site, "facility_postal_code": postal, "exam_date": day,
                          "age_years": rng.choice([20, 30, 40, 50, 60, 70, 80, 90]), "sex": rng.choice(["F", "M"])}
                reads.append({**common, "schema": "lungdesk-ai-read/1", "model_set": "bundled",
                              "model_version": "lungdesk-lung 1.0.0+lungdesk-lesion 2.0.0",
                              "models": ["lungdesk-lung 1.0.0", "lungdesk-lesion 2.0.0"],
                              "grade": None if cannot else ai, "cannot_grade": "not_chest_ct" if cannot else None,
                              "scores": [0.0] * 4 if cannot else [0.7 if g == ai else 0.1 for g in (1, 2, 3, 4)],
                              "involvement_percent": None, "severity_score": None,
                              "analysed_at": f"{day}T18:00:00Z"})
                if rng.random() < label_share:
                    labels.append({**common, "schema": "lungdesk-label/1", "reader_id": reader, "grade": truth,
                                   "pcr": "positive" if truth == 1 else "negative", "findings": [],
                                   "ai_grade": None if cannot else ai, "ai_models": None, "revision": 1,
                                   "confirmed_at": f"{day}T20:00:00Z"})
        for i in range(0, len(labels), 400):
            post(url, token, "/v1/labels/batch", labels[i:i + 400])
        for i in range(0, len(reads), 400):
            post(url, token, "/v1/ai-reads/batch", reads[i:i + 400])
        print(f"{site}: {len(reads)} SYNTHETIC AI reads, {len(labels)} SYNTHETIC labels")


if __name__ == "__main__":
    main()
