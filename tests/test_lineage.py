"""The training behind a generator file, summed across warm starts (model/training/lineage.py)."""

from __future__ import annotations

from model.training.lineage import describe, inherited, stage_of, totals


def test_a_chain_of_warm_starts_sums_per_device() -> None:
    gpu = {"device": "cuda", "cpu_hours": 0.4, "wall_hours": 0.11, "images_seen": 456_000, "lineage": []}
    ft = {"device": "cpu", "cpu_hours": 0.8, "wall_hours": 0.5, "images_seen": 22_000}
    ft["lineage"] = inherited(gpu, "gpu.safetensors")
    last = {"device": "cpu", "cpu_hours": 4.2, "wall_hours": 2.2, "images_seen": 60_000}
    last["lineage"] = inherited(ft, "ft.safetensors")

    assert [s["from"] for s in last["lineage"]] == ["gpu.safetensors", "ft.safetensors"]
    t = totals(last)
    assert t["runs"] == 3 and t["images_seen"] == 538_000
    assert t["by_device"]["cpu"] == {"cpu_hours": 5.0, "wall_hours": 2.7}
    assert t["by_device"]["cuda"] == {"cpu_hours": 0.4, "wall_hours": 0.11}  # not counted as CPU training
    assert describe(last) == "3 runs, 538,000 photos seen; cuda: 0.11 wall-hours; cpu: 5.00 CPU-hours"


def test_a_file_from_before_devices_were_recorded_is_not_guessed() -> None:
    old = {"cpu_hours": 0.218, "images_seen": 284_672}  # a header without device or wall time
    assert stage_of(old, "old.safetensors") == {
        "from": "old.safetensors",
        "device": "unrecorded",
        "cpu_hours": 0.218,
        "wall_hours": None,
        "images_seen": 284_672,
    }
    assert describe({"device": "cpu", "cpu_hours": 1.0, "images_seen": 10, "lineage": inherited(old, "o")}) == (
        "2 runs, 284,682 photos seen; unrecorded: 0.22 process CPU-hours; cpu: 1.00 CPU-hours"
    )
