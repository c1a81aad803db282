"""`python -m voice_skill` is the `voice-skill` command."""

from voice_skill.front.cli import main

raise SystemExit(main())
