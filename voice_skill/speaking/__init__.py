"""Speaking: the reply out loud (pyttsx3 + espeak-ng in a child process, or to a WAV for tests).
Exposes nothing here: import voice_skill.speaking.tts."""
