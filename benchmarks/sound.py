"""Speech as mp3: the rate mediaprep picks against what mp3 can reach, by wideband PESQ (ITU P.862.2).

    bash benchmarks/setup.sh            # once: espeak-ng, and the pesq package
    .venv/bin/python benchmarks/sound.py [--profile sinch]

Three espeak-ng voices (English male and female, German), about 15 s each. Two tables:

1. Lossless sources at the sample rates phones and phone systems record (8 kHz voicemail to
   44.1 kHz): each made into mono mp3 at every rate from 16 to 128 kbit/s (the sample rate as
   mediaprep chooses it), then the lowest rate within 0.1 of the best PESQ any rate reached, and the
   rate and PESQ of what mediaprep sends for the profile.
2. Lossy sources (Opus 12-48 kbit/s as WhatsApp and Telegram send voice notes, AAC as phone
   recorders save, Vorbis, mp3, AMR-NB as older Android phones record): the source's own PESQ
   against the clean speech, and that of mediaprep's mp3 for the profile.

PESQ compares each sound with the clean speech, both at 16 kHz. It is a speech measure: it says
nothing of music, and espeak-ng speech is not a human voice, so the figures are for choosing
rates, not for quoting as MOS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediaprep import Settings, convert, inspect
from mediaprep.converters.sound import MP3_KBPS, MP3_RATES
from mediaprep.tools import find_ffmpeg, wheel_ffmpeg

VOICES = {
    "en": ("en-us", ("Hi, this is Jane from the clinic. Your appointment is confirmed for Tuesday at "
                     "nine thirty in the morning. Please bring your insurance card and arrive ten minutes "
                     "early. Call us back if you need to reschedule. Thank you, and have a lovely day.")),
    "en-f": ("en+f3", ("Good afternoon. This is a reminder from Riverside Dental that your cleaning is "
                       "booked for Friday the twelfth at two fifteen. Reply yes to confirm, or call the "
                       "front desk to pick another time. We look forward to seeing you.")),
    "de": ("de", ("Guten Tag, hier ist die Praxis Doktor Weber. Ihr Termin am Montag um zehn Uhr wurde "
                  "verschoben. Bitte rufen Sie uns zurück, damit wir einen neuen Termin finden.")),
}
SAMPLE_RATES = (8000, 11025, 16000, 22050, 32000, 44100)
LOSSY = [
    *((f"opus {k}k", ["-ar", "48000", "-c:a", "libopus", "-b:a", f"{k}k", "-f", "ogg"])
      for k in (12, 16, 24, 32, 48)),
    *((f"aac {k}k", ["-c:a", "aac", "-b:a", f"{k}k", "-f", "ipod"]) for k in (24, 48, 96)),
    *((f"vorbis q{q}", ["-c:a", "libvorbis", "-q:a", str(q), "-f", "ogg"]) for q in (0, 4)),
    *((f"mp3 {k}k", ["-c:a", "libmp3lame", "-b:a", f"{k}k", "-f", "mp3"]) for k in (32, 48)),
    # Older voice apps' Speex (Ogg .spx), narrowband and wideband; Debian's ffmpeg has the encoder.
    *((f"speex{band} {k}", ["-ar", str(r), "-ac", "1", "-c:a", "libspeex", "-b:a", k, "-f", "ogg"])
      for band, r, k in (("nb", 8000, "15k"), ("wb", 16000, "16k"), ("wb", 16000, "28k"))),
    # Voicemail systems' GSM 06.10 in WAV (Asterisk's wav49); Debian's ffmpeg has the encoder.
    ("gsm wav", ["-ar", "8000", "-ac", "1", "-c:a", "libgsm_ms", "-f", "wav"]),
    # Android's voice notes; Debian's ffmpeg has no AMR-NB encoder, the imageio-ffmpeg wheel's has.
    *((f"amr {k}k", ["-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb", "-b:a", f"{k}k", "-f", "amr"])
      for k in ("7.95", "12.2")),
]


def ffmpeg(*args: str) -> None:
    tool = wheel_ffmpeg() if "libopencore_amrnb" in args else find_ffmpeg(Settings())
    subprocess.run([tool, "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120)


def samples(path: Path) -> np.ndarray:
    argv = [find_ffmpeg(Settings()), "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000",
            "-f", "f32le", "-"]
    pcm = subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(pcm, np.float32)


def pesq_of(clean: np.ndarray, path: Path) -> float:
    from pesq import pesq

    heard = samples(path)
    n = min(len(clean), len(heard))
    return float(pesq(16000, clean[:n], heard[:n], "wb"))


def mediaprep_mp3(src: Path, profile: str, out: Path) -> str:
    """What mediaprep sends, written to ``out``: its mp3 rate, or "copied" where it was not re-encoded."""
    result = convert(src, profile=profile)
    out.write_bytes(result.data)
    said = next((n for n in result.notes if n.startswith("mp3 mono")), None)
    return f"{said.split()[2]} k" if said else "copied"


def lossless(tmp: Path, speech: dict[str, Path], profile: str) -> None:
    print(f"\n1. lossless speech as mp3 (profile {profile}): the rate within 0.1 of the best PESQ,"
          " and mediaprep's pick")
    print(f"  {'rate':>6} {'voice':5} {'within 0.1':>10} {'best':>5}   {'mediaprep':>9} {'PESQ':>5}")
    for rate in SAMPLE_RATES:
        for voice, wav in speech.items():
            src = tmp / f"{voice}-{rate}.wav"
            ffmpeg("-i", str(wav), "-ar", str(rate), "-c:a", "pcm_s16le", str(src))
            clean = samples(src)
            scores = {}
            for kbps in MP3_KBPS[1:]:
                out_rate = 16000 if kbps <= 24 else (22050 if kbps <= 48 else 44100)
                out_rate = min(out_rate, next((r for r in MP3_RATES if r >= rate), out_rate))
                mp3 = tmp / "ladder.mp3"
                ffmpeg("-i", str(src), "-ac", "1", "-ar", str(out_rate), "-c:a", "libmp3lame",
                       "-b:a", f"{kbps}k", str(mp3))
                scores[kbps] = pesq_of(clean, mp3)
            best = max(scores.values())
            enough = next(k for k, v in scores.items() if v >= best - 0.1)
            sent = mediaprep_mp3(src, profile, tmp / "ours.mp3")
            ours = pesq_of(clean, tmp / "ours.mp3")
            print(f"  {rate:>6} {voice:5} {enough:>7} k  {best:5.2f}   {sent:>9} {ours:5.2f}")


def lossy(tmp: Path, speech: dict[str, Path], profile: str) -> None:
    print(f"\n2. lossy sources as mp3 (profile {profile}): PESQ against the clean speech")
    print(f"  {'source':11} {'voice':5} {'kbit/s':>6} {'PESQ':>5}   {'mediaprep':>9} {'PESQ':>5} {'loss':>5}")
    losses = []
    for name, args in LOSSY:
        for voice, wav in speech.items():
            clean = samples(wav)
            src = tmp / f"{voice}-{name.replace(' ', '-')}"
            ffmpeg("-i", str(wav), *args, str(src))
            own = pesq_of(clean, src)
            source_kbps = os.path.getsize(src) * 8 / (inspect(src).media.duration or 1) / 1000
            sent = mediaprep_mp3(src, profile, tmp / "ours.mp3")
            ours = pesq_of(clean, tmp / "ours.mp3")
            losses.append(own - ours)
            print(f"  {name:11} {voice:5} {source_kbps:6.1f} {own:5.2f}   {sent:>9} {ours:5.2f}"
                  f" {own - ours:5.2f}")
    print(f"  PESQ lost in re-encoding: median {statistics.median(losses):.2f}, most {max(losses):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="sinch",
                        help="a profile whose audio target is mp3 (default: sinch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediaprep-sound-") as tmp_dir:
        tmp = Path(tmp_dir)
        speech = {}
        for voice, (espeak_voice, text) in VOICES.items():
            speech[voice] = tmp / f"{voice}.wav"
            subprocess.run(["espeak-ng", "-v", espeak_voice, "-s", "150", "-w", str(speech[voice]), text],
                           check=True, timeout=60)
        lossless(tmp, speech, args.profile)
        lossy(tmp, speech, args.profile)


if __name__ == "__main__":
    main()
