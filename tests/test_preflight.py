"""The paper run's pre-flight names every missing thing, one message each, before the first job."""

from pathlib import Path

from slm_posttrain import preflight


def _config(tmp_path, **over):
    config = {
        "results_dir": str(tmp_path / "results"),
        "offline": True,
        "zoo": {"big": {"kind": "hf_folder", "path": "Org/Big-Model"}},
        "sources": [{"name": "d", "hf_id": "Org/data"}],
        "models": {"base": "big", "large": {"name": "big", "backend": "vllm"}},
        "preflight": {"enabled": True, "min_free_gb": 0},
    }
    config.update(over)
    return config


def test_missing_vllm_cache_and_disk_are_each_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: type("U", (), {"free": 1e9})())
    monkeypatch.setenv("SLM_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    found = preflight.problems(_config(tmp_path, preflight={"enabled": True, "min_free_gb": 50}))
    assert len(found) == 4, found
    assert "vLLM" in found[0] and "large" in found[0]
    assert any("model Org/Big-Model" in m and "not in the local cache" in m for m in found)
    assert any("dataset Org/data" in m and "--repo-type dataset" in m for m in found)
    assert "1 GB free" in found[-1] and "50 GB" in found[-1]


def test_filled_cache_and_no_vllm_role_pass(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for kind, repo in (("model", "Org/Big-Model"), ("dataset", "Org/data")):
        (Path(c.HF_HUB_CACHE) / f"{kind}s--{repo.replace('/', '--')}" / "snapshots" / "abc").mkdir(parents=True)
    config = _config(tmp_path, models={"base": "big", "large": {"name": "big", "backend": "transformers"}})
    assert preflight.problems(config) == []


def test_rehearsal_seeding_its_own_cache_skips_the_hub_check(tmp_path):
    config = _config(tmp_path, models={"base": "big"}, hub_stand_ins={"models": {}})
    assert preflight.problems(config) == []
