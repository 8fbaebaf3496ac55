"""Machine unlearning on any zoo classifier / regressor or ``nn.Module``: splits, methods, evaluation against retrain.

    >>> from zoo.unlearning import make_split, method_names, unlearn
"""

from zoo.unlearning.api import compare_methods, method_names, retrained_reference, run_method, unlearn
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.evaluate import evaluate
from zoo.unlearning.splits import ForgetSpec, Split, make_split

__all__ = ["ForgetSpec", "Split", "UnlearningData", "compare_methods", "evaluate", "make_split", "method_names", "retrained_reference", "run_method", "unlearn"]
