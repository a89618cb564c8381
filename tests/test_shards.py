"""Shard ranges, gathering in input order, and stats that add up across shards."""

import json

import pytest

from slm_posttrain.shards import (
    cache_file,
    gather_files,
    iter_shard,
    merge_stats,
    shard_bounds,
)


def test_shards_cover_the_input_once_in_order(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i}) + "\n" + ("\n" if i == 3 else "") for i in range(10)))
    for shards in (1, 3, 4, 10, 12):
        ids, parts = [], []
        for k in range(shards):
            records, n = iter_shard(path, k, shards)
            got = [r["id"] for r in records]
            assert len(got) == n
            ids += got
            part = tmp_path / f"part{k}.jsonl"
            part.write_text("".join(json.dumps(r) + "\n" for r in iter_shard(path, k, shards)[0]))
            parts.append(part)
        assert ids == list(range(10)), shards
        gather_files(parts, tmp_path / "out.jsonl")
        assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == list(range(10))
    assert shard_bounds(10, 2, 3) == (6, 10)
    with pytest.raises(ValueError, match="outside"):
        shard_bounds(10, 3, 3)
    assert cache_file("c", "label", 0, 1).name == "label.sqlite"
    assert cache_file("c", "label", 1, 3).name == "label.1-of-3.sqlite"


def _stats(n_in, out, dropped, unknown, usage):
    return {"stage": "scored", "records_in": n_in, "records_out": out, "dropped": dropped,
            "dropped_total": sum(dropped.values()), "judge": "m", "replies_scored": unknown,
            "histograms": {"safety": {"1.0": unknown}}, "model_usage": {"large": usage}}


def test_merged_stats_add_up_per_reason_and_role():
    usage = {"requests": 4, "model_calls": 2, "prompt_tokens": 40, "generated_tokens": 8,
             "by_kind": {"generate": {"requests": 4, "model_calls": 2, "prompt_tokens": 40, "generated_tokens": 8}}}
    parts = [_stats(5, 4, {"judge_unreadable": 1}, 3, usage), _stats(6, 6, {}, 2, usage)]
    merged = merge_stats(parts, ("replies_scored", "histograms"))
    assert merged["records_in"] == 11 == merged["records_out"] + merged["dropped_total"]
    assert merged["dropped"] == {"judge_unreadable": 1} and merged["shards"] == 2
    assert merged["histograms"] == {"safety": {"1.0": 5}} and merged["replies_scored"] == 5
    assert merged["model_usage"]["large"]["prompt_tokens"] == 80
    assert merged["model_usage"]["large"]["by_kind"]["generate"]["model_calls"] == 4
    with pytest.raises(ValueError, match="disagree on judge"):
        merge_stats([parts[0], {**parts[1], "judge": "other"}])
