# Independent recomputation of HR@K and NDCG@K from `liverec evaluate --dump-recs DIR` files.
"""Reads only DIR/targets.tsv (user, held-out item) and DIR/<model>.tsv (user, rank, item):
no liverec import, so the figures do not depend on the code that produced them.

python docs/scripts/recompute_metrics.py DIR [MODEL ...]
"""

import math
import sys
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1])
    targets = dict(
        line.split("\t") for line in (folder / "targets.tsv").read_text().splitlines() if line
    )
    models = sys.argv[2:] or sorted(p.stem for p in folder.glob("*.tsv") if p.stem != "targets")
    print(f"{len(targets)} users with a held-out item in {folder}")
    print("| model | users | HR@10 | NDCG@10 | HR@20 | NDCG@20 |\n|---|---:|---:|---:|---:|---:|")
    for model in models:
        ranks: dict[str, int] = {}
        for line in (folder / f"{model}.tsv").read_text().splitlines():
            user, rank, item = line.split("\t")
            if targets.get(user) == item:
                ranks[user] = int(rank)
        row = [model, str(len(targets))]
        for k in (10, 20):
            hits = [r for r in ranks.values() if r <= k]
            row.append(f"{len(hits) / len(targets):.4f}")
            row.append(f"{sum(1 / math.log2(r + 1) for r in hits) / len(targets):.4f}")
        print("| " + " | ".join(row[:2] + [row[2], row[3], row[4], row[5]]) + " |")


if __name__ == "__main__":
    main()
