"""Every registered unlearning method: importing this package fills :data:`zoo.unlearning.base.METHODS`."""

from zoo.unlearning.methods import baselines, blindspot, fisher, l1_sparse, ssd  # noqa: F401
