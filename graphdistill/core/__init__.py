"""The modality-free core: synthetic sets, matching objectives, per-class gradients, the bilevel loop,
infinite-width kernels and KRR, seeding, checkpoints, configs."""
from graphdistill.core.checkpoint import load_checkpoint, save_checkpoint
from graphdistill.core.errors import InputError
from graphdistill.core.gradients import weighted_nll_gradients
from graphdistill.core.kernels import krr_fit, krr_predict, relu_kernels
from graphdistill.core.coreset import herding, kcenter
from graphdistill.core.loop import BilevelSchedule, ClosedFormInner, LoopResult, MatchingProblem, WithoutInnerTraining, run_bilevel
from graphdistill.core.method import Condensed, Method, RunOptions, data_digest
from graphdistill.core.matching import batched_gradient_distance, distribution_distance, gradient_distance
from graphdistill.core.registry import Registry
from graphdistill.core.seed import rng_state, seed_everything, set_rng_state
from graphdistill.core.synthetic import SyntheticSet, contiguous_class_slices, sample_per_class

__all__ = [
    "batched_gradient_distance", "BilevelSchedule", "ClosedFormInner", "Condensed", "data_digest", "Method", "contiguous_class_slices", "distribution_distance",
    "gradient_distance", "herding", "InputError", "kcenter", "krr_fit", "krr_predict", "load_checkpoint", "LoopResult",
    "MatchingProblem", "Registry", "relu_kernels", "rng_state", "run_bilevel", "RunOptions", "sample_per_class",
    "save_checkpoint", "seed_everything", "set_rng_state", "SyntheticSet", "weighted_nll_gradients", "WithoutInnerTraining",
]
