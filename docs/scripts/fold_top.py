"""Self and inclusive shares of a py-spy raw (folded) profile, optionally only stacks that
pass through a frame: python docs/scripts/fold_top.py PROFILE.folded [FRAME-SUBSTRING]."""

import sys
from collections import Counter

own: Counter[str] = Counter()
inclusive: Counter[str] = Counter()
total = 0
only = sys.argv[2] if len(sys.argv) > 2 else ""
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    frames = stack.split(";")
    if only and not any(only in f for f in frames):
        continue
    total += int(n)
    own[frames[-1]] += int(n)
    for f in set(frames):
        inclusive[f] += int(n)
print("samples", total)
for f, n in own.most_common(25):
    print(f"self {n / total:6.1%} {f[:140]}")
for f, n in inclusive.most_common(80):
    if "liverec" in f or "faiss" in f:
        print(f"incl {n / total:6.1%} {f[:140]}")
