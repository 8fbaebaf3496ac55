"""The project's epoch-seeded samplers: one order per (seed, epoch), and the skip a mid-epoch resume asks for."""

from zoo.data.acdc import TripleShuffleSampler
from zoo.data.samplers import SeededShuffleSampler


def test_skip_next_leaves_out_the_first_items_of_the_next_iteration_only():
    for sampler in (SeededShuffleSampler(7, seed=3), TripleShuffleSampler((7, 3, 2), seed=3)):
        sampler.set_epoch(2)
        full = list(sampler)
        assert list(sampler) == full and len(full) == len(sampler) == 7
        sampler.skip_next(3)
        assert list(sampler) == full[3:]
        assert list(sampler) == full  # the skip was for one iteration
        sampler.set_epoch(3)
        assert list(sampler) != full
