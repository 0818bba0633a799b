"""After training: export the ONNX, evaluate it, and write the receipt that travels with it
(data hashes, configuration, training history, metrics, the ONNX's SHA-256)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .chain import MODEL_PATH
from .corpus import digest, utterances
from .export import to_onnx
from .model import VocoderConfig


def finish_training(work: Path, cfg: VocoderConfig, stages: list[dict], out: Path | None, per_speaker: int,
                    command: str = "npin vocoder train") -> Path:
    """`stages`: the train() metadata of each training run that led to work/weights.npz, in order."""
    import onnx

    from .evaluate import evaluate, write_report

    out = out or MODEL_PATH
    weights = dict(np.load(work / "weights.npz"))
    model = to_onnx(weights, cfg, cfg.speakers[0])
    res = evaluate(model, per_speaker, wav_dir=work / "eval" / "wav")
    write_report(res, work / "eval")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)
    receipt = {
        "onnx": out.name, "onnx_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "data": digest(utterances()), "mel": stages[-1]["mel"], "model": cfg.as_dict(),
        "command": command,
        "training": [{"train": m["train"], "device": m["device"], "torch": m["torch"], "threads": m.get("threads"),
                      "seconds": m["seconds"], "frames": m.get("frames"),
                      "loss_history": [{k: h[k] for k in ("phase", "step", "loss", "l1", "sc")} for h in m["history"]]}
                     for m in stages],
        "metrics": res["summary"], "cost": res["cost"], "verdict": res["verdict"], "phase": res["phase"],
        "speed": res["speed"],
        "griffin_lim_iterations": res["griffin_lim_iterations"], "eval_per_speaker": per_speaker,
        "licenses": "trained on Asterisk prompts: CC-BY-SA-3.0 (Allison Smith, June Wallack), CC-BY-3.0 (Carlo Flora)",
    }
    out.with_suffix(".receipt.json").write_text(json.dumps(receipt, indent=1) + "\n")
    return out
