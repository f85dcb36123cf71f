"""Training stability: the divergence detector, the gate's release policy and the Trainer's training report.

One module per idea:

* `detector`: `detect_divergence` (full divergence, micro-divergence, the outcome of a curve) and `online_spike`.
* `gate`: the release policy the StabilityGate and the stability lab share (`gate_verdict`, `judge_report`).
* `report`: `TrainingReport`, the `training_report.json` the Trainer writes and the gate reads.
* `numbers`: finite tests and the strict-JSON encoding of curves.
* `files`: atomic text writes (and reads) on local and remote filesystems.

The names below are the package's public interface; import them from `models.stability`.
"""

from models.stability.detector import DivergenceReport, SpikeEvent, detect_divergence, online_spike
from models.stability.files import read_text, write_text
from models.stability.gate import gate_verdict, judge_report
from models.stability.numbers import is_finite_loss, json_safe
from models.stability.report import TRAINING_REPORT_FILE, TrainingReport, training_report_path

__all__ = [
    "TRAINING_REPORT_FILE",
    "DivergenceReport",
    "SpikeEvent",
    "TrainingReport",
    "detect_divergence",
    "gate_verdict",
    "is_finite_loss",
    "judge_report",
    "json_safe",
    "online_spike",
    "read_text",
    "training_report_path",
    "write_text",
]
