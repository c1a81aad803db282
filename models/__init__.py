"""Speech-model manifest shipped as package data (`voice_skill.models_manifest`)."""
