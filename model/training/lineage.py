"""All the training behind a generator file, across warm starts.

A decoder warm-started from another generator inherits that file's training: its header's own totals
become a stage of the new file's `lineage`, after the stages it inherited itself. So a shipped file
states every run behind it (device, CPU-hours, wall-hours, photos seen) even when the run folders that
made it live on other machines."""

from __future__ import annotations

from typing import Any


def stage_of(info: dict[str, Any], source: str) -> dict[str, Any]:
    """One run's totals, as its generator header states them; `source` names the file they came from.
    Files written before devices were recorded say "unrecorded" (never guessed)."""
    return {
        "from": source,
        "device": info.get("device", "unrecorded"),
        "cpu_hours": float(info.get("cpu_hours", 0.0)),
        "wall_hours": info.get("wall_hours"),
        "images_seen": int(info.get("images_seen", 0)),
    }


def inherited(init_info: dict[str, Any], init_name: str) -> list[dict[str, Any]]:
    """The stages before a run that warm-starts from the generator whose header info is `init_info`."""
    return [*init_info.get("lineage", []), stage_of(init_info, init_name)]


def totals(info: dict[str, Any]) -> dict[str, Any]:
    """The training behind a generator file: its lineage plus its own run. CPU-hours are process time
    and are summed per device type, since an hour of a GPU machine's CPU is not an hour of training on
    a CPU; wall-hours likewise where recorded."""
    stages = [*info.get("lineage", []), stage_of(info, "this file")]
    by_device: dict[str, dict[str, float]] = {}
    for s in stages:
        d = by_device.setdefault(s["device"], {"cpu_hours": 0.0, "wall_hours": 0.0})
        d["cpu_hours"] = round(d["cpu_hours"] + s["cpu_hours"], 3)
        if s.get("wall_hours") is not None:
            d["wall_hours"] = round(d["wall_hours"] + float(s["wall_hours"]), 3)
    return {"runs": len(stages), "images_seen": sum(s["images_seen"] for s in stages), "by_device": by_device}


def describe(info: dict[str, Any]) -> str:
    """One line for people: '3 runs, 771,424 photos seen; cpu: 5.06 CPU-hours; cuda: 0.17 wall-hours'."""
    t = totals(info)
    parts = [f"{t['runs']} run{'s' if t['runs'] != 1 else ''}, {t['images_seen']:,} photos seen"]
    for device, d in t["by_device"].items():
        if device == "cpu":
            parts.append(f"cpu: {d['cpu_hours']:.2f} CPU-hours")
        elif d["wall_hours"]:
            parts.append(f"{device}: {d['wall_hours']:.2f} wall-hours")
        else:
            parts.append(f"{device}: {d['cpu_hours']:.2f} process CPU-hours")
    return "; ".join(parts)
