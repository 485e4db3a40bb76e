"""Speech test audio made at test time (espeak-ng), so no WAV files are committed."""
