"""Rule label: a two-level "Primary-Secondary" label per instruction from the labeler model, streamed."""
from collections import Counter

from tqdm import tqdm

from slm_posttrain.cache import RequestCache
from slm_posttrain.labeling import UNKNOWN, label_stream
from slm_posttrain.lm import load_lm
from slm_posttrain.records import StageStats, count_lines, iter_jsonl, write_jsonl
from slm_posttrain.runtime import log_stats, setup

smk = snakemake  # noqa: F821
log = setup(smk, "label")
settings = smk.params.settings
stats = StageStats("labeled")
lm = load_lm(smk.params.role, smk.params.models_dir)
records = tqdm(iter_jsonl(smk.input.data, required=("id", "instruction")), total=count_lines(smk.input.data),
               desc="label", unit="rec")
histogram = Counter()


def counted(stream):
    for record in stream:
        histogram[record["label"]] += 1
        yield record


stats.records_out = write_jsonl(smk.output.data, counted(label_stream(lm, records, settings, RequestCache(smk.params.cache),
                                                                      smk.params.chunk)))
stats.records_in = stats.records_out
stats.details.update(mode=settings["mode"], calibrated=settings.get("calibrate", True), labeler=lm.name, labeler_content_id=lm.content_id,
                     unparsable_labeled_unknown=histogram.get(UNKNOWN, 0), histogram=dict(histogram.most_common()))
stats.write(smk.output.stats)
log_stats(log, stats)
