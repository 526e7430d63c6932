"""tracemalloc size of cached answers (k=10, k=100) against serving.service.answer_bytes:
python docs/scripts/cache_size.py."""
import tracemalloc, copy
from liverec.serving.results import Recommendation, RecommendationResult
from liverec.serving.service import answer_bytes
def make(k):
    items = [Recommendation(f"{1000+i}", f"Some Film Title Number {i} (1995)", ["Drama", "Comedy"], 0.123456 + i, [f"because you watched Another Film {i}", "popular this week"]) for i in range(k)]
    return RecommendationResult("", items, "20261201T000000.000000Z", [], False, False, 1.234, {"itemcf": 0.5, "pop": 0.1})
for k in (10, 100):
    tracemalloc.start()
    s0 = tracemalloc.get_traced_memory()[0]
    keep = [make(k) for _ in range(200)]
    s1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(k, "measured per answer", (s1 - s0) / 200, "estimate", answer_bytes(keep[0]))
