"""Language-model backends behind one interface, `LanguageModel`.

- `TransformersLM`: in-process, batched and length-sorted, CPU or GPU; generation and log-probabilities.
- `VllmLM`: vLLM offline engine (GPU); generation and log-probabilities.
- `OpenAIChatLM`: any OpenAI-compatible HTTP endpoint (vLLM/SGLang/llama.cpp server, hosted APIs);
  generation only. The API key is read from the environment variable the config names, never logged.

`cached_generate` / `cached_logprobs` put a per-request cache in front of any backend. Cache keys
carry the backend's `content_id`, a digest of the model folder's files (config, weights, tokenizer),
never its name or path: a model retrained or re-materialized under the same name gets new keys.

A role whose stage needs log-probabilities (perplexity, choice-mode labels and verdicts) on a backend
without them is refused when the config is validated (`check_role_backends`), not mid-run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from tqdm.auto import tqdm

from .cache import RequestCache, cache_key
from .decoding import FINISH_REASONS, decoded_generation, generation, partial_character_ids, strip_replacements
from .fingerprint import model_digest
from .usage import count_tokens, usage_of

Messages = list[dict]


class LanguageModel(ABC):
    """What every backend implements: a name, a content identity (the request caches' key: a digest of
    the model's files, or an endpoint's identity) and chat generation. A backend that can also score
    text sets `has_logprobs` and implements `render` (a chat as the prompt text its model reads) and
    `logprobs`; the others refuse both with a message naming the backend."""

    has_logprobs: ClassVar[bool] = False
    reply_repetition_penalty: ClassVar[bool] = False  # generation params' repetition_penalty, on the reply alone
    name: str
    content_id: str

    @abstractmethod
    def generations(self, conversations: Sequence[Messages], params: dict, desc: str = "generate") -> list[dict]:
        """The reply to each conversation (params: max_new_tokens, temperature, top_p, seed) as
        decoding.generation dicts: text, finish_reason, tokens, cut_bytes, invalid_utf8, invalid_bytes."""

    def generate(self, conversations: Sequence[Messages], params: dict, desc: str = "generate") -> list[str]:
        """The replies' texts only."""
        return [g["text"] for g in self.generations(conversations, params, desc)]

    def render(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        raise NotImplementedError(f"{type(self).__name__} ({self.name}) has no chat template to render a prompt "
                                  "with: log-probability scoring needs the 'transformers' or 'vllm' backend")

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids as the model reads it: no special tokens added (a rendered chat has its own,
        and a continuation or option is read after its prefix)."""
        return [self.tokenizer(t, add_special_tokens=False).input_ids for t in texts]

    def fitted_ids(self, texts: Sequence[str], room: int | Sequence[int]) -> list[list[int]]:
        """token_ids cut to `room` tokens by fit_prompts: the same cut in every backend and stage."""
        return fit_prompts(self.token_ids(texts), room, self.name)

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str],
                 desc: str = "score") -> list[tuple[float, int]]:
        """(sum of natural-log probabilities, token count) of each continuation given its prefix."""
        raise NotImplementedError(f"{type(self).__name__} ({self.name}) gives no log-probabilities: "
                                  "log-probability scoring needs the 'transformers' or 'vllm' backend")


def _chunks(order: Sequence[int], size: int):
    for start in range(0, len(order), size):
        yield list(order[start:start + size])


def request_seed(params: dict, conversation: Messages) -> int:
    """The sampling seed of one request: from the configured seed and the request itself, never from
    its position in a batch, so a record gets the same reply however the records are batched or
    split over shards."""
    return int(cache_key("seed", int(params.get("seed", 0)), conversation)[:15], 16)


def repetition_penalty(params: dict) -> float | None:
    """The configured repetition penalty (CTRL's, on the reply's own tokens), or None where there is none
    (absent or 1). Only the transformers backend has it (check_role_backends)."""
    penalty = float(params.get("repetition_penalty", 1.0))
    return None if penalty == 1.0 else penalty


def fit_prompts(token_ids: list[list[int]], room: int | Sequence[int], name: str) -> list[list[int]]:
    """Each prompt cut to its last `room` tokens (one room for all, or one per prompt): a prompt longer
    than the model's context keeps its end (the chat template's assistant header and the end of the
    instruction), so the model still answers; both backends cut alike. The cuts are logged once per
    call with their count, never silent; vLLM would refuse the prompt, failing the whole job, and
    transformers would cut the end, leaving no assistant turn."""
    rooms = [max(1, r) for r in (room if isinstance(room, Sequence) else [room] * len(token_ids))]
    cut = sum(len(ids) > r for ids, r in zip(token_ids, rooms, strict=True))
    if cut:
        logging.getLogger(__name__).warning("%s: %d of %d prompts longer than the context (%d tokens at most), "
                                            "cut to their last tokens", name, cut, len(token_ids), max(rooms))
    return [ids[-r:] for ids, r in zip(token_ids, rooms, strict=True)]


def _per_request_sampler(torch, seeds: Sequence[int], temperature: float, top_p: float, device):
    """A logits processor that samples each row with its own generator (seeded per request) after
    temperature and top-p, and leaves only the sampled token open, so greedy search takes it.
    Written here because transformers' sampling draws the whole batch from one generator."""
    from transformers import LogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper

    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    warpers = [TemperatureLogitsWarper(temperature)] + ([TopPLogitsWarper(top_p)] if top_p < 1.0 else [])

    class PerRequestSampler(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for warper in warpers:
                scores = warper(input_ids, scores)
            probs = torch.softmax(scores.float(), dim=-1)
            picked = torch.stack([torch.multinomial(probs[row], 1, generator=g) for row, g in enumerate(generators)])
            out = torch.full_like(scores, -math.inf)
            return out.scatter_(1, picked, 0.0)

    return PerRequestSampler()


def _reply_repetition_penalty(torch, penalty: float, prompt_width: int, spared_ids: Sequence[int]):
    """CTRL's repetition penalty (transformers' processor) on the tokens the reply already holds, never the
    prompt's (which hold the end-of-turn token; a penalty on it keeps a small model from ending at all), and
    never on `spared_ids`, the tokens that are only a byte of a character (decoding.partial_character_ids):
    penalized, they push a model that spells Chinese in bytes towards bytes that are no character at all
    (docs/benchmarks.md, reply length of the demo). transformers has no exemption list, hence the wrapper."""
    from transformers import LogitsProcessor, RepetitionPenaltyLogitsProcessor

    ctrl = RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=prompt_width)
    spared_index = torch.tensor(list(spared_ids), dtype=torch.long)

    class ReplyRepetitionPenalty(LogitsProcessor):
        def __call__(self, input_ids, scores):
            penalized = ctrl(input_ids, scores)
            index = spared_index[spared_index < scores.shape[-1]].to(scores.device)
            return penalized.index_copy(1, index, scores.index_select(1, index))

    return ReplyRepetitionPenalty()


