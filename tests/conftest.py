import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

#: Every twin is tested on the CPU, and on CUDA when there is a GPU.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def solution_ns(request):
    """The learner functions of the module's solution notebook (its ``SOLUTION``)."""
    from test_grading import solution_namespace

    return solution_namespace(request.module.SOLUTION)
