#!/usr/bin/env python3
"""A DreamStream model worker running SD-Turbo img2img on a GPU.

    pip install torch diffusers transformers accelerate pillow   # a CUDA build of torch
    python3 diffusers_worker.py --server https://stream.example --token dsw_... \
        --slots 2 --max-batch 4

It plugs Stable Diffusion Turbo (stabilityai/sd-turbo) into the seams of the standard-library
client: ``run_worker(server, token, process, process_batch=..., slots=..., max_batch=...)``.

- ``--slots N`` (default 2): jobs or batches held at once. With 2, the next input is already
  here when a result goes out, so the GPU does not idle for a network round trip between
  jobs (docs/protocol.md, "Slots"). 1 is one job at a time.
- ``--max-batch N`` (default 4): frames of different streams per pipeline call. When several
  streams wait, the server sends one ``batch`` and ``process_batch`` runs their images and
  prompts through one img2img call: a batch of 4 costs far less than 4 calls on a GPU
  (docs/protocol.md, "Batches"). Jobs of a batch that ask for different strengths or step
  counts are split into one call per (strength, steps), since img2img takes one of each per
  call; prompts and seeds are per image. Lower it if the GPU runs out of memory.

Job params used (see docs/protocol.md, /ws/worker):
- ``prompt``   the style text (empty: a neutral default below),
- ``strength`` 0..1, how far from the camera picture (default 0.5),
- ``seed``     a fixed seed keeps the look steady from frame to frame (default 0),
- ``steps``    requested denoising steps (default 2).
SD-Turbo img2img runs int(steps * strength) denoising steps, so steps is raised until
steps * strength >= 1 (one real step at least): steps = max(steps, ceil(1 / strength)).
guidance_scale must be 0 for SD-Turbo.

Not run in CI (it needs a GPU and several GB of weights). torch, diffusers and PIL are
imported lazily, so --help works without them and a missing package prints a clear message.
"""

import argparse
import io
import math
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import dreamstream  # noqa: E402

MODEL_ID = "stabilityai/sd-turbo"
DEFAULT_PROMPT = "a detailed digital painting, vivid colours"
NEGATIVE_PROMPT = "blurry, low quality, distorted"


def plan(params):
    """Job params -> (prompt, strength, steps, seed) for the pipeline call.

    SD-Turbo img2img runs int(steps * strength) denoising steps; steps is raised so that this
    is at least 1 (strength 0.3 with 2 steps would otherwise run none).
    """
    prompt = str(params.get("prompt") or "").strip() or DEFAULT_PROMPT
    try:
        strength = float(params.get("strength", 0.5))
    except (TypeError, ValueError):
        strength = 0.5
    strength = min(1.0, max(0.05, strength))
    try:
        steps = max(1, min(50, int(params.get("steps", 2))))
    except (TypeError, ValueError):
        steps = 2
    steps = max(steps, math.ceil(1.0 / strength - 1e-9))  # int(steps * strength) >= 1
    while int(steps * strength) < 1:  # guard against float rounding
        steps += 1
    try:
        seed = int(params.get("seed", 0)) & 0x7FFFFFFF
    except (TypeError, ValueError):
        seed = 0
    return prompt, strength, steps, seed


def groups(plans):
    """Which jobs of a batch share one pipeline call: [(strength, steps, [indices])].

    img2img takes one strength and one step count per call (prompts, negative prompts and
    generators may be lists, one per image), so jobs are grouped by those two, in order.
    """
    out = {}
    for i, (_, strength, steps, _) in enumerate(plans):
        out.setdefault((strength, steps), []).append(i)
    return [(strength, steps, idx) for (strength, steps), idx in out.items()]


def load_stack():
    """Imports torch / diffusers / PIL, or exits with a message saying what to install."""
    missing = []
    mods = {}
    for name in ("torch", "diffusers", "PIL.Image"):
        try:
            mods[name] = __import__(name, fromlist=["_"])
        except ImportError:
            missing.append(name.split(".")[0])
    if missing:
        sys.exit("diffusers_worker: missing Python packages: %s\n"
                 "install them with: pip install torch diffusers transformers accelerate pillow\n"
                 "(a CUDA build of torch is needed for real-time speed; see https://pytorch.org)"
                 % ", ".join(missing))
    return mods["torch"], mods["diffusers"], mods["PIL.Image"]