def _left_pad(torch, seqs: Sequence[Sequence[int]], pad: int):
    """(ids, attention mask, position ids) for token lists left-padded to one width: every sequence
    ends at the last column, and positions count from each sequence's own first token."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq):] = torch.tensor(seq)
        mask[row, width - len(seq):] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


class TransformersLM(LanguageModel):
    has_logprobs = True
    reply_repetition_penalty = True

    def __init__(self, path: str | Path, batch_size: int = 8, device: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, max_length: int = 2048):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"model folder {path} has no config.json (build it with the model-zoo rule)")
        self.torch = torch
        self.name = str(path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"auto": (torch.bfloat16 if self.device == "cuda" else torch.float32),
                       "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, trust_remote_code=trust_remote_code, use_safetensors=True).to(self.device)
        self.model.eval()
        self.content_id = model_digest(path)
        self.batch_size = int(batch_size)  # options may arrive as strings from `snakemake --config`
        self.max_length = int(max_length)

    def render(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def _end_ids(self) -> set[int]:
        """The tokens that end a reply: the generation config's eos ids (one or several), else the tokenizer's."""
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        return set(eos if isinstance(eos, list) else [eos]) - {None}

    def generations(self, conversations: Sequence[Messages], params: dict, desc: str = "generate") -> list[dict]:
        torch = self.torch
        prompts = self.fitted_ids([self.render(m) for m in conversations], self.max_length)
        # Length-sorted batches waste little compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        outputs: list[dict] = [{}] * len(prompts)
        end_ids = self._end_ids()
        temperature = float(params.get("temperature", 0.0))
        # Always greedy search; sampling, when asked for, happens per request in a logits processor.
        gen_kwargs = {"max_new_tokens": int(params.get("max_new_tokens", 128)), "do_sample": False,
                      "temperature": None, "top_p": None, "top_k": None, "pad_token_id": self.tokenizer.pad_token_id}
        penalty = repetition_penalty(params)
        for batch in tqdm(list(_chunks(order, self.batch_size)), desc=desc, unit="batch"):
            ids, mask, _ = _left_pad(torch, [prompts[i] for i in batch], self.tokenizer.pad_token_id)
            processors = []
            if penalty:
                processors.append(_reply_repetition_penalty(torch, penalty, ids.shape[1],
                                                            partial_character_ids(self.tokenizer)))
            if temperature > 0:
                seeds = [request_seed(params, conversations[i]) for i in batch]
                processors.append(_per_request_sampler(
                    torch, seeds, temperature, float(params.get("top_p", 1.0)), self.device))
            gen_kwargs["logits_processor"] = processors
            with torch.no_grad():
                out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                          **gen_kwargs)
            for i, row in zip(batch, out[:, ids.shape[1]:].tolist(), strict=True):
                # A row that ended early is padded after its end-of-turn token; one that did not ran to the limit.
                end = next((j for j, t in enumerate(row) if t in end_ids), None)
                outputs[i] = (decoded_generation(self.tokenizer, row, "length") if end is None
                              else decoded_generation(self.tokenizer, row[:end + 1], "stop"))
        return outputs

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str],
                 desc: str = "score") -> list[tuple[float, int]]:
        """(sum of natural-log probabilities, token count) of each continuation given its prefix."""
        torch = self.torch
        conts = [ids[: self.max_length - 1] for ids in self.token_ids(continuations)]
        prefs = self.fitted_ids(prefixes, [self.max_length - len(c) for c in conts])
        pairs = list(zip(prefs, conts, strict=True))
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        results: list[tuple[float, int]] = [(0.0, 0)] * len(pairs)
        for batch in tqdm(list(_chunks(order, self.batch_size)), desc=desc, unit="batch"):
            # Left padding puts every continuation at the end, so the vocabulary projection is
            # computed only for the last `keep` positions instead of the whole sequence.
            ids, mask, positions = _left_pad(torch, [pairs[i][0] + pairs[i][1] for i in batch],
                                             self.tokenizer.pad_token_id)
            width = ids.shape[1]
            keep = max(len(pairs[i][1]) for i in batch) + 1
            with torch.no_grad():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                    position_ids=positions.to(self.device), logits_to_keep=keep).logits
            logp = torch.log_softmax(logits.float(), dim=-1)  # (B, keep, V): position j predicts token width-keep+j+1
            for row, i in enumerate(batch):
                n = len(pairs[i][1])
                if n == 0:
                    continue
                targets = ids[row, width - n:].to(self.device)
                token_logp = logp[row, keep - 1 - n: keep - 1].gather(-1, targets[:, None]).squeeze(-1)
                results[i] = (float(token_logp.sum()), n)
        return results


    def option_logprobs(self, prefixes: Sequence[str], options: Sequence[str],
                        desc: str = "choice") -> list[list[tuple[float, int]]]:
        """Log-probabilities of every option after every prefix, each prefix encoded once.

        The prefixes (left-padded) run once; their KV cache is repeated for the options, which are
        short, so K options cost about one prefix instead of K (written by hand: transformers has no
        multiple-choice scoring over a shared prefix)."""
        torch = self.torch
        opt_ids = self.token_ids(options)
        n_opt, width_o = len(options), max(len(o) for o in opt_ids)
        pref_ids = self.fitted_ids(prefixes, self.max_length - width_o)
        order = sorted(range(len(prefixes)), key=lambda i: len(pref_ids[i]))
        results: list[list[tuple[float, int]]] = [[] for _ in prefixes]
        pad = self.tokenizer.pad_token_id
        batch_size = max(1, self.batch_size // max(1, n_opt // 2))
        for batch in tqdm(list(_chunks(order, batch_size)), desc=desc, unit="batch"):
            ids, mask, positions = _left_pad(torch, [pref_ids[i] for i in batch], pad)
            with torch.no_grad():
                out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                 position_ids=positions.to(self.device), use_cache=True, logits_to_keep=1)
                first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # (B, V): first option token
                cache = out.past_key_values
                cache.batch_repeat_interleave(n_opt)
                o_ids = torch.full((len(batch) * n_opt, width_o), pad, dtype=torch.long)
                o_mask = torch.zeros_like(o_ids)
                for k, o in enumerate(opt_ids):
                    o_ids[k::n_opt, : len(o)] = torch.tensor(o)
                    o_mask[k::n_opt, : len(o)] = 1
                full_mask = torch.cat([mask.repeat_interleave(n_opt, dim=0), o_mask], dim=1)
                o_pos = positions[:, -1:].repeat_interleave(n_opt, dim=0) + 1 + torch.arange(width_o)[None]
                rest_logits = self.model(input_ids=o_ids.to(self.device), attention_mask=full_mask.to(self.device),
                                         position_ids=o_pos.to(self.device), past_key_values=cache).logits
                rest = torch.log_softmax(rest_logits.float(), -1)
            for row, i in enumerate(batch):
                for k, o in enumerate(opt_ids):
                    flat = row * n_opt + k
                    total = float(first[row, o[0]]) + sum(float(rest[flat, j - 1, o[j]]) for j in range(1, len(o)))
                    results[i].append((total, len(o)))
        return results


def _vllm_content_id(path: str | Path) -> str:
    """A local folder is digested; a hub id is digested from its local snapshot when one is cached."""
    if Path(path).is_dir():
        return model_digest(path)
    from huggingface_hub import snapshot_download

    return model_digest(snapshot_download(str(path), local_files_only=True))


def vllm_python(python: str | None = None) -> str | None:
    """The interpreter that runs vLLM: None when `vllm` imports in this process (one environment, e.g. a
    GPU cluster's), else `python`, $SLM_VLLM_PYTHON, or this checkout's .venv-vllm (README, Setup)."""
    import importlib.util

    if python is None and importlib.util.find_spec("vllm") is not None:
        return None
    default = str(Path(__file__).resolve().parents[2] / ".venv-vllm/bin/python")
    candidate = python or os.environ.get("SLM_VLLM_PYTHON") or default
    if not Path(candidate).exists():
        raise RuntimeError(f"backend vllm: vllm is not importable here and there is no vLLM environment at {candidate} "
                           "(README, Setup: the vLLM environment; or set SLM_VLLM_PYTHON)")
    return candidate


class _VllmWorker:
    """vllm_worker.py in the vLLM environment's Python, one JSON line per request."""

    def __init__(self, python: str, options: dict):
        import subprocess

        # The worker module comes from this checkout (no install in the vLLM environment needed).
        src = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([python, "-m", "slm_posttrain.vllm_worker", json.dumps(options)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        if self._read().get("ready") is not True:
            raise RuntimeError("the vLLM worker did not start (see the log above)")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the vLLM worker exited (code {self.proc.wait()}); its messages are in the log above")
        return json.loads(line)

    def call(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"vLLM worker: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=120)


class VllmLM(LanguageModel):
    """vLLM offline engine, in this process when vllm imports here, else in the vLLM environment's
    Python (vllm_worker.py); imported lazily so machines without it never need vllm."""

    has_logprobs = True

    def __init__(self, path: str | Path, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 max_length: int = 4096, dtype: str = "auto", python: str | None = None, enforce_eager: bool = False,
                 **_):
        self.name = str(path)
        self.content_id = _vllm_content_id(path)
        self.max_length = int(max_length)
        # trust_remote_code stays off: weights and code come only from the model folder's safetensors/config.
        options = {"model": str(path), "tensor_parallel_size": tensor_parallel_size, "max_model_len": max_length,
                   "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype, "trust_remote_code": False,
                   "seed": 0, "enforce_eager": bool(enforce_eager)}
        self.python = vllm_python(python)
        if self.python is None:
            from vllm import LLM

            from .vllm_worker import engine_options

            self.llm, self.worker = LLM(**engine_options(options)), None
            self.tokenizer = self.llm.get_tokenizer()
        else:
            from transformers import AutoTokenizer

            self.llm, self.worker = None, _VllmWorker(self.python, options)
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def __del__(self):  # `del lm` (replies: one model at a time) ends the worker and frees its memory
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing left to free
            self.close()

    def render(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def _sampling(self, params: dict, conversation: Messages) -> dict:
        # One set of sampling parameters per request, seeded per request: vLLM gives each its own generator.
        return {"max_tokens": int(params.get("max_new_tokens", 128)),
                "temperature": float(params.get("temperature", 0.0)), "top_p": float(params.get("top_p", 1.0)),
                "seed": request_seed(params, conversation)}

    def generations(self, conversations: Sequence[Messages], params: dict, desc: str = "generate") -> list[dict]:
        # Rendered and tokenized here, as the transformers backend does, so both read the same token ids;
        # the prompt leaves room for the reply inside vLLM's context (max_model_len).
        room = self.max_length - int(params.get("max_new_tokens", 128))
        token_ids = self.fitted_ids([self.render(m) for m in conversations], room)
        sampling = [self._sampling(params, m) for m in conversations]
        # The generated token ids are decoded here, with the function the transformers backend uses, not
        # taken as vLLM's text: the same tokens then give the same text, cut characters and invalid bytes
        # handled alike (decoding.py).
        if self.worker is not None:
            reply = self.worker.call(op="generate", token_ids=token_ids, sampling=sampling)
            outs = list(zip(reply["token_ids"], reply["finish_reasons"], strict=True))
        else:
            from vllm import SamplingParams

            done = self.llm.generate([{"prompt_token_ids": ids} for ids in token_ids],
                                     [SamplingParams(**sp) for sp in sampling], use_tqdm=True)
            outs = [(list(o.outputs[0].token_ids), o.outputs[0].finish_reason) for o in done]
        return [decoded_generation(self.tokenizer, ids, _finish_reason(reason, self.name)) for ids, reason in outs]

    def logprobs(self, prefixes: Sequence[str], continuations: Sequence[str],
                 desc: str = "score") -> list[tuple[float, int]]:
        # Cut as the transformers backend cuts: the continuation whole (up to the context less a few tokens),
        # the prefix's last tokens; vLLM needs one more position for the token it samples.
        conts = [ids[: self.max_length - 2] for ids in self.token_ids(continuations)]
        prefs = self.fitted_ids(prefixes, [self.max_length - 1 - len(c) for c in conts])
        token_ids = [p + c for p, c in zip(prefs, conts, strict=True)]
        n_conts = [len(c) for c in conts]
        if self.worker is not None:
            sums = self.worker.call(op="prompt_logprobs", token_ids=token_ids, n_last=n_conts)["sums"]
            return [(float(t), n) for t, n in zip(sums, n_conts, strict=True)]
        from vllm import SamplingParams

        sp = SamplingParams(max_tokens=1, prompt_logprobs=0)
        results = []
        outs = self.llm.generate([{"prompt_token_ids": ids} for ids in token_ids], sp, use_tqdm=True)
        for out, n in zip(outs, n_conts, strict=True):
            ids, lps = out.prompt_token_ids, out.prompt_logprobs
            total = sum(lps[j][ids[j]].logprob for j in range(len(ids) - n, len(ids))) if n else 0.0
            results.append((float(total), n))
        return results


class OpenAIChatLM(LanguageModel):
    """An OpenAI-compatible /v1/chat/completions endpoint."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout: float = 120.0,
                 concurrency: int = 4, **_):
        self.name = f"{base_url}#{model}"
        # A remote model's weights cannot be digested here: its cache identity is the endpoint and model name.
        self.content_id = self.name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key_env and not self.api_key:
            raise RuntimeError(f"environment variable {api_key_env} (the API key) is not set")
        self.timeout = timeout
        self.concurrency = concurrency

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChatLM({self.base_url!r}, {self.model!r})"

    def _one(self, messages: Messages, params: dict) -> dict:
        import requests

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": messages, "max_tokens": int(params.get("max_new_tokens", 128)),
                "temperature": float(params.get("temperature", 0.0)), "top_p": float(params.get("top_p", 1.0)),
                "seed": request_seed(params, messages)}
        resp = requests.post(f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=self.timeout)
        if resp.status_code != 200:
            raise RuntimeError(f"{self.base_url}/chat/completions answered HTTP {resp.status_code}: {resp.text[:300]}")
        answer = resp.json()
        choice = answer["choices"][0]
        # The endpoint decoded the tokens itself: a U+FFFD it put in is dropped and counted (decoding.py).
        text, cut, invalid = strip_replacements(choice["message"]["content"] or "")
        tokens = (answer.get("usage") or {}).get("completion_tokens")
        return generation(text.strip(), _finish_reason(choice.get("finish_reason"), self.name),
                          None if tokens is None else int(tokens), cut, invalid)

    def generations(self, conversations: Sequence[Messages], params: dict, desc: str = "generate") -> list[dict]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.concurrency) as pool:
            answers = pool.map(lambda m: self._one(m, params), conversations)
            return list(tqdm(answers, total=len(conversations), desc=desc))


# Other servers' names for the same two ends (TGI's OpenAI route says eos_token / stop_sequence).
_FINISH_SYNONYMS = {"eos_token": "stop", "stop_sequence": "stop", "eos": "stop", "max_tokens": "length"}


def _finish_reason(reason: str | None, name: str) -> str:
    """A backend's finish reason as one of FINISH_REASONS: "length" when the token limit cut the reply,
    "stop" when the model ended it (end of turn, a stop token or string). Anything else (an endpoint's
    "content_filter", an aborted request, none given) is refused by name rather than guessed."""
    reason = _FINISH_SYNONYMS.get(reason, reason)
    if reason in FINISH_REASONS:
        return reason
    raise RuntimeError(f"{name}: finish_reason {reason!r} is neither 'stop' nor 'length'")


VLLM_ONLY_OPTIONS = {"tensor_parallel_size", "gpu_memory_utilization", "python", "enforce_eager"}


BACKENDS: dict[str, type[LanguageModel]] = {"transformers": TransformersLM, "vllm": VllmLM, "openai": OpenAIChatLM}


def logprob_uses(config: dict) -> dict[str, list[str]]:
    """Model role -> what its stages need log-probabilities for, under this config."""
    uses = {"large": ["perplexity scoring (rule score)"]}
    if config["scoring"]["judge_mode"] == "choice":
        uses["large"].append("choice-mode judging (scoring.judge_mode: choice)")
    if config["labeling"]["mode"] == "choice":
        uses["labeler"] = ["choice-mode labeling (labeling.mode: choice)"]
    return uses


def check_role_backends(config: dict) -> None:
    """Refuse, before any job runs, a role whose stages need log-probabilities on a backend without them, and
    a repetition penalty on a backend that cannot keep it off the prompt (vLLM's and a server's cover the
    prompt too, end-of-turn token included, which keeps a small model from ending its reply)."""
    problems = []
    for role, params in config.get("generation", {}).items():
        backend = config["models"][role]["backend"]
        if repetition_penalty(params) and not BACKENDS[backend].reply_repetition_penalty:
            problems.append(f"generation.{role}.repetition_penalty: backend {backend!r} of models.{role} would "
                            f"apply it to the prompt too (only 'transformers' penalizes the reply alone): set it to 1 "
                            f"for this backend")
    for role, uses in logprob_uses(config).items():
        backend = config["models"][role]["backend"]
        if not BACKENDS[backend].has_logprobs:
            problems.append(f"models.{role}: backend {backend!r} gives no log-probabilities, which "
                            f"{' and '.join(uses)} need; give this role the 'transformers' or 'vllm' backend")
    if problems:
        raise ValueError("\n".join(problems))


def load_lm(spec: dict, model_dir: str | Path | None = None) -> LanguageModel:
    """Build a backend from a config `models.<role>` entry. model_dir: the role's model folder as the
    workflow built it (a rule input); without it, the entry's own `path`."""
    backend = spec.get("backend", "transformers")
    options = dict(spec.get("options") or {})
    if backend == "openai":
        return OpenAIChatLM(**options)
    if model_dir is None and not spec.get("path"):
        raise ValueError(f"model {spec.get('name')!r}: no model folder given and no `path` in its entry")
    path = Path(model_dir) if model_dir is not None else Path(spec["path"])
    if backend == "vllm":
        return VllmLM(path, **options)
    if backend == "transformers":
        # Engine settings only vLLM has (a role switched from vllm by an overlay keeps them): not for this backend.
        for key in VLLM_ONLY_OPTIONS & options.keys():
            options.pop(key)
        return TransformersLM(path, **options)
    raise ValueError(f"unknown backend {backend!r} (transformers, vllm, openai)")


def _run_cached(cache: RequestCache, keys: list[str], compute: Callable[[list[int]], list],
                chunk: int) -> tuple[list, int]:
    """(values for every key, how many the model computed: the rest came from the cache)."""
    absent = cache.missing(keys)
    missing = [i for i, k in enumerate(keys) if k in absent]
    for part in _chunks(missing, chunk):
        values = compute(part)
        cache.put_many({keys[i]: v for i, v in zip(part, values, strict=True)})
    # Read back even what was just computed: a fresh run and a cached rerun then return the same
    # JSON-normalized values (tuples come back as lists either way).
    return [cache[k] for k in keys], len(missing)


def _chunk_size(lm) -> int:
    # Results reach the cache one backend batch at a time, so a kill loses at most one batch.
    return int(getattr(lm, "batch_size", 0) or 32)


# The stored value's format: a generation dict (text, finish_reason, tokens, ...) since 2, a bare string
# before. In the key, so rows of an older format are never served as if they held the new fields.
GENERATE_FORMAT = 2


def generate_key(content_id: str, conversation: Messages, params: dict) -> str:
    if repetition_penalty(params):
        # The penalty spares bytes of a character since 2026-12-07: replies made before, under the same
        # config value, are other work and must not be served.
        params = {**params, "repetition_penalty_spares": "partial characters"}
    return cache_key("generate", GENERATE_FORMAT, content_id, conversation, params)


def cached_generations(lm, conversations: Sequence[Messages], params: dict, cache: RequestCache,
                       desc: str = "generate") -> list[dict]:
    """Each conversation's generation dict (decoding.generation), from the cache or the model."""
    keys = [generate_key(lm.content_id, m, params) for m in conversations]
    answers, computed = _run_cached(
        cache, keys, lambda idx: lm.generations([conversations[i] for i in idx], params, desc), _chunk_size(lm))
    prompts = [lm.render(m) for m in conversations] if lm.has_logprobs else []
    # The backend's own count of generated tokens; the text's tokens where an endpoint gave none.
    untold = [g["text"] for g in answers if g["tokens"] is None]
    generated = sum(g["tokens"] for g in answers if g["tokens"] is not None) + count_tokens(lm, untold)
    usage_of(lm).add("generate", len(keys), computed, count_tokens(lm, prompts), generated)
    return answers


def cached_generate(lm, conversations: Sequence[Messages], params: dict, cache: RequestCache,
                    desc: str = "generate") -> list[str]:
    """The texts of cached_generations."""
    return [g["text"] for g in cached_generations(lm, conversations, params, cache, desc)]


def cached_logprobs(lm, prefixes: Sequence[str], continuations: Sequence[str], cache: RequestCache,
                    desc: str = "score") -> list[tuple[float, int]]:
    keys = [cache_key("logprobs", lm.content_id, p, c) for p, c in zip(prefixes, continuations, strict=True)]
    values, computed = _run_cached(cache, keys, lambda idx: lm.logprobs([prefixes[i] for i in idx],
                                                                        [continuations[i] for i in idx], desc),
                                   _chunk_size(lm))
    usage_of(lm).add("logprobs", len(keys), computed, count_tokens(lm, prefixes) + count_tokens(lm, continuations))
    return [tuple(v) for v in values]


def choose(lm, prefixes: Sequence[str], options: Sequence[str], cache: RequestCache, normalize: bool = True,
           calibration_prefix: str | None = None) -> list[dict]:
    """Constrained choice: the option with the highest log-probability after each prefix
    (length-normalized per token by default), so even a small model always yields a valid answer.

    With `calibration_prefix` (a content-free prompt, e.g. the same template around "N/A"), each
    option's score under it is subtracted first: contextual calibration (Zhao et al., 2021), which
    removes a small model's prior for some options regardless of the input."""
    queries = list(prefixes) + ([calibration_prefix] if calibration_prefix is not None else [])
    if hasattr(lm, "option_logprobs"):
        keys = [cache_key("options", lm.content_id, p, list(options)) for p in queries]
        scored, computed = _run_cached(cache, keys, lambda idx: lm.option_logprobs([queries[i] for i in idx], options),
                                       _chunk_size(lm))
        # Each prefix is read once and the options after it (their KV cache shared).
        usage_of(lm).add("options", len(keys), computed,
                         count_tokens(lm, queries) + len(queries) * count_tokens(lm, options))
    else:
        flat = cached_logprobs(lm, [p for p in queries for _ in options], [o for _ in queries for o in options],
                               cache, desc="choice")
        scored = [flat[i * len(options):(i + 1) * len(options)] for i in range(len(queries))]
    values = [[lp / max(n, 1) if normalize else lp for lp, n in row] for row in scored]
    if calibration_prefix is not None:
        prior = values.pop()
        values = [[v - p for v, p in zip(row, prior, strict=True)] for row in values]
    out = []
    for row in values:
        best = max(range(len(options)), key=lambda j: row[j])
        z = max(row)
        probs = [math.exp(v - z) for v in row]
        total = sum(probs)
        out.append({"choice": options[best], "probs": {o: p / total for o, p in zip(options, probs, strict=True)}})
    return out
