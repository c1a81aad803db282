"""The small TensorFlow Lite networks the skill runs (the trained wake word, the keyword judge),
both through Google's `ai-edge-litert`: made the same way, and each optional, so one that
cannot be used is said in one line and the skill goes on without it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from voice_skill.errors import ModelError

T = TypeVar("T")


def interpreter(model: bytes) -> Any:
    """A one-thread interpreter for a .tflite model, without the XNNPACK delegate: the same
    outputs as the reference implementations (pymicro-wakeword, openWakeWord), and no log line."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_content=model, num_threads=1,
                       experimental_op_resolver_type=(
                           OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))


def loaded_or_off(make: Callable[[], T], announce: Callable[[str], None], off: str,
                  instead: str) -> T | None:
    """`make()`, or None when its files or libraries cannot be used, said in one line:
    "<off>: <why>. <instead>" (what the skill does without it)."""
    try:
        return make()
    except ModelError as exc:
        announce(f"{off}: {exc}. {instead}")
    except (ImportError, ValueError, RuntimeError) as exc:
        announce(f"{off}: its model does not load ({type(exc).__name__}: {exc}). {instead}")
    return None
