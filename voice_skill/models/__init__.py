"""Models: which speech models there are and where (manifest), getting and checking one
(download), and the `voice-skill models` command (command). Exposes nothing here."""
