"""Natural speech from Debian's Asterisk prompt packages (16 kHz G.722), decoded in place.

Nothing of the audio is copied into the repository: the packages are installed by the training /
evaluation commands, decoded on the fly, and identified in receipts by a SHA-256 over file names
and bytes. Speakers are voices, not languages (the es-MX set is read by the en-US voice).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError


SAMPLE_RATE = 16000
SOUNDS = Path(os.environ.get("NPIN_ASTERISK_SOUNDS", "/usr/share/asterisk/sounds"))


@dataclass(frozen=True)
class Voice:
    speaker: str
    folder: str       # under /usr/share/asterisk/sounds
    package: str      # the Debian package that installs it
    license: str


VOICES = (
    Voice("allison", "en_US_f_Allison", "asterisk-core-sounds-en-g722", "CC-BY-SA-3.0 (Allison Smith)"),
    Voice("allison", "es_MX_f_Allison", "asterisk-core-sounds-es-g722", "CC-BY-SA-3.0 (Allison Smith)"),
    Voice("june", "fr_CA_f_June", "asterisk-core-sounds-fr-g722", "CC-BY-SA-3.0 (June Wallack)"),
    Voice("carlo", "it_IT_m_Carlo", "asterisk-core-sounds-it-g722", "CC-BY-3.0 (Carlo Flora)"),
    Voice("irina", "ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-g722", "CC-BY-3.0 (Maxim Topal, IVR voice)"),
)
TRAIN_SPEAKERS = ("allison", "june", "carlo")   # each gets its own FiLM
UNSEEN_SPEAKERS = ("irina",)                     # never trained on: evaluated with the mean FiLM
EVAL_EVERY = 10                                  # ~1 in 10 prompts of a trained voice is held out


@dataclass(frozen=True)
class Utterance:
    speaker: str
    path: Path
    split: str        # train | test | unseen

    @property
    def name(self) -> str:
        """Unique: the path under the sounds folder, e.g. fr_CA_f_June/dictate/pause.g722."""
        return self.path.relative_to(SOUNDS).as_posix()


def _split_key(path: Path) -> str:
    """What decides held-out: the containing folder's name and the file name (for a prompt in a
    voice's top folder that is the voice; in a subfolder, e.g. dictate/pause.g722, every voice's
    copy of that prompt is held out together)."""
    return f"{path.parent.name}/{path.name}"


def missing_packages(voices=VOICES) -> list[str]:
    return sorted({v.package for v in voices if not (SOUNDS / v.folder).is_dir()})


def install(voices=VOICES) -> None:
    """apt-get the prompt packages that are not there yet (idempotent; needs root and the Debian mirror)."""
    need = missing_packages(voices)
    if not need:
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ConfigError(f"speech packages missing: {' '.join(need)}",
                          f"install them as root: apt-get install {' '.join(need)}")
    r = subprocess.run([apt, "install", "-y", "-q", *need], capture_output=True, text=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if r.returncode != 0:
        raise ConfigError(f"apt-get install {' '.join(need)} failed: {r.stderr.strip().splitlines()[-1:]}",
                          "check the Debian mirror, then run the command again")


def _held_out(path: Path) -> bool:
    return hashlib.sha256(_split_key(path).encode()).digest()[0] % EVAL_EVERY == 0


def utterances(voices=VOICES) -> list[Utterance]:
    missing = missing_packages(voices)
    if missing:
        raise ConfigError(f"speech packages missing: {' '.join(missing)}", "run `npin vocoder data` (installs them)")
    out = []
    for v in voices:
        for p in sorted((SOUNDS / v.folder).rglob("*.g722")):
            split = "unseen" if v.speaker in UNSEEN_SPEAKERS else ("test" if _held_out(p) else "train")
            out.append(Utterance(v.speaker, p, split))
    return out


def decode(path: Path) -> np.ndarray:
    """G.722 at 64 kbit/s -> int16 PCM at 16 kHz."""
    import G722

    return np.asarray(G722.G722(SAMPLE_RATE, 64000).decode(Path(path).read_bytes()), dtype=np.int16)


def load(utts, min_seconds: float = 0.0) -> list[tuple[Utterance, np.ndarray]]:
    """Decoded audio as float in [-1, 1), skipping prompts shorter than min_seconds."""
    out = []
    for u in utts:
        x = decode(u.path).astype(np.float32) / 32768.0
        if len(x) >= min_seconds * SAMPLE_RATE:
            out.append((u, x))
    return out


def digest(utts) -> dict[str, dict]:
    """Per split: file count, seconds and a SHA-256 over (name, bytes) of every file, in name order."""
    res: dict[str, dict] = {}
    for split in sorted({u.split for u in utts}):
        h = hashlib.sha256()
        n, samples = 0, 0
        for u in sorted((u for u in utts if u.split == split), key=lambda u: u.name):
            data = u.path.read_bytes()
            h.update(u.name.encode() + b"\0" + hashlib.sha256(data).digest())
            n += 1
            samples += 2 * len(data)  # G.722: two samples per byte
        res[split] = {"files": n, "seconds": round(samples / SAMPLE_RATE, 1), "sha256": h.hexdigest()}
    return res
