"""The transformer in the live service: channel, ranker, incremental state, new items, int8."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from liverec.core.privacy import Pseudonyms
from liverec.core.types import EventType
from liverec.data.dataset import Item
from liverec.events.schema import Event
from liverec.models.sasrec.encodings import UserEncodings
from liverec.serving.service import LiveService, ServiceConfig
from liverec.serving.snapshot import Snapshot
from tests.conftest import TINY_SASREC, UNHURRIED_PIPELINE, tiny_successors

# Every test runs on the session's tiny snapshot (tests/conftest.py): SASRec trained on a
# planted chain i_k -> i_(k+1), so what the transformer should pick next is known.


def encodings_of(service: LiveService) -> UserEncodings:
    found: UserEncodings = service.runtime.servables["sasrec"].info["encodings"]
    return found


def open_service(snapshot: Snapshot, pseudonyms: Pseudonyms, **config: object) -> LiveService:
    pipeline = {**UNHURRIED_PIPELINE, **config.pop("pipeline", {})}  # type: ignore[dict-item]
    cfg = ServiceConfig(**config, pipeline=pipeline)
    return LiveService.open(snapshot, config=cfg, pseudonyms=pseudonyms)


def click(user: str, item: str, ts: float | None = None) -> Event:
    return Event(user, item, EventType.CLICK, time.time() if ts is None else ts)


def transformer_rank(service: LiveService, user: str, item: str) -> int:
    """Rank (1 = top pick) of ``item`` among every item's transformer score for ``user``."""
    service.recommend(user, 10)  # brings the user's encoding up to date
    encodings = encodings_of(service)
    scores = encodings.encoder.scores(encodings._states[service.user_index(user)].encoding)
    wanted = scores[service.runtime.state.catalog.ids.index(item)]
    return int((scores > wanted).sum()) + 1


def test_snapshot_keeps_the_curve_and_both_graph_precisions(tiny_snapshot: Snapshot) -> None:
    part = tiny_snapshot.components["sasrec"]
    assert [c["epoch"] for c in part.meta["curve"]] == [1, 2]
    assert part.meta["best_epoch"] in (1, 2) and part.meta["text"] is True
    files = {p.name for p in part.directory.iterdir()}
    assert {"prefill.onnx", "step.onnx", "prefill-int8.onnx", "step-int8.onnx"} <= files
    assert part.component.config == TINY_SASREC


