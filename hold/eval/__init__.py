"""Evaluation: HOLD's metrics under a pinned protocol, and input-only baselines
(docs/EVALUATION.md)."""

from hold.eval.baselines import write_baselines
from hold.eval.protocol import evaluate, evaluate_hold_exact, evaluate_many, evaluate_result, format_table

__all__ = ["evaluate", "evaluate_hold_exact", "evaluate_many", "evaluate_result", "format_table",
           "write_baselines"]
