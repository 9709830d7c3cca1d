"""Generators: narration (TTS), pictures, subtitles, frames, encoding and asset fetching."""
