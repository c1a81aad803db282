"""Front: the commands a person or service runs (cli, live, serve, replay, devices, service
setup, the pytest plugin); each wires the stages through voice_skill.session. Exposes nothing here."""
