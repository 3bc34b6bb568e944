"""The ingest flow on a real (temporary) Prefect server, on the bundled sample."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_ingest_flow_loads_the_default_streams_and_publishes(prefect_server, settings, monkeypatch):
    monkeypatch.setenv("AAITI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AAITI_SAMPLE_DIR", str(settings.sample_dir))
    from prefect.client.orchestration import get_client

    from flows.ingest import ingest_flow

    state = ingest_flow(return_state=True)
    assert state.is_completed()
    rows = state.result()
    assert {r["stream"] for r in rows} == {"coinbase:BTC/USD:4h", "coinbase:ETH/USD:4h"}
    assert all(r["status"] == "ok" and r["inserted"] > 18_000 for r in rows)

    from aaiti.warehouse import Warehouse

    con = Warehouse.from_settings(settings).read()
    counts = dict(con.execute("SELECT symbol, count(*) FROM raw.ohlcv GROUP BY 1").fetchall())
    con.close()
    assert counts == {r["stream"].split(":")[1]: r["inserted"] for r in rows}

    # the next run replays the next bar of each stream
    second = ingest_flow(return_state=True).result()
    assert [r["inserted"] for r in second] == [1, 1]
    # each top-level run recorded the settings it used; nothing changed in between
    con = Warehouse.from_settings(settings).read()
    audited = con.execute("SELECT run, changed FROM audit.run_settings ORDER BY recorded_at")
    runs = audited.fetchall()
    con.close()
    assert len(runs) == 2 and all(r.startswith("ingest ") for r, _ in runs)
    assert runs[1][1] == "{}"

    import asyncio

    async def artifact():
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-summary"]))
            )
            return found

    found = asyncio.run(artifact())
    assert found and "coinbase:BTC/USD:4h" in str(found[0].data)
