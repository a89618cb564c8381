"""Issue 16: the request caches of label / replies / score key on the model's content, so a model
swapped behind the same name and path never gets its predecessor's answers."""

import copy
import json
import shutil

import pytest
import yaml
from conftest import REPO

from slm_posttrain.cache import RequestCache
from slm_posttrain.fingerprint import model_digest
from slm_posttrain.labeling import label_stream
from slm_posttrain.lm import TransformersLM
from slm_posttrain.records import write_jsonl
from slm_posttrain.replies import generate_replies
from slm_posttrain.scoring import score_stream

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
RECORDS = [{"id": f"r{i}", "instruction": q, "input": "", "output": f"reply {i}"}
           for i, q in enumerate(["What is 2+2?", "写一首关于春天的诗", "Name a prime number.",
                                  "How do I bake bread?"])]


@pytest.fixture
def swappable(tmp_path, tiny_model, tiny_model_b):
    """models/m holds model A; swap() puts model B's files at the same path (as a retrain would)."""
    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "m")

    def swap():
        shutil.rmtree(models / "m")
        shutil.copytree(tiny_model_b, models / "m")

    return models, swap


def test_model_digest_follows_content_not_path(tmp_path, tiny_model, tiny_model_b):
    shutil.copytree(tiny_model, tmp_path / "copy")
    assert model_digest(tmp_path / "copy") == model_digest(tiny_model) != model_digest(tiny_model_b)


def _label(lm, cache):
    return [r["label_confidence"] for r in label_stream(lm, copy.deepcopy(RECORDS), CONFIG["labeling"], cache)]


def test_label_cache_is_not_reused_for_a_swapped_model(swappable, tmp_path, tiny_model_b):
    models, swap = swappable
    cache = RequestCache(tmp_path / "label.sqlite")
    _label(TransformersLM(models / "m"), cache)
    rows = len(cache)
    swap()
    after = _label(TransformersLM(models / "m"), cache)
    assert len(cache) == 2 * rows  # every request computed again under the new model's key
    assert after == _label(TransformersLM(tiny_model_b), RequestCache(None))


def test_replies_cache_is_not_reused_for_a_swapped_model(swappable, tmp_path, tiny_model_b):
    models, swap = swappable
    data = tmp_path / "balanced.jsonl"
    write_jsonl(data, RECORDS)
    roles = {"large": {"name": "m", "backend": "transformers", "options": {"batch_size": 4}}}
    generation = {"large": {"max_new_tokens": 6, "temperature": 0.0}}

    def replies(models_dir, cache_dir):
        stream, details = generate_replies(data, roles, generation, cache_dir, {"large": models_dir / "m"})
        return [[r["text"] for r in rec["replies"]] for rec in stream], details

    first, details_a = replies(models, tmp_path / "cache")
    swap()
    after, details_b = replies(models, tmp_path / "cache")
    assert details_a["model_sha256"]["large"] != details_b["model_sha256"]["large"]
    fresh_models = tmp_path / "fresh"
    shutil.copytree(tiny_model_b, fresh_models / "m")
    assert after == replies(fresh_models, tmp_path / "fresh_cache")[0]
    assert len(RequestCache(tmp_path / "cache" / "replies_large.sqlite")) == 2 * len(RECORDS)


def test_score_cache_is_not_reused_for_a_swapped_model(swappable, tmp_path, tiny_model_b):
    models, swap = swappable
    records = [{**r, "replies": [{"origin": "original", "text": r["output"]}, {"origin": "large", "text": "ok"}]}
               for r in RECORDS]

    def score(lm, cache):
        out = score_stream(lm, copy.deepcopy(records), CONFIG["scoring"], cache)
        return json.dumps([rec["replies"] for rec in out], sort_keys=True)

    cache = RequestCache(tmp_path / "score.sqlite")
    score(TransformersLM(models / "m"), cache)
    rows = len(cache)
    swap()
    after = score(TransformersLM(models / "m"), cache)
    assert len(cache) == 2 * rows
    assert after == score(TransformersLM(tiny_model_b), RequestCache(None))
