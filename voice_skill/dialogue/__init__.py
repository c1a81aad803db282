"""Dialogue: the guide itself, from a heard sentence to the next reply (the dialogue file,
intents and their meaning, the state machine, its checks and diagram). Exposes nothing here:
import the module you need."""