class SdTurbo:
    def __init__(self, model_id=MODEL_ID, size=512, device=None, compile_unet=False):
        torch, diffusers, Image = load_stack()
        self.torch, self.Image = torch, Image
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            print("diffusers_worker: no CUDA GPU found; running on the CPU (seconds per frame)",
                  file=sys.stderr)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        kwargs = {"torch_dtype": dtype}
        if dtype == torch.float16:
            kwargs["variant"] = "fp16"
        self.pipe = diffusers.AutoPipelineForImage2Image.from_pretrained(model_id, **kwargs)
        self.pipe = self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if compile_unet and self.device == "cuda":
            self.pipe.unet = torch.compile(self.pipe.unet, mode="reduce-overhead", fullgraph=True)
        self.size = size
        self.lock = threading.Lock()

    def process(self, jpeg, params):
        """One job: a batch of one."""
        out = self.process_batch([(jpeg, params, {})])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def process_batch(self, items):
        """[(jpeg, params, job)] -> one (jpeg, timings) or Exception per item, in order."""
        t0 = time.perf_counter()
        outs = [None] * len(items)
        images, sizes, plans, ok = {}, {}, {}, []
        for i, (jpeg, params, _) in enumerate(items):
            try:
                image = self.Image.open(io.BytesIO(jpeg)).convert("RGB")
            except Exception as e:  # this frame alone fails
                outs[i] = ValueError("undecodable JPEG: %s" % e)
                continue
            sizes[i] = image.size
            if image.size != (self.size, self.size):
                image = image.resize((self.size, self.size), self.Image.BICUBIC)
            images[i], plans[i] = image, plan(params)
            ok.append(i)
        t1 = time.perf_counter()

        results = {}
        for strength, steps, idx in groups([plans[i] for i in ok]):
            batch = [ok[k] for k in idx]
            generators = [self.torch.Generator(device=self.device).manual_seed(plans[i][3])
                          for i in batch]
            with self.lock, self.torch.inference_mode():
                images_out = self.pipe(prompt=[plans[i][0] for i in batch],
                                       negative_prompt=[NEGATIVE_PROMPT] * len(batch),
                                       image=[images[i] for i in batch],
                                       num_inference_steps=steps, strength=strength,
                                       guidance_scale=0.0, generator=generators).images
            results.update(zip(batch, images_out))
        if self.device == "cuda":
            self.torch.cuda.synchronize()
        t2 = time.perf_counter()

        encoded = {}
        for i, out in results.items():
            if out.size != sizes[i]:
                out = out.resize(sizes[i], self.Image.BICUBIC)
            buf = io.BytesIO()
            out.save(buf, format="JPEG", quality=85)
            encoded[i] = buf.getvalue()
        t3 = time.perf_counter()
        # The whole call's times: every job of the batch waited for all of it.
        timings = {"decode_ms": (t1 - t0) * 1000, "infer_ms": (t2 - t1) * 1000,
                   "encode_ms": (t3 - t2) * 1000}
        for i, jpeg in encoded.items():
            outs[i] = (jpeg, timings)
        return outs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="http(s):// or ws(s):// base URL of the server")
    p.add_argument("--token", default=os.environ.get("DREAMSTREAM_WORKER_TOKEN"),
                   help="worker token (or env DREAMSTREAM_WORKER_TOKEN)")
    p.add_argument("--name", default="sd-turbo-" + socket.gethostname())
    p.add_argument("--model", default=MODEL_ID)
    p.add_argument("--size", type=int, default=512, help="model resolution (SD-Turbo: 512)")
    p.add_argument("--compile", action="store_true", help="torch.compile the UNet (slow start)")
    p.add_argument("--slots", type=int, default=2,
                   help="jobs or batches held at once (1-8); 2 hides the network round trip")
    p.add_argument("--max-batch", type=int, default=4,
                   help="frames of different streams per pipeline call (1-16)")
    p.add_argument("--self-test", metavar="JPEG",
                   help="process the file alone and as a batch of two, write out.jpg, exit")
    args = p.parse_args()

    model = SdTurbo(args.model, args.size, compile_unet=args.compile)
    if args.self_test:
        with open(args.self_test, "rb") as f:
            jpeg = f.read()
        for _ in range(2):  # the first call warms up
            out, timings = model.process(jpeg, {"prompt": "oil painting", "strength": 0.5})
        with open("out.jpg", "wb") as f:
            f.write(out)
        print("wrote out.jpg", {k: round(v, 1) for k, v in timings.items()})
        pair = model.process_batch([(jpeg, {"prompt": "oil painting", "strength": 0.5}, {}),
                                    (jpeg, {"prompt": "watercolour", "strength": 0.5}, {})])
        for out in pair:
            if isinstance(out, Exception):
                raise out
        print("batch of 2:", {k: round(v, 1) for k, v in pair[0][1].items()})
        return 0
    if not args.token:
        p.error("--token (or DREAMSTREAM_WORKER_TOKEN) is required")
    print("diffusers_worker: %s on %s, serving %s (slots %d, max batch %d)"
          % (args.model, model.device, args.server, args.slots, args.max_batch))
    try:
        dreamstream.run_worker(args.server, args.token, model.process, name=args.name,
                               backend="sd-turbo", process_batch=model.process_batch,
                               slots=args.slots, max_batch=args.max_batch)
    except dreamstream.AuthenticationError as e:
        print("diffusers_worker: %s" % e, file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
