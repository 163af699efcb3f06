"""Forward passes for calibration: fixed-length sweep windows and answer generation.

The sweep's prompts are random token ids and its decode runs exactly the
asked number of steps (greedy, no stop token), so every window does the work
its row says. Accuracy runs prefill a prompt once and decode ``k`` sequences
from the shared cache (majority voting pays one prefill for its k votes).
Logits are computed for the last position only, as serving engines do.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from calibration.models import LoadedModel


@dataclass
class DecodeState:
    """The KV cache after a prefill and the next input token of each sequence."""

    cache: Any
    next_tokens: Any


def _forward(model: Any, input_ids: Any, cache: Any = None) -> Any:
    return model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)


class TorchRunner:
    """Runs the sweep's windows on a loaded model."""

    def __init__(self, loaded: LoadedModel, seed: int = 0):
        import torch

        self.torch = torch
        self.model = loaded.model
        self.device = loaded.device
        self.vocab_size = loaded.vocab_size
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize(self.device)

    def prefill(self, n_in_tokens: int, batch_size: int) -> DecodeState:
        """One forward over ``batch_size`` random prompts of ``n_in_tokens``; yields the first tokens."""
        torch = self.torch
        prompt = torch.randint(0, self.vocab_size, (batch_size, n_in_tokens), generator=self.generator)
        with torch.inference_mode():
            output = _forward(self.model, prompt.to(self.device))
            return DecodeState(output.past_key_values, output.logits[:, -1:].argmax(dim=-1))

    def decode(self, state: DecodeState, steps: int) -> None:
        """``steps`` greedy decode steps from ``state`` (no stop token)."""
        with self.torch.inference_mode():
            tokens = state.next_tokens
            for _ in range(steps):
                output = _forward(self.model, tokens, state.cache)
                tokens = output.logits[:, -1:].argmax(dim=-1)
            state.next_tokens = tokens

    def release(self) -> None:
        """Free what a failed window left allocated."""
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device or host out-of-memory error."""
    import torch

    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None), MemoryError) if t)
    if isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def letter_scores(loaded: LoadedModel, prompt_ids: list[int], letter_ids: list[int]) -> list[float]:
    """Logits of each answer letter's token after the prompt (one forward)."""
    import torch

    with torch.inference_mode():
        input_ids = torch.tensor([prompt_ids], device=loaded.device)
        logits = _forward(loaded.model, input_ids).logits[0, -1]
        return [float(logits[i]) for i in letter_ids]


def generate(
    loaded: LoadedModel,
    prompt_ids: list[int],
    max_new_tokens: int,
    num_sequences: int = 1,
    temperature: float = 0.0,
    eos_token_id: int | None = None,
    seed: int = 0,
) -> list[list[int]]:
    """Up to ``max_new_tokens`` tokens for each of ``num_sequences`` sequences sharing one prefill.

    ``temperature == 0`` decodes greedily. A sequence stops at ``eos_token_id``
    (kept in its output); the batch stops when every sequence has stopped.
    """
    import torch

    generator = torch.Generator(device=loaded.device).manual_seed(seed)
    with torch.inference_mode():
        output = _forward(loaded.model, torch.tensor([prompt_ids], device=loaded.device))
        cache = output.past_key_values
        if num_sequences > 1:
            cache.batch_repeat_interleave(num_sequences)
        logits = output.logits[:, -1].expand(num_sequences, -1)
        sequences: list[list[int]] = [[] for _ in range(num_sequences)]
        finished = [False] * num_sequences
        for step in range(max_new_tokens):
            tokens = _pick(logits, temperature, generator)
            for index, token in enumerate(tokens.tolist()):
                if not finished[index]:
                    sequences[index].append(token)
                    finished[index] = token == eos_token_id
            if all(finished) or step == max_new_tokens - 1:
                break
            logits = _forward(loaded.model, tokens[:, None], cache).logits[:, -1]
    return sequences


def _pick(logits: Any, temperature: float, generator: Any) -> Any:
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0]