def test_the_transformer_retrieves_and_ranks(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    service = open_service(
        tiny_snapshot, pseudonyms, pipeline={"feature_weights": {"sasrec": 0.05}}
    )
    service.ingest([click("fresh", "i5")])
    out = service.recommend("fresh", 10)
    assert len(out.items) == 10 and not out.degraded
    assert "sasrec" in out.stage_ms and "rank" in out.stage_ms
    by_id = {it.item_id: it for it in out.items}
    assert "often chosen next after Tiny item 5" in by_id["i6"].reasons  # the successor


def test_after_a_click_the_transformers_top_pick_is_the_planted_successor(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    service = open_service(tiny_snapshot, pseudonyms)
    ranks = []
    for item, successor in tiny_successors().items():
        service.ingest([click(f"after-{item}", item, 2e9)])  # a new user, one click
        ranks.append(transformer_rank(service, f"after-{item}", successor))
    # measured on snapshots of data seeds 0-7 (fp32): the top pick for 75-98% of the items
    # and never below 4th; this one (seed 0, int8): 39 of 40, the other 2nd
    assert np.mean(np.array(ranks) == 1) >= 0.6
    assert max(ranks) <= 5


def test_new_events_are_stepped_in_and_equal_a_full_recompute(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    service = open_service(tiny_snapshot, pseudonyms, sequence_int8=False)
    encodings = encodings_of(service)
    before = service.recommend("u0", 10)
    assert encodings.prefills == 1 and encodings.steps == 0
    picked = [i.item_id for i in before.items[:3]]
    service.ingest([click("u0", i, 2e9 + n) for n, i in enumerate(picked)])
    after = service.recommend("u0", 10)
    assert encodings.prefills == 1 and encodings.steps == 3  # no recompute on the request path
    assert not set(picked) & {i.item_id for i in after.items}
    u = service.user_index("u0")
    stepped = encodings._states[u].encoding.copy()
    context = tiny_snapshot.components["sasrec"].component.config.context
    h = service.runtime.state.histories.history(u, context + 1)
    full = encodings.encoder.prefill(h.items, h.ts)
    assert full is not None
    np.testing.assert_allclose(stepped, full.encoding, atol=1e-5)


def test_a_new_item_has_a_transformer_vector_from_its_text(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    service = open_service(tiny_snapshot, pseudonyms)
    service.upsert_item(Item("new-1", "Tiny item 3 returns", genres=("Western",)))
    service.ingest([click("fresh", "i3"), click("fresh", "new-1")])  # i3, then its sequel
    out = service.recommend("fresh", 10)
    assert encodings_of(service).encoder.n_items == tiny_snapshot.n_items + 1
    assert len(out.items) == 10 and not out.degraded


def test_int8_and_fp32_graphs_rank_alike(tiny_snapshot: Snapshot, pseudonyms: Pseudonyms) -> None:
    users = [f"u{u}" for u in range(40)]
    a, b = (
        open_service(tiny_snapshot, pseudonyms),
        open_service(tiny_snapshot, pseudonyms, sequence_int8=False),
    )
    overlap = [
        len(
            {i.item_id for i in a.recommend(u, 10).items}
            & {i.item_id for i in b.recommend(u, 10).items}
        )
        / 10
        for u in users
    ]
    assert np.mean(overlap) > 0.8


def test_by_default_the_transformer_ranks_through_fusion_only(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    # the ranker stage measured worse on the validation replay at every weight tried
    service = open_service(tiny_snapshot, pseudonyms)
    out = service.recommend("u0", 10)
    assert service.runtime.pipeline.config.feature_weights["sasrec"] == 0.0
    assert "sasrec" in out.stage_ms


def test_batched_refresh_equals_per_request_updates(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms
) -> None:
    batched = open_service(tiny_snapshot, pseudonyms, sequence_int8=False)
    single = open_service(tiny_snapshot, pseudonyms, sequence_int8=False)
    users = ["u1", "u2", "u3", "u4", "u5"]
    for svc in (batched, single):
        for u in users:
            svc.recommend(u, 10)  # state after the snapshot's history
        svc.ingest([click(u, i, 2e9 + n) for u in users for n, i in enumerate(["i5", "i6"])])
    assert batched.prepare(users) == 2  # two events each: two batched steps for all five
    enc_b, enc_s = encodings_of(batched), encodings_of(single)
    for u in users:
        single.recommend(u, 10)
        idx = batched.user_index(u)
        np.testing.assert_allclose(
            enc_b._states[idx].encoding, enc_s._states[idx].encoding, atol=1e-5
        )
    assert enc_b.steps == enc_s.steps == 10
    assert batched.prepare(users) == 0  # nothing new: nothing to run


def test_http_recommendations_go_through_the_micro_batcher(
    tiny_snapshot: Snapshot, pseudonyms: Pseudonyms, tmp_path: Path
) -> None:
    import asyncio

    import httpx2 as httpx

    from liverec.api.app import create_app
    from liverec.config import Settings

    service = open_service(tiny_snapshot, pseudonyms)
    assert service.config.micro_batch  # the default
    app = create_app(Settings(home=tmp_path, watch_snapshots_s=0), service=service)

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.post(
                    "/v1/events",
                    json={"events": [{"user_id": u, "item_id": "i5", "type": "click"}
                                     for u in ("u1", "u2", "u3")]},
                )  # fmt: skip
                return await asyncio.gather(
                    *(client.get(f"/v1/users/{u}/recommendations?k=5") for u in ("u1", "u2", "u3"))
                )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a fresh thread: no event loop may run in it yet
        responses = pool.submit(asyncio.run, main()).result()
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(len(r.json()["items"]) == 5 for r in responses)
    batcher = app.state.batcher
    assert batcher.batched == 3 and batcher.batches <= 3
