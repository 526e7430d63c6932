"""Traffic for the README's experiment walk-through: USERS users each ask for recommendations
over HTTP and, with probability 0.3, click one of the first three items shown, then buy it
with probability 0.2 (seeded).

    python docs/scripts/experiment_traffic.py http://127.0.0.1:8000 300
"""
import json
import random
import sys
import urllib.request

base, users = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
arms: dict[str, int] = {}
for user in range(1, users + 1):
    with urllib.request.urlopen(f"{base}/v1/users/{user}/recommendations?k=10") as r:
        answer = json.load(r)
    arms[answer["arm"]] = arms.get(answer["arm"], 0) + 1
    if rng.random() < 0.3:
        item = answer["items"][rng.randrange(3)]["item_id"]
        kinds = ["click", "purchase"] if rng.random() < 0.2 else ["click"]
        for kind in kinds:
            body = json.dumps({"user_id": str(user), "item_id": item, "type": kind}).encode()
            request = urllib.request.Request(
                f"{base}/v1/events", body, {"content-type": "application/json"}, method="POST"
            )
            urllib.request.urlopen(request).close()
print(f"{users} users asked; answers per arm: {arms}")
