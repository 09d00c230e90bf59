"""The packed trainer: up to ``width`` trials of one benchmark trained as one vectorised model.

Each slot holds one trial: its parameters, buffers and optimizer state are slices of tensors
stacked along a leading dimension (``torch.func.stack_module_state``), and one training step is
``vmap(grad_and_value(loss))`` over ``functional_call`` of the benchmark's model, followed by a
per-slot SGD/AdamW step (``ohgw.packed.optim``). Each trial's batches come from its own
``benchmark.train_stream(seed)`` and its augmentation's random numbers from its own generator,
but a step gathers and augments the whole pack's images in one call each
(``ohgw.packed.losses``), and a unit's evaluation scores all slots in one vectorised forward per
chunk where the benchmark registers a pack evaluator (``ohgw.packed.evaluation``; else
``benchmark.evaluate`` per trial). Rows are ``ohgw.trial``'s rows (FLOPs of the unpacked unit)
and checkpoints are ``ohgw.trial``'s checkpoints, so a unit can resume packed or unpacked
either way. The pack's tensors are in contiguous memory format (``_stack``).

The width is fixed: empty slots are padded with a copy of a live slot, whose results are
discarded, so the shapes (and so the kernels) never depend on how many trials were pending.
Slots share no arithmetic: a trial's numbers do not depend on its pack-mates or its slot (the
tests check this bitwise), and a trial that diverges (NaN) is reported diverged as ``run_trial``
reports it, without touching the others.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call
from torch.func import grad_and_value
from torch.func import vmap
from torch.utils.flop_counter import FlopCounterMode

from ohgw.benchmarks.base import Benchmark
from ohgw.packed.evaluation import pack_evaluator
from ohgw.packed.losses import loss_split
from ohgw.packed.optim import PackedOptimizer
from ohgw.packed.warmstart import OpenTrial
from ohgw.packed.warmstart import open_trials
from ohgw.packed.warmstart import rng_fork
from ohgw.trial import TrialSpec
from ohgw.trial import evaluate_unit
from ohgw.trial import save_checkpoint as save_trial_checkpoint
from ohgw.trial import unit_report


class PackedTrainer:
    """Trains trials of ``benchmark`` in packs of ``width`` slots.

    Args:
        benchmark: a built benchmark (its data stay loaded); all trials use it.
        width: slots per pack; fixed, padded when fewer trials are pending.
        amp: bf16 autocast of the packed step (default: the benchmark's ``amp``).
        compile: ``torch.compile`` the packed step (a CUDA speed option; off by default).
    """

    def __init__(
        self, benchmark: Benchmark, width: int, *, amp: bool | None = None, compile: bool = False
    ) -> None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"The value of `width` is {width!r}, but must be an int >= 1.")
        self.benchmark, self.width = benchmark, width
        self.amp = getattr(benchmark, "amp", False) if amp is None else bool(amp)
        self.compile = compile
        self.split = loss_split(benchmark)
        self._step_fn = None

    def run(self, specs: Sequence[TrialSpec]) -> list[list[dict[str, Any]]]:
        """Run (or resume) each trial up to its ``max_resource``; return each one's reports.

        Like ``ohgw.trial.run_trial`` for each spec, packed ``width`` at a time in the order
        given. Specs must be distinct trials (distinct checkpoint folders).
        """
        dirs = [s.checkpoint_dir for s in specs if s.checkpoint_dir is not None]
        if len(set(dirs)) != len(dirs):
            raise ValueError("Two specs share a `checkpoint_dir`: a pack needs distinct trials.")
        trials = open_trials(specs, self.benchmark)
        pending = [t for t in trials if t.wants_unit]
        if pending:
            self._count_step_flops()
        for first in range(0, len(pending), self.width):
            self._train_pack(pending[first : first + self.width])
        return [t.state["reports"][: t.spec.max_resource] for t in trials]

    # -- the pack -------------------------------------------------------------------------

    def _train_pack(self, trials: list[OpenTrial]) -> None:
        bench, width = self.benchmark, self.width
        models = [t.state["model"] for t in trials]
        models += [models[0]] * (width - len(models))  # padding: copies of slot 0
        template = copy.deepcopy(models[0])
        persistent = set(template.state_dict())
        names = [n for n, _ in template.named_parameters()]
        params = {
            n: _stack([dict(m.named_parameters())[n].detach() for m in models]) for n in names
        }
        buffers = {
            n: _stack([dict(m.named_buffers())[n] for m in models])
            for n, _ in template.named_buffers()
            if n in persistent
        }
        optimizer = PackedOptimizer(bench.optimizer, names, width, params[names[0]])
        optimizer.init_state(params)
        for slot, trial in enumerate(trials):
            optimizer.set_slot(slot, trial.state["config"], trial.state["optimizer"], models[slot])
        for slot in range(len(trials), width):
            optimizer.copy_slot(0, slot)
        dtype = params[names[0]].dtype
        configs = [t.state["config"] for t in trials]
        configs += [configs[0]] * (width - len(configs))
        tensor_hp = {
            k: torch.tensor([float(c[k]) for c in configs], dtype=dtype, device=bench.device)
            for k in self.split.tensor_hp
        }
        step_fn = self._packed_step(template)
        while any(t.wants_unit for t in trials):
            active = [slot for slot, t in enumerate(trials) if t.wants_unit]
            start = time.perf_counter()
            losses = self._train_unit(
                trials, active, step_fn, params, buffers, optimizer, tensor_hp
            ).tolist()
            scores = self._evaluate_pack(template, params, buffers, trials, active, losses)
            share = (time.perf_counter() - start) / len(active)
            for slot in active:
                self._finish_unit(
                    trials[slot], slot, params, buffers, optimizer, losses[slot], share,
                    scores.get(slot),
                )  # fmt: skip

    def _packed_step(self, template: torch.nn.Module):
        criterion = self.split.criterion

        def loss(params, buffers, inputs, targets, hp):
            return criterion(functional_call(template, (params, buffers), (inputs,)), targets, hp)

        step = vmap(grad_and_value(loss), randomness="error")
        return torch.compile(step) if self.compile else step

    def _train_unit(self, trials, active, step_fn, params, buffers, optimizer, tensor_hp):
        """One unit of every active slot; each slot's mean training loss (float32, like
        ``ohgw.trial``'s)."""
        bench, width = self.benchmark, self.width
        steps = bench.batches_per_unit()
        totals = torch.zeros(width, device=bench.device)
        autocast = torch.autocast(bench.device.type, dtype=torch.bfloat16, enabled=self.amp)
        for _ in range(steps):
            with autocast:
                inputs, targets = self._pack_batch(trials, active)
                grads, loss = step_fn(params, buffers, inputs, targets, tensor_hp)
            optimizer.step(params, grads)
            totals += loss.detach().float()
        return totals / steps

    def _pack_batch(self, trials, active) -> tuple[torch.Tensor, torch.Tensor]:
        """Every slot's next training batch, as (W, B, ...) inputs and targets.

        Each active trial takes its batch's indices from its own stream and its random numbers
        from its own generator; the pack's items are then gathered in one call and augmented in
        one call (``LossSplit.apply``). A padding or finished slot gets a copy of the first
        active slot's batch, so the shapes depend on the width alone."""
        split, width = self.split, self.width
        source = [active.index(s) if s in active else 0 for s in range(width)]
        if split.draw is None or split.apply is None:  # a split without a batched form
            prepared = [
                split.prepare(next(trials[s].state["stream"]), trials[s].state["config"],
                              trials[s].generator)
                for s in active
            ]  # fmt: skip
            return tuple(_stack([prepared[i][k] for i in source]) for k in (0, 1))  # type: ignore[return-value]
        streams = [trials[s].state["stream"] for s in active]
        indices = [stream.next_index() for stream in streams]
        batch = streams[0].make_batch(torch.cat([indices[i] for i in source]))
        n = len(indices[0])
        draws = [
            split.draw(trials[s].state["config"], trials[s].generator, n, batch) for s in active
        ]
        merged = tuple(torch.cat([draws[i][k] for i in source]) for k in range(len(draws[0])))
        hps = [trials[active[i]].state["config"] for i in source]
        inputs, targets = split.apply(batch, hps, merged)
        return inputs.unflatten(0, (width, n)).contiguous(), targets.unflatten(
            0, (width, n)
        ).contiguous()

    def _evaluate_pack(self, template, params, buffers, trials, active, losses):
        """{slot: (val, test)} of the active slots whose loss is finite, scored all at once by
        the benchmark's ``PackEvaluator``; {} without one (each trial is evaluated alone)."""
        bench, width = self.benchmark, self.width
        evaluator = pack_evaluator(bench)
        wanted = [slot for slot in active if math.isfinite(losses[slot])]
        if evaluator is None or not wanted:
            return {}

        def forward(inputs: torch.Tensor) -> torch.Tensor:
            one = lambda p, b, x: functional_call(template, (p, b), (x,))  # noqa: E731
            return vmap(one, in_dims=(0, 0, None), randomness="error")(params, buffers, inputs)

        amp = getattr(bench, "amp", False)
        template.eval()
        try:
            with torch.no_grad(), torch.autocast(bench.device.type, torch.bfloat16, enabled=amp):
                val = evaluator(bench, forward, "val", width)
                tested = any(trials[slot].spec.report_test for slot in wanted)
                test = evaluator(bench, forward, "test", width) if tested else None
        finally:
            template.train()
        return {
            slot: (val[slot], test[slot] if trials[slot].spec.report_test else math.nan)
            for slot in wanted
        }

    # -- per trial: evaluation, row, checkpoint (as ohgw.trial.run_trial) -------------------

    def _finish_unit(
        self, trial, slot, params, buffers, optimizer, mean_loss, share, scores
    ) -> None:
        bench, spec, state = self.benchmark, trial.spec, trial.state
        start = time.perf_counter()
        model = state["model"]
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(params[name][slot])
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name][slot])
        optimizer.to_torch(slot, state["optimizer"], model)
        level = trial.level + 1
        val, test, diverged = evaluate_unit(spec, bench, model, state, mean_loss, scores)
        state["compute_seconds"] += share + time.perf_counter() - start
        state["train_steps"] += bench.batches_per_unit()
        state["flops_per_step"] = bench.flop_counts["train_step"]
        state["reports"].append(
            unit_report(spec, bench, state, level, val, test, mean_loss, diverged)
        )
        save_checkpoint(trial, bench.device)

    def _count_step_flops(self) -> None:
        """FLOPs of one *unpacked* training step, counted as ``ohgw.trial`` counts them."""
        bench = self.benchmark
        if "train_step" in bench.flop_counts:
            return
        config = dict(bench.default_config)
        with rng_fork(bench.device):
            torch.manual_seed(0)
            model = bench.build_model()
            optimizer = bench.optimizer.build(model.parameters(), config)
            batch = next(bench.train_stream(0))
            with FlopCounterMode(display=False) as counter:
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(bench.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    loss = bench.train_loss(model, batch, config)
                loss.backward()
                optimizer.step()
        bench.flop_counts["train_step"] = int(counter.get_total_flops())


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The slots as one tensor, each slot in contiguous memory format.

    A channels_last benchmark (on CUDA by default) gives channels_last images and weights;
    stacked, each slot's activations are channels_last-strided, and cuDNN's batch norm then
    asks for a channels_last clone, which ``vmap`` does not implement ("NYI:
    Tensor.clone(memory_format) inside vmap"). Contiguous slots never ask for it; the values,
    and so the rows, are the same."""
    return torch.stack([t.contiguous() for t in tensors])


def save_checkpoint(trial: OpenTrial, device: torch.device) -> None:
    """``ohgw.trial``'s checkpoint of ``trial``, with the trial's own RNG states in it."""
    cpu_state, device_state = trial.rng_states()
    with rng_fork(device):
        torch.set_rng_state(cpu_state)
        if device_state is not None:
            torch.cuda.set_rng_state(device_state, device)
        save_trial_checkpoint(trial.spec, trial.state)
