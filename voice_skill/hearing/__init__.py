"""Hearing: microphone or WAV audio to what was said, in turns (audio, endpointing, echo
cancelling, the turn judge, the recognizers). Exposes nothing here: import the module you need;
engines (vosk, pocketsphinx, Whisper) are imported only when chosen."""
