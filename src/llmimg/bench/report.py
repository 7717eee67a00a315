"""bench.json as Markdown: per-backend tables, where the time goes, the targets, and the diffusion comparison."""

from __future__ import annotations

BF16_BACKENDS = ("bf16", "compile-bf16")
TARGETS = {"generator_images_per_s": 1500, "ceiling_share": 0.5, "fresh_p50_ms": 10.0, "cached_p50_ms": 3.0,
           "vs_ddim": 1000, "vs_few_step": 100, "edit_p50_ms": 10.0}


def _ceiling_share(results: dict, backend: str, images_per_s: float) -> float:
    roof = results["ceiling"]["bf16_gflops" if backend in BF16_BACKENDS else "fp32_gflops"]
    return results["generator_flops_per_image"] * images_per_s / 1e9 / roof


def _row(results: dict, backend: dict, batch: int) -> dict | None:
    return next((row for row in backend["rows"] if row["batch"] == batch), None)


def markdown_report(results: dict) -> str:
    machine, load, ceiling = results["machine"], results["load"], results["ceiling"]
    lines = [
        f"# llmimg bench: {results['config']['model']}",
        "",
        f"`{results['command']}` started {results['started']}; {machine['cpu']}, {machine['cores']} cores, "
        f"torch {machine['torch']}, {machine['threads']} threads, device {results['config']['device']}"
        + (f" ({machine['gpu']})" if machine.get("gpu") else "") + ".",
        (f"Load from other processes during the run: {load['other_processes_cores']} cores on average "
        f"(load average {load['loadavg_before']} before, {load['loadavg_after']} after)."),
        (f"Ceiling (2048 x 2048 matrix product): {ceiling['fp32_gflops']:.0f} GFLOP/s fp32 (the faster of torch, "
        f"{ceiling['torch_fp32_gflops']:.0f}, and onnxruntime, {ceiling['onnxruntime_fp32_gflops']:.0f}), "
        f"{ceiling['bf16_gflops']:.0f} GFLOP/s bf16 (torch). Generator: "
        f"{results['generator_flops_per_image'] / 1e9:.3f} GFLOP per image (torch.utils.flop_counter)."),
        "",
        "## Per backend and batch size (medians; p90 in brackets; ms per call)",
        "",
        ("| backend | batch | generator ms | generator img/s | of ceiling | text (new prompts) ms | "
        "prompt to PNG, cached ms | prompt to PNG, new ms | img/s (cached, end to end) | peak MB | checker pass |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in results["backends"]:
        for row in backend["rows"]:
            share = _ceiling_share(results, backend["backend"], row["generator_images_per_s"])
            passed = backend.get("checker_pass_rate")
            lines.append(
                f"| {backend['backend']} | {row['batch']} | {row['generator']['median_ms']:.2f} "
                f"({row['generator']['p90_ms']:.2f}) | {row['generator_images_per_s']:.0f} | {100 * share:.0f}% | "
                f"{row['text_encoder_fresh']['median_ms']:.2f} | {row['end_to_end_cached']['median_ms']:.2f} "
                f"({row['end_to_end_cached']['p90_ms']:.2f}) | {row['end_to_end_fresh']['median_ms']:.2f} "
                f"({row['end_to_end_fresh']['p90_ms']:.2f}) | {row['end_to_end_cached_images_per_s']:.0f} | "
                f"{backend['peak_memory_mb']:.0f} | {'—' if passed is None else f'{100 * passed:.1f}%'} |")
    lines += ["", "## Where one new prompt's time goes (batch 1, medians)", "",
              "| backend | language model | generator | PNG | rest | total ms |", "|---|---:|---:|---:|---:|---:|"]
    for backend in results["backends"]:
        row = _row(results, backend, 1)
        if row is None:
            continue
        total = row["end_to_end_fresh"]["median_ms"]
        parts = [row["text_encoder_fresh"]["median_ms"], row["generator"]["median_ms"],
                 row["png_per_image"]["median_ms"]]
        rest = max(0.0, total - sum(parts))
        lines.append(f"| {backend['backend']} | " + " | ".join(f"{100 * p / total:.0f}%" for p in parts)
                     + f" | {100 * rest / total:.0f}% | {total:.2f} |")
    edits = [backend for backend in results["backends"] if backend.get("edit")]
    if edits:
        lines += ["", "## One edit of one image, warm (words cached; medians, p90 in brackets)", "",
                  ("An edit is one image encoder pass and one generator pass. From the image as read to pixels; and "
                   "from PNG bytes in to PNG bytes out (decoding, resizing and the PNG's metadata included)."), "",
                  "| backend | edit ms | PNG to PNG ms |", "|---|---:|---:|"]
        lines += [f"| {b['backend']} | {b['edit']['edit']['median_ms']:.2f} ({b['edit']['edit']['p90_ms']:.2f}) | "
                  f"{b['edit']['edit_png_to_png']['median_ms']:.2f} ({b['edit']['edit_png_to_png']['p90_ms']:.2f}) |"
                  for b in edits]
        refined = [b for b in edits if b["edit"].get("edit_refined")]
        for b in refined:  # the eager generator's forward and backward passes, whatever the backend
            timing = b["edit"]["edit_refined"]
            lines += ["", (f"With `--refine {timing['refine_steps']}` (that many optimisation steps on the latent "
                           f"through the eager fp32 generator, whatever the backend): {timing['median_ms']:.2f} ms "
                           f"({timing['p90_ms']:.2f}) per edit, measured with {b['backend']}.")]
    lines += ["", *targets_table(results)]
    if results.get("diffusion_peer"):
        lines += ["", *versus_table(results)]
    return "\n".join(lines) + "\n"


def _best(results: dict, batch: int, key) -> tuple[str, float] | None:
    candidates = [(b["backend"], key(_row(results, b, batch))) for b in results["backends"] if _row(results, b, batch)]
    return min(candidates, key=lambda c: c[1]) if candidates else None


def targets_table(results: dict) -> list[str]:
    lines = ["## Targets", "", "| target | best measured | backend | met |", "|---|---:|---|---|"]
    best_rate = _best(results, 64, lambda r: -r["generator_images_per_s"])
    if best_rate:
        rate = -best_rate[1]
        lines.append(f"| generator, batch 64: >= {TARGETS['generator_images_per_s']} images/s | {rate:.0f} | "
                     f"{best_rate[0]} | {'yes' if rate >= TARGETS['generator_images_per_s'] else 'no'} |")
        share = _ceiling_share(results, best_rate[0], rate)
        lines.append(f"| that backend: >= 50% of the ceiling for its FLOPs | {100 * share:.0f}% | {best_rate[0]} | "
                     f"{'yes' if share >= TARGETS['ceiling_share'] else 'no'} |")
    for label, key, target in (("new prompt", "end_to_end_fresh", "fresh_p50_ms"),
                               ("cached prompt", "end_to_end_cached", "cached_p50_ms")):
        best = _best(results, 1, lambda r, key=key: r[key]["median_ms"])
        if best:
            lines.append(f"| one {label}, prompt to PNG: p50 < {TARGETS[target]:g} ms | {best[1]:.2f} ms | {best[0]} | "
                         f"{'yes' if best[1] < TARGETS[target] else 'no'} |")
    edits = [(b["backend"], b["edit"]["edit"]["median_ms"]) for b in results["backends"] if b.get("edit")]
    if edits:
        backend, ms = min(edits, key=lambda e: e[1])
        lines.append(f"| one edit of one image: p50 < {TARGETS['edit_p50_ms']:g} ms | {ms:.2f} ms | {backend} | "
                     f"{'yes' if ms < TARGETS['edit_p50_ms'] else 'no'} |")
    return lines


def versus_table(results: dict) -> list[str]:
    peer = results["diffusion_peer"]
    gans = [b for b in results["backends"] if b.get("versus_ms_per_image")]
    fastest = min(gans, key=lambda b: b["versus_ms_per_image"]) if gans else None
    lines = ["## Against the diffusion peer (same prompts, same machine, same run)", "",
             (f"Peer: `UNet2DConditionModel`, {peer['parameters']:,} parameters, trained {peer['train_minutes']} min "
             f"({peer['train_steps']} steps), classifier-free guidance {peer['guidance_scale']}. ms per image: "
             f"{results['config']['peer_batch']} prompts per call, text cached, prompts to uint8 pixels."), "",
             "| method | ms per image | checker pass (test-seen) | one step's speed-up |", "|---|---:|---:|---:|"]
    for gan in gans:
        passed = gan.get("checker_pass_rate")
        lines.append(f"| the model, one step ({gan['backend']}) | {gan['versus_ms_per_image']:.3f} | "
                     f"{'—' if passed is None else f'{100 * passed:.1f}%'} | |")
    for row in peer["rows"]:
        name = "DDIM" if row["sampler"] == "ddim" else "DPM-Solver++"
        speedup = row["ms_per_image"] / fastest["versus_ms_per_image"] if fastest else float("nan")
        passed = row["checker_pass_rate"]
        lines.append(f"| diffusion, {name} {row['steps']} steps | {row['ms_per_image']:.1f} | "
                     f"{'—' if passed is None else f'{100 * passed:.1f}%'} | {speedup:,.0f}x |")
    if fastest:
        lines.append("")
        lines.append(f"Speed-ups are against the model's fastest backend here ({fastest['backend']}); targets: "
                     f">= {TARGETS['vs_ddim']}x against DDIM-50, >= {TARGETS['vs_few_step']}x against the few-step "
                     "sampler, at an equal or better pass rate.")
    return lines
